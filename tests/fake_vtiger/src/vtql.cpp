#include "fake_vtiger/vtql.hpp"

#include <cctype>
#include <charconv>

namespace vtsync::fake {

namespace {

const char* const k_internal_message = "Unknown Error while processing request";
const char* const k_database_message = "Database error while performing requested operation";

enum class tok {
  word,
  number,
  quoted,
  asterisk,
  comma,
  paren_open,
  paren_close,
  semicolon,
  eq,
  ne,
  lt,
  gt,
  le,
  ge,
  end
};

struct token {
  tok type = tok::end;
  std::string text;   // as written (for messages)
  std::string value;  // unescaped (quoted)
};

struct lex_failure {
  bool database = false;
};

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// MySQL's backslash escapes (sql_mode without NO_BACKSLASH_ESCAPES). \% and \_ keep their backslash so
// LIKE still sees a literal wildcard.
char mysql_unescape(char c, bool& keep_backslash) {
  keep_backslash = false;
  switch (c) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case 'b':
      return '\b';
    case '0':
      return '\0';
    case 'Z':
      return '\x1a';
    case '%':
    case '_':
      keep_backslash = true;
      return c;
    default:
      return c;
  }
}

std::variant<std::vector<token>, lex_failure> lex(std::string_view q) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    token t;
    if (c == '\'') {
      std::size_t j = i + 1;
      std::string value;
      bool closed = false;
      bool escaped_quote = false;
      while (j < q.size()) {
        if (q[j] == '\\' && j + 1 < q.size()) {
          bool keep = false;
          const char u = mysql_unescape(q[j + 1], keep);
          if (q[j + 1] == '\'') escaped_quote = true;
          if (keep) value.push_back('\\');
          value.push_back(u);
          j += 2;
          continue;
        }
        if (q[j] == '\'') {
          if (j + 1 < q.size() && q[j + 1] == '\'') {
            value.push_back('\'');
            j += 2;
            continue;
          }
          closed = true;
          break;
        }
        value.push_back(q[j]);
        ++j;
      }
      // '' (nothing between the quotes) is not a token for Vtiger's lexer.
      if (!closed) return lex_failure{escaped_quote};
      if (j == i + 1) return lex_failure{false};
      t.type = tok::quoted;
      t.text = std::string(q.substr(i, j + 1 - i));
      t.value = std::move(value);
      i = j + 1;
      out.push_back(std::move(t));
      continue;
    }
    if ((c == '+' || c == '-') && i + 1 < q.size() && std::isdigit(static_cast<unsigned char>(q[i + 1]))) {
      std::size_t j = i + 1;
      while (j < q.size() && std::isdigit(static_cast<unsigned char>(q[j]))) ++j;
      if (j < q.size() && is_word_char(q[j])) return lex_failure{};
      t.type = tok::number;
      t.text = std::string(q.substr(i, j - i));
      i = j;
      out.push_back(std::move(t));
      continue;
    }
    if (is_word_char(c)) {
      std::size_t j = i;
      bool digits = true;
      while (j < q.size() && is_word_char(q[j])) {
        if (!std::isdigit(static_cast<unsigned char>(q[j]))) digits = false;
        ++j;
      }
      if (j < q.size() && q[j] == '.') return lex_failure{};  // unquoted decimals do not lex
      t.type = digits ? tok::number : tok::word;
      t.text = std::string(q.substr(i, j - i));
      i = j;
      out.push_back(std::move(t));
      continue;
    }
    std::size_t len = 1;
    switch (c) {
      case '*':
        t.type = tok::asterisk;
        break;
      case ',':
        t.type = tok::comma;
        break;
      case '(':
        t.type = tok::paren_open;
        break;
      case ')':
        t.type = tok::paren_close;
        break;
      case ';':
        t.type = tok::semicolon;
        break;
      case '=':
        t.type = tok::eq;
        break;
      case '<':
        if (i + 1 < q.size() && q[i + 1] == '=') {
          t.type = tok::le;
          len = 2;
        } else {
          t.type = tok::lt;
        }
        break;
      case '>':
        if (i + 1 < q.size() && q[i + 1] == '=') {
          t.type = tok::ge;
          len = 2;
        } else {
          t.type = tok::gt;
        }
        break;
      case '!':
        if (i + 1 < q.size() && q[i + 1] == '=') {
          t.type = tok::ne;
          len = 2;
          break;
        }
        return lex_failure{};
      default:
        return lex_failure{};  // ", ., %, @ ... are not VTQL tokens
    }
    t.text = std::string(q.substr(i, len));
    i += len;
    out.push_back(std::move(t));
  }
  return out;
}

bool keyword_is(const token& t, std::string_view kw) {
  if (t.type != tok::word || t.text.size() != kw.size()) return false;
  for (std::size_t i = 0; i < kw.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(t.text[i])) != kw[i]) return false;
  }
  return true;
}

bool is_keyword(const token& t) {
  static const char* const kws[] = {"SELECT", "FROM", "WHERE", "AND",  "OR",    "IN",   "LIKE",
                                    "ORDER",  "BY",   "ASC",   "DESC", "LIMIT", "COUNT"};
  for (const char* kw : kws) {
    if (keyword_is(t, kw)) return true;
  }
  return false;
}

class parser {
 public:
  explicit parser(std::vector<token> tokens) : toks_(std::move(tokens)) {}

  std::variant<vtql_query, vtql_error> run() {
    vtql_query q;
    if (!expect_keyword("SELECT", "SELECT")) return err_;
    if (at().type == tok::asterisk) {
      ++pos_;
      q.select = vtql_query::select_kind::star;
    } else if (keyword_is(at(), "COUNT")) {
      ++pos_;
      if (!expect(tok::paren_open, "PARENOPEN") || !expect(tok::asterisk, "ASTERISK") ||
          !expect(tok::paren_close, "PARENCLOSE")) {
        return err_;
      }
      q.select = vtql_query::select_kind::count;
    } else {
      q.select = vtql_query::select_kind::columns;
      for (;;) {
        if (!column_name(q.columns, "COLUMNNAME")) return err_;
        if (at().type != tok::comma) break;
        ++pos_;
      }
    }
    if (!expect_keyword("FROM", "FROM")) return err_;
    if (at().type != tok::word || is_keyword(at())) return fail("TABLENAME");
    q.module = at().text;
    ++pos_;
    if (keyword_is(at(), "WHERE")) {
      ++pos_;
      q.where.emplace_back();
      for (;;) {
        vtql_predicate p;
        if (!predicate(p)) return err_;
        q.where.back().push_back(std::move(p));
        if (keyword_is(at(), "AND")) {
          ++pos_;
        } else if (keyword_is(at(), "OR")) {
          ++pos_;
          q.where.emplace_back();
        } else {
          break;
        }
      }
    }
    if (keyword_is(at(), "ORDER")) {
      ++pos_;
      if (!expect_keyword("BY", "BY")) return err_;
      for (;;) {
        if (!column_name(q.order_by, "COLUMNNAME")) return err_;
        if (at().type != tok::comma) break;
        ++pos_;
      }
      if (keyword_is(at(), "ASC")) {
        ++pos_;
      } else if (keyword_is(at(), "DESC")) {
        ++pos_;
        q.order_desc = true;
      }
    }
    if (keyword_is(at(), "LIMIT")) {
      ++pos_;
      long long first = 0;
      if (!number(first)) return err_;
      if (at().type == tok::comma) {
        ++pos_;
        long long second = 0;
        if (!number(second)) return err_;
        q.offset = first;
        q.limit = second;
      } else {
        q.limit = first;
      }
      // The real server hands a negative LIMIT or OFFSET to MySQL, which rejects it.
      if (q.limit < 0 || q.offset < 0) return vtql_error{"DATABASE_QUERY_ERROR", k_database_message};
      if (q.limit > 100) q.limit = 100;
    }
    if (!expect(tok::semicolon, "SEMICOLON")) return err_;
    if (at().type != tok::end) return fail("End of Input");
    return q;
  }

 private:
  const token& at() const { return pos_ < toks_.size() ? toks_[pos_] : end_; }

  static std::string token_name(const token& t) {
    switch (t.type) {
      case tok::word:
        return is_keyword(t) ? upper(t.text) : "VALUE";
      case tok::number:
      case tok::quoted:
        return "VALUE";
      case tok::asterisk:
        return "ASTERISK";
      case tok::comma:
        return "COMMA";
      case tok::paren_open:
        return "PARENOPEN";
      case tok::paren_close:
        return "PARENCLOSE";
      case tok::semicolon:
        return "SEMICOLON";
      case tok::eq:
        return "EQ";
      case tok::ne:
        return "NE";
      case tok::lt:
        return "LT";
      case tok::gt:
        return "GT";
      case tok::le:
        return "LTE";
      case tok::ge:
        return "GTE";
      case tok::end:
        return "End of Input";
    }
    return "VALUE";
  }

  static std::string upper(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  }

  // Message in the style Vtiger's lemon parser writes: the offending token (or, at the end, the last
  // one), its token name and value, and what was expected.
  std::variant<vtql_query, vtql_error> fail(std::string expected) {
    const token& t = at();
    std::string shown;
    std::string unexpected;
    if (t.type == tok::end) {
      shown = pos_ > 0 ? toks_[pos_ - 1].text : "";
      unexpected = "End of Input(0)";
    } else {
      shown = t.text;
      unexpected = token_name(t) + "(" + t.text + ")";
      // A parenthesis in WHERE: the real parser reports it against the statement's end (98b).
      if (t.type == tok::paren_open) expected = "SEMICOLON";
    }
    err_ = vtql_error{"QUERY_SYNTAX_ERROR", "Syntax Error on line 1: token '" + shown + "' Unexpected " +
                                                unexpected + ", expected one of: " + expected};
    return err_;
  }

  bool expect(tok type, const char* name) {
    if (at().type != type) {
      fail(name);
      return false;
    }
    ++pos_;
    return true;
  }

  bool expect_keyword(const char* kw, const char* name) {
    if (!keyword_is(at(), kw)) {
      fail(name);
      return false;
    }
    ++pos_;
    return true;
  }

  bool column_name(std::vector<std::string>& out, const char* name) {
    if (at().type != tok::word || is_keyword(at())) {
      fail(name);
      return false;
    }
    out.push_back(at().text);
    ++pos_;
    return true;
  }

  bool number(long long& out) {
    if (at().type != tok::number) {
      fail("VALUE");
      return false;
    }
    const std::string& s = at().text;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
    if (ec != std::errc{}) out = 0;
    ++pos_;
    return true;
  }

  bool value(std::vector<vtql_value>& out) {
    const token& t = at();
    vtql_value v;
    if (t.type == tok::quoted) {
      v.type = vtql_value::kind::quoted;
      v.text = t.value;
    } else if (t.type == tok::number) {
      v.type = vtql_value::kind::number;
      v.text = t.text;
    } else if (t.type == tok::word && !is_keyword(t)) {
      v.type = vtql_value::kind::word;
      v.text = t.text;
    } else {
      fail("VALUE");
      return false;
    }
    out.push_back(std::move(v));
    ++pos_;
    return true;
  }

  bool predicate(vtql_predicate& p) {
    std::vector<std::string> name;
    if (!column_name(name, "COLUMNNAME")) return false;
    p.field = name.front();
    const token& t = at();
    switch (t.type) {
      case tok::eq:
        p.op = vtql_op::eq;
        break;
      case tok::ne:
        p.op = vtql_op::ne;
        break;
      case tok::lt:
        p.op = vtql_op::lt;
        break;
      case tok::gt:
        p.op = vtql_op::gt;
        break;
      case tok::le:
        p.op = vtql_op::le;
        break;
      case tok::ge:
        p.op = vtql_op::ge;
        break;
      default:
        if (keyword_is(t, "LIKE")) {
          p.op = vtql_op::like;
        } else if (keyword_is(t, "IN")) {
          p.op = vtql_op::in;
        } else {
          fail("EQ, LT, GT, LTE, GTE, NE, LIKE, IN");
          return false;
        }
    }
    ++pos_;
    if (p.op != vtql_op::in) return value(p.values);
    if (!expect(tok::paren_open, "PARENOPEN")) return false;
    for (;;) {
      if (!value(p.values)) return false;
      if (at().type != tok::comma) break;
      ++pos_;
    }
    return expect(tok::paren_close, "PARENCLOSE");
  }

  std::vector<token> toks_;
  std::size_t pos_ = 0;
  token end_{};
  vtql_error err_;
};

}  // namespace

std::optional<std::string> vtql_detect_module(std::string_view q) {
  for (std::size_t i = 0; i + 4 < q.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(q[i])) != 'f' ||
        std::tolower(static_cast<unsigned char>(q[i + 1])) != 'r' ||
        std::tolower(static_cast<unsigned char>(q[i + 2])) != 'o' ||
        std::tolower(static_cast<unsigned char>(q[i + 3])) != 'm') {
      continue;
    }
    std::size_t j = i + 4;
    if (j >= q.size() || !std::isspace(static_cast<unsigned char>(q[j]))) continue;
    while (j < q.size() && std::isspace(static_cast<unsigned char>(q[j]))) ++j;
    std::size_t k = j;
    while (k < q.size() && is_word_char(q[k])) ++k;
    if (k > j) return std::string(q.substr(j, k - j));
    return std::nullopt;  // the first "from " decides, as in Vtiger
  }
  return std::nullopt;
}

std::variant<vtql_query, vtql_error> parse_vtql(std::string_view query) {
  auto lexed = lex(query);
  if (auto* f = std::get_if<lex_failure>(&lexed)) {
    if (f->database) return vtql_error{"DATABASE_QUERY_ERROR", k_database_message};
    return vtql_error{"INTERNAL_SERVER_ERROR", k_internal_message};
  }
  parser p(std::move(std::get<std::vector<token>>(lexed)));
  return p.run();
}

}  // namespace vtsync::fake

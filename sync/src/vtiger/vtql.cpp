#include "vtsync/sync/vtiger/vtql.hpp"

#include <algorithm>
#include <cctype>
#include <array>
#include <stdexcept>

namespace vtsync::vtiger::vtql {
namespace {

std::string checked_identifier(std::string_view name) {
  if (!is_identifier(name))
    throw std::invalid_argument("not a VTQL field or module name: " + std::string(name));
  return std::string(name);
}

std::string checked_operator(std::string_view op) {
  static constexpr std::array<std::string_view, 7> ops{"=", "<", ">", "<=", ">=", "!=", "LIKE"};
  std::string upper(op);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (std::find(ops.begin(), ops.end(), upper) == ops.end()) {
    throw std::invalid_argument("not a VTQL operator: " + std::string(op));
  }
  return upper;
}

std::string column_list(const std::vector<std::string>& columns) {
  if (columns.empty()) return "*";
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out += checked_identifier(c);
  }
  return out;
}

std::vector<std::string> with_modifiedtime(std::vector<std::string> columns) {
  if (!columns.empty() && std::find(columns.begin(), columns.end(), "modifiedtime") == columns.end()) {
    columns.emplace_back("modifiedtime");
  }
  return columns;
}

std::string quoted_cursor_value(std::string_view value, std::string_view what) {
  auto q = quote_literal(value);
  if (!q) throw std::invalid_argument("empty " + std::string(what) + " in a keyset cursor");
  return *q;
}

// The positions in `text` outside quoted values where the keyword `word` (upper case, surrounded by
// spaces) starts, case-insensitively.
std::vector<std::size_t> keyword_positions(std::string_view text, std::string_view word) {
  std::vector<std::size_t> out;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '\'')
        quoted = false;
      continue;
    }
    if (c == '\'') {
      quoted = true;
      continue;
    }
    if (c != ' ' || i + word.size() + 2 > text.size() || text[i + word.size() + 1] != ' ') continue;
    bool same = true;
    for (std::size_t k = 0; k < word.size() && same; ++k)
      same = std::toupper(static_cast<unsigned char>(text[i + 1 + k])) == word[k];
    if (same) out.push_back(i);
  }
  return out;
}

// "a OR b AND c" -> {"a", "b AND c"}, trimmed.
std::vector<std::string> disjuncts(std::string_view condition) {
  std::vector<std::string> out;
  std::size_t from = 0;
  auto take = [&](std::size_t to) {
    auto part = condition.substr(from, to - from);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    out.emplace_back(part);
  };
  for (const auto at : keyword_positions(condition, "OR")) {
    take(at);
    from = at + 4;  // " OR "
  }
  take(condition.size());
  return out;
}

}  // namespace

std::string and_condition(std::string_view statement, std::string_view condition) {
  if (condition.empty()) return std::string{statement};
  if (!statement.empty() && statement.back() == ';') statement.remove_suffix(1);
  // SELECT ... FROM M [WHERE w] [ORDER BY ...] [LIMIT ...]
  std::size_t tail = statement.size();
  for (const auto* word : {"ORDER", "LIMIT"}) {
    const auto at = keyword_positions(statement, word);
    if (!at.empty()) tail = std::min(tail, at.front());
  }
  const auto where_at = keyword_positions(statement.substr(0, tail), "WHERE");
  const std::size_t head_end = where_at.empty() ? tail : where_at.front();
  std::string out{statement.substr(0, head_end)};
  out += " WHERE ";
  const auto filter = disjuncts(condition);
  if (where_at.empty()) {
    out += condition;
  } else {
    const auto own = disjuncts(statement.substr(head_end + 7, tail - head_end - 7));
    bool first = true;
    for (const auto& a : own) {
      for (const auto& b : filter) {
        if (!first) out += " OR ";
        out += a + " AND " + b;
        first = false;
      }
    }
  }
  out += statement.substr(tail);
  out += ';';
  return out;
}

std::optional<std::string> quote_literal(std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::string out;
  out.reserve(value.size() + 2);
  out += '\'';
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

bool is_identifier(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

select_query::select_query(const std::string& module, const std::vector<std::string>& columns)
    : head_("SELECT " + column_list(columns) + " FROM " + checked_identifier(module)) {}

select_query& select_query::add(std::string_view joiner, std::string_view field, std::string_view op,
                                std::string_view value) {
  std::string condition = checked_identifier(field) + " " + checked_operator(op) + " ";
  auto literal = quote_literal(value);
  if (!literal) unexpressible_ = true;
  condition += literal.value_or("''");
  where_ += where_.empty() ? std::string() : std::string(" ") + std::string(joiner) + " ";
  where_ += condition;
  return *this;
}

select_query& select_query::where(std::string_view field, std::string_view op, std::string_view value) {
  return add("AND", field, op, value);
}
select_query& select_query::and_where(std::string_view field, std::string_view op, std::string_view value) {
  return add("AND", field, op, value);
}
select_query& select_query::or_where(std::string_view field, std::string_view op, std::string_view value) {
  return add("OR", field, op, value);
}

select_query& select_query::where_in(std::string_view field, const std::vector<std::string>& values) {
  if (values.empty()) throw std::invalid_argument("VTQL IN needs at least one value");
  std::string condition = checked_identifier(field) + " IN (";
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto literal = quote_literal(values[i]);
    if (!literal) unexpressible_ = true;
    condition += (i ? ", " : "") + literal.value_or("''");
  }
  condition += ")";
  where_ += where_.empty() ? std::string() : std::string(" AND ");
  where_ += condition;
  return *this;
}

select_query& select_query::order_by(const std::vector<std::string>& fields, bool descending) {
  if (fields.empty()) throw std::invalid_argument("VTQL ORDER BY needs a field");
  tail_order_ = " ORDER BY " + column_list(fields) + (descending ? " DESC" : "");
  return *this;
}

select_query& select_query::limit(std::size_t count) {
  tail_limit_ = " LIMIT " + std::to_string(count);
  return *this;
}

select_query& select_query::limit(std::size_t offset, std::size_t count) {
  tail_limit_ = " LIMIT " + std::to_string(offset) + ", " + std::to_string(count);
  return *this;
}

std::optional<std::string> select_query::str() const {
  if (unexpressible_) return std::nullopt;
  return head_ + (where_.empty() ? "" : " WHERE " + where_) + tail_order_ + tail_limit_ + ";";
}

std::string modified_page(std::string_view module, const std::vector<std::string>& columns,
                          const std::optional<modified_cursor>& after, std::size_t limit) {
  std::string q = "SELECT " + column_list(with_modifiedtime(columns)) + " FROM " + checked_identifier(module);
  if (after) {
    const auto t = quoted_cursor_value(after->modifiedtime, "modifiedtime");
    // No parentheses in VTQL; AND binds tighter than OR, which is what the keyset condition needs (§12.4).
    q += " WHERE modifiedtime > " + t + " OR modifiedtime = " + t + " AND id > " +
         quoted_cursor_value(after->id, "id");
  }
  return q + " ORDER BY modifiedtime, id LIMIT " + std::to_string(limit) + ";";
}

std::string modified_since_page(std::string_view module, const std::vector<std::string>& columns,
                                std::string_view since, std::size_t limit) {
  return "SELECT " + column_list(with_modifiedtime(columns)) + " FROM " + checked_identifier(module) +
         " WHERE modifiedtime >= " + quoted_cursor_value(since, "since time") +
         " ORDER BY modifiedtime, id LIMIT " + std::to_string(limit) + ";";
}

std::string id_page(std::string_view module, const std::vector<std::string>& columns,
                    const std::optional<std::string>& after_id, std::size_t limit) {
  std::string q = "SELECT " + column_list(columns) + " FROM " + checked_identifier(module);
  if (after_id) q += " WHERE id > " + quoted_cursor_value(*after_id, "id");
  return q + " ORDER BY id LIMIT " + std::to_string(limit) + ";";
}

}  // namespace vtsync::vtiger::vtql

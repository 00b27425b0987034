// The value shapes of validation.hpp.
//
// Hand-written matchers, no std::regex: libstdc++'s regex executor recurses once per character, so a long
// value (a 300 kB module name, found by tests/fuzz/fuzz_config) overflowed the stack instead of being
// reported.
#include "validation.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <string_view>

namespace vtsync::config::detail {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c); });
}

}  // namespace

bool is_identifier(const std::string& s) {
  if (s.empty() || !(is_alpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

bool is_vtiger_id(const std::string& s) {
  const auto x = s.find('x');
  if (x == std::string::npos) return false;
  const std::string_view v{s};
  return all_digits(v.substr(0, x)) && all_digits(v.substr(x + 1));
}

bool is_zone_name(const std::string& s) {
  std::size_t segment = 0;
  for (char c : s) {
    if (c == '/') {
      if (segment == 0) return false;
      segment = 0;
    } else if (is_alpha(c) || is_digit(c) || c == '_' || c == '+' || c == '-') {
      ++segment;
    } else {
      return false;
    }
  }
  return segment > 0;
}

bool is_listen_address(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string_view host = std::string_view{s}.substr(0, colon),
                         port = std::string_view{s}.substr(colon + 1);
  if (!all_digits(port) || port.size() > 5 || std::stoi(std::string{port}) > 65535) return false;
  if (host == "localhost") return true;
  if (host.size() >= 3 && host.front() == '[' && host.back() == ']') {
    const auto inner = host.substr(1, host.size() - 2);
    return std::all_of(inner.begin(), inner.end(), [](char c) {
      return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    });
  }
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

std::string filter_problem(const std::string& condition) {
  bool quoted = false;
  std::string word;  // the current word outside quotes, upper case
  std::string previous;
  auto end_word = [&]() -> std::string {
    std::string problem;
    if (word == "LIMIT" || (previous == "ORDER" && word == "BY"))
      problem = "is a condition only: ORDER BY and LIMIT are the daemon's";
    if (!word.empty()) previous = word;
    word.clear();
    return problem;
  };
  for (std::size_t i = 0; i < condition.size(); ++i) {
    const char c = condition[i];
    if (quoted) {
      if (c == '\\')
        ++i;  // an escaped character, whatever it is
      else if (c == '\'')
        quoted = false;  // '' inside a literal: out and in again
      continue;
    }
    if (is_alpha(c)) {
      word.push_back(static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c));
      continue;
    }
    if (auto problem = end_word(); !problem.empty()) return problem;
    if (c == '\'') quoted = true;
    if (c == '(' || c == ')')
      return "contains a parenthesis outside a quoted value: VTQL cannot parse them (write the condition "
             "without grouping; AND binds tighter than OR)";
    if (c == ';') return "contains ';' outside a quoted value: the condition must be one WHERE clause";
  }
  if (quoted) return "has a quoted value that does not end (a ' inside a value is written '')";
  return end_word();
}

std::string normalise_vtiger_url(const std::string& text, const origin& at) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) at.fail("'" + text + "' is not an absolute URL (write e.g. https://crm.example.com)");
  const auto scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https")
    at.fail("the URL scheme must be http or https, got '" + std::string{scheme} + "'");
  if (parsed->encoded_host().empty()) at.fail("the URL has no host");
  if (parsed->has_userinfo()) at.fail("the URL must not carry a user name or password");
  std::string path{parsed->encoded_path()};
  const std::string tail = "webservice.php";
  if (path.size() < tail.size() || path.compare(path.size() - tail.size(), tail.size(), tail) != 0) {
    if (path.empty() || path.back() != '/') path += '/';
    path += tail;
  }
  std::string out{scheme};
  out += "://";
  out += parsed->encoded_authority();
  out += path;
  return out;
}

}  // namespace vtsync::config::detail

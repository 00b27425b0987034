#include "vtsync/sync/vtql.hpp"

namespace vtsync::vtql {

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

}  // namespace vtsync::vtql

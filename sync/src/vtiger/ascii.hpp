#pragma once
// ASCII case helpers shared by the Vtiger client's sources (url schemes, Content-Type, operation names).
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace vtsync::vtiger::detail {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace vtsync::vtiger::detail

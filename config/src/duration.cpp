// Durations in the configuration (duration.hpp): parse "1m30s" to milliseconds and back.
#include "vtsync/config/duration.hpp"

#include <cstdint>
#include <limits>

namespace vtsync::config {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total_ms = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (number > (std::numeric_limits<std::int64_t>::max() / 10) - 9) return std::nullopt;
      number = number * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == digits_start) return std::nullopt;
    const std::size_t unit_start = pos;
    while (pos < text.size() && text[pos] >= 'a' && text[pos] <= 'z') ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    std::int64_t factor = 0;
    if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60'000;
    else if (unit == "h")
      factor = 3'600'000;
    else if (unit == "d")
      factor = 86'400'000;
    else
      return std::nullopt;
    if (number > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
    const std::int64_t part = number * factor;
    if (total_ms > std::numeric_limits<std::int64_t>::max() - part) return std::nullopt;
    total_ms += part;
  }
  return std::chrono::milliseconds{total_ms};
}

std::string format_duration(std::chrono::milliseconds value) {
  std::int64_t ms = value.count();
  if (ms == 0) return "0s";
  std::string out;
  const struct {
    std::int64_t factor;
    const char* unit;
  } units[] = {{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& u : units) {
    if (ms >= u.factor) {
      out += std::to_string(ms / u.factor) + u.unit;
      ms %= u.factor;
    }
  }
  return out;
}

}  // namespace vtsync::config

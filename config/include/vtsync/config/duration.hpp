#pragma once
// Durations as written in the configuration: "250ms", "30s", "5m", "2h", "7d", or a combination ("1m30s").
//
// Error policy: parse_duration returns std::nullopt for malformed text; it never throws.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace vtsync::config {

[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling, e.g. 90000ms -> "1m30s"; used in --help and the README.
[[nodiscard]] std::string format_duration(std::chrono::milliseconds value);

}  // namespace vtsync::config

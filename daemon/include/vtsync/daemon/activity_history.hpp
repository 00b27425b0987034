#pragma once
// Records pulled and pushed per module and minute over the last hour, in memory: the operator page's
// small charts. A ring of 60 one-minute slots per module; a slot is reused (zeroed) when its minute comes
// round again, so nothing grows and nothing is stored. Lost on restart, like the counters of /metrics.
// Used on the daemon's loop thread only (no lock).
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vtsync::daemon {

class activity_history {
 public:
  using clock = std::chrono::system_clock;
  static constexpr std::size_t minutes = 60;

  void add_pulled(std::string_view module, std::uint64_t n, clock::time_point now = clock::now());
  void add_pushed(std::string_view module, std::uint64_t n = 1, clock::time_point now = clock::now());

  // {"minutes": 60, "until": "<UTC minute, ISO>", "modules": {"Contacts": {"pulled": [60 counts],
  // "pushed": [60 counts]}}}: oldest minute first, the current (incomplete) minute last.
  [[nodiscard]] nlohmann::json to_json(clock::time_point now = clock::now()) const;

 private:
  struct slot {
    std::int64_t minute = -1;  // minutes since the epoch this slot counts; -1: never used
    std::uint64_t pulled = 0;
    std::uint64_t pushed = 0;
  };
  using ring = std::array<slot, minutes>;
  slot& current(std::string_view module, clock::time_point now);

  std::map<std::string, ring, std::less<>> modules_;
};

}  // namespace vtsync::daemon

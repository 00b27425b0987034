#pragma once
// Reading the fake Vtiger's --request-log (one JSON line per web-service request) to check who did what
// and when: at most one client working each module at any instant, and how long a failover took.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace vtsync::test {

struct logged_request {
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;
  std::string operation;
  std::string module;
  std::string session;
  std::string query;
};

[[nodiscard]] std::vector<logged_request> read_request_log(const std::string& path);

// Writes: create, update, revise, delete.
[[nodiscard]] bool is_write(const logged_request& r);
// The pull's requests for a module: query and sync, from sessions that never wrote anything (those are the
// push engine's) and not the push engine's lookups by the idempotency field.
[[nodiscard]] std::vector<logged_request> pull_requests(const std::vector<logged_request>& log,
                                                        const std::string& module,
                                                        const std::string& idempotency_field);
[[nodiscard]] std::vector<logged_request> write_requests(const std::vector<logged_request>& log,
                                                         const std::string& module);

// Checks that the sessions among `requests` worked one at a time: for two sessions A (first to start) and
// B, no request of A starts after B's first one, and when A's last request was still running as B
// started (the holder was killed mid-request), a kill time lies between A's last start and B's first.
// Returns the violations found (empty when sound). `slack_ms` absorbs clock granularity.
[[nodiscard]] std::vector<std::string> exclusivity_violations(const std::vector<logged_request>& requests,
                                                              const std::vector<std::int64_t>& kills_ms,
                                                              std::int64_t slack_ms = 5);

// For each kill time: ms from the kill to the first pull request of the module by a session other than
// the one that worked it just before the kill. Kills not followed by such a request are left out.
[[nodiscard]] std::vector<std::int64_t> failover_times(const std::vector<logged_request>& pull,
                                                       const std::vector<std::int64_t>& kills_ms);

[[nodiscard]] std::int64_t unix_ms_now();

}  // namespace vtsync::test

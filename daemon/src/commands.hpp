#pragma once
#include <chrono>
// The subcommands of vtsyncd. Each returns a sysexits-style exit code.
#include <optional>
#include <string>
#include <vector>

#include "vtsync/config/config.hpp"

namespace vtsync::daemon {

// sysexits(3) codes used by vtsyncd.
inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 64;
inline constexpr int exit_unavailable = 69;
inline constexpr int exit_software = 70;
inline constexpr int exit_tempfail = 75;
inline constexpr int exit_config = 78;

struct common_options {
  std::string config_path = "/etc/vtsync/vtsync.toml";
  std::string log_level;  // overrides log.level when set
};

// Loads the configuration, or prints "file:key: problem" to stderr and returns std::nullopt.
[[nodiscard]] std::optional<config::settings> load_or_report(const common_options& opts);

// load_or_report, then logging for a command whose stdout is its result: warnings and worse unless
// --log-level says otherwise.
[[nodiscard]] std::optional<config::settings> load_quietly(const common_options& opts);

int run_check(const common_options& opts);
int run_call(const common_options& opts, const std::string& operation,
             const std::vector<std::string>& assignments, const std::string& method);

}  // namespace vtsync::daemon

namespace vtsync::daemon {

// Installs the process-wide spdlog logger on stderr: text lines, or JSON lines (log.format = "json").
void setup_logging(const config::log_settings& log);

// What `vtsyncd check` learns from Vtiger: whether it logs in, and what one idle poll of each module costs.
struct vtiger_check {
  std::string problem;  // "" when the login worked, else the problem (no secret in it)
  struct idle_poll {
    std::string module;
    std::chrono::nanoseconds took{0};
    std::string problem;  // the query's error, if it failed
  };
  std::vector<idle_poll> polls;
  // Each modules.<Module>.filter Vtiger refuses: "file:modules.M.filter: Vtiger refuses it: CODE: message",
  // and each modules.<Module>.related label relatedtypes does not list: "file:modules.M.related: ...".
  std::vector<std::string> refused_filters;
};

// Logs in to Vtiger, checks each module's filter (one count query), then, with `idle_polls`, times one idle
// poll per module of `s` (a modifiedtime query answering no rows, shaped as the daemon's).
[[nodiscard]] vtiger_check check_vtiger(const config::settings& s, bool idle_polls = true);

// The filters of every Vtiger instance of `s` that Vtiger refuses (check_vtiger's refused_filters), for
// `vtsyncd run` and `backfill` to exit 78 on; an instance that cannot be reached is left to the daemon's
// retries (a warning is logged).
[[nodiscard]] std::vector<std::string> refused_filters(const config::settings& s);

}  // namespace vtsync::daemon

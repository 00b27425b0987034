#pragma once
// What a poll costs Vtiger's database, and what its administrator can do about it (docs/performance.md):
// one home for the slow idle poll's threshold and advice, which the pull loop's warning, /status and
// `vtsyncd check` all show.
#include <chrono>
#include <string>
#include <string_view>

namespace vtsync::daemon {

// An idle poll ("anything newer than the cursor?", answered by no rows) slower than this is reported. On a
// stock Vtiger 8.2 it costs a scan of vtiger_crmentity: ~1.2 ms per 1,000 records of all modules.
inline constexpr std::chrono::milliseconds slow_idle_poll{50};

// "an idle poll of Contacts took 120 ms of Vtiger's time (over 50 ms): <advice>".
[[nodiscard]] std::string slow_poll_warning(std::string_view module, std::chrono::nanoseconds took);

// What a Vtiger administrator can do (vtsync never touches Vtiger's database).
[[nodiscard]] std::string_view slow_poll_advice();

}  // namespace vtsync::daemon

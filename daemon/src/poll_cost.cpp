// The slow idle poll's warning and advice (poll_cost.hpp).
#include "poll_cost.hpp"

#include <fmt/format.h>

namespace vtsync::daemon {

std::string_view slow_poll_advice() {
  return "Vtiger's vtiger_crmentity has no index on modifiedtime, so every modifiedtime query reads the whole "
         "table (all modules' records). A Vtiger administrator can add one in Vtiger's database: "
         "CREATE INDEX crmentity_modifiedtime_idx ON vtiger_crmentity (modifiedtime); "
         "measured on Vtiger 8.2 with 100,320 Contacts it took the idle poll from 79-125 ms to 0.4-3.6 ms "
         "(vtsync itself never writes to Vtiger's database). Or raise sync.poll_interval.";
}

std::string slow_poll_warning(std::string_view module, std::chrono::nanoseconds took) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  return fmt::format("an idle poll of {} took {} ms of Vtiger's time (over {} ms): {}", module, ms,
                     slow_idle_poll.count(), slow_poll_advice());
}

}  // namespace vtsync::daemon

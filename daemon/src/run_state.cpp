// The shared state of `vtsyncd run` made from the configuration: its instances and modules, and the lease
// part of each leased loop (run_state.hpp).
#include "run_state.hpp"

#include <algorithm>

#include "vtsync/storage/lease.hpp"

namespace vtsync::daemon {

namespace {

// Every module of every instance, once each: the metrics' per-module series.
std::vector<std::string> all_modules(const config::settings& s) {
  std::vector<std::string> out;
  for (const auto& one : s.instances) {
    for (const auto& m : one.sync.modules) {
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  if (out.empty()) out = s.sync.modules;
  return out;
}

}  // namespace

run_state::run_state(boost::asio::io_context& io_context, config::settings loaded)
    : io(io_context),
      settings(std::move(loaded)),
      identity(storage::process_identity()),
      meters(all_modules(settings)) {
  if (settings.instances.empty()) settings.instances.push_back(settings);
  for (const auto& one : settings.instances) {
    auto inst = std::make_unique<instance>();
    inst->settings = one;
    inst->settings.instances.clear();
    if (settings.instances.size() > 1) inst->prefix = one.vtiger.name + "/";
    for (const auto& m : one.sync.modules) modules[inst->prefix + m];
    instances.push_back(std::move(inst));
  }
}

std::chrono::milliseconds lease_retry_interval(const config::settings& s) {
  return std::clamp(s.sync.poll_interval / 2, std::chrono::milliseconds{100},
                    std::chrono::milliseconds{5000});
}

leased_work lease_of(run_state& run, const instance& inst, const std::string& what) {
  leased_work w;
  w.key =
      storage::lease_key(state_options_from(inst.settings).state_schema, inst.settings.postgres.schema, what);
  w.identity = run.identity;
  w.open = [&run, &inst] { return open_lease_db(run.io.get_executor(), inst.settings, run.identity); };
  w.retry_interval = [&run] { return lease_retry_interval(run.settings); };
  w.stopping = [&run] { return run.stopping; };
  return w;
}

}  // namespace vtsync::daemon

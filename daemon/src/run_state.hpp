#pragma once
// What the parts of `vtsyncd run` share (the pull loops, the push loops, the health endpoint, the signal
// handling), and how it is made from the configuration: the Vtiger instances, the state of every module's
// pull, the leases. One io_context thread runs all of it, so nothing here is locked.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vtsync/daemon/activity_history.hpp"
#include "leased_loop.hpp"
#include "vtsync/config/config.hpp"
#include "vtsync/daemon/metrics.hpp"
#include "vtsync/storage/operator_view.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::daemon {

// One module's pull, as /readyz and /status report it.
struct module_state {
  std::optional<std::chrono::system_clock::time_point> last_success;
  std::string last_error;
  std::uint64_t cycles = 0;
  std::uint64_t records = 0;
  std::string cursor;
  bool sync_supported = false;
  std::optional<std::chrono::nanoseconds> idle_poll;   // Vtiger's time for the last idle poll
  std::string warning;                                 // e.g. a slow idle poll (poll_cost.hpp)
  lease_state lease;                                   // the module's pull lease
  std::unique_ptr<boost::asio::steady_timer> sleeper;  // the pull's sleeps: cancelled on stop
  bool removed = false;  // left sync.modules on a reload: its pull loop ends (the table stays)
  bool running = false;  // its pull loop runs
};

// The operator page's cached view of an instance's outbox and conflicts (operator_page.hpp), read on its
// own connection at most every few seconds, and only while somebody looks.
struct operator_cache {
  std::optional<storage::operator_view> view;
  std::chrono::steady_clock::time_point read_at;
  bool reading = false;
  std::string problem;  // why the last read failed ("" when it worked)
  std::unique_ptr<storage::connection> conn;
};

// One Vtiger instance of the configuration (the single [vtiger] form: one, with unit names as before).
struct instance {
  config::settings settings;  // the file's settings with this instance's [vtiger], schema and modules
  std::string prefix;         // "" for a single instance, "<name>/" with several
  std::shared_ptr<vtiger::client_context> context;
  std::map<std::string, storage::mirror_table> tables;  // by module, once its pull has prepared it; and
                                                        // "Relations" (storage/relations.hpp) when used
  std::unique_ptr<sync::pusher> pusher;                 // while this daemon pushes
  lease_state push_lease;
  std::string vtiger_version;  // as the last login reported it
  operator_cache page;
};

struct run_state {
  run_state(boost::asio::io_context& io, config::settings settings);

  boost::asio::io_context& io;
  config::settings settings;  // as loaded, with the reloadable keys of the last reload
  std::string identity;       // "host:pid": this daemon in the leases
  std::vector<std::unique_ptr<instance>> instances;
  std::map<std::string, module_state> modules;  // by "<prefix><module>"
  mutable metrics meters;                       // read by /status and /metrics through a const run_state
  activity_history history;                     // records pulled and pushed per minute (the page's charts)
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  bool stopping = false;
  bool pg_reached = false;
  bool vtiger_reached = false;
};

// How often a standby tries a lease: half a poll interval, between 100 ms and 5 s, so that a takeover
// happens well within two poll intervals.
[[nodiscard]] std::chrono::milliseconds lease_retry_interval(const config::settings& s);

// The lease part of a leased_work for `what` ("pull:<module>" or "push") of `inst`: key, identity, the
// lease's connection, the standby's retry interval and the stop flag (leased_loop.hpp).
[[nodiscard]] leased_work lease_of(run_state& run, const instance& inst, const std::string& what);

}  // namespace vtsync::daemon

#pragma once
// What `run`, `backfill`, `status`, `resync` and `retry` share: connecting to PostgreSQL (and migrating),
// the Vtiger client context wired to the metrics, and the per-module pullers.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "commands.hpp"
#include "config_to_options.hpp"
#include "vtsync/config/config.hpp"
#include "vtsync/daemon/metrics.hpp"
#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::daemon {

// One PostgreSQL connection and the repositories on it (used by one coroutine at a time).
struct db_session {
  std::unique_ptr<storage::connection> conn;
  std::unique_ptr<storage::store> store;
  std::unique_ptr<storage::outbox> outbox;
};

// Connects and (if `migrate`) applies migrations. Throws storage::pg_error.
boost::asio::awaitable<db_session> open_db(boost::asio::any_io_executor ex, const config::settings& s,
                                           bool migrate);

// A client context whose hooks feed `m` (may be null).
[[nodiscard]] std::shared_ptr<vtiger::client_context> make_vtiger_context(boost::asio::any_io_executor ex,
                                                                          const config::settings& s,
                                                                          metrics* m);

int run_daemon(const common_options& opts);
int run_backfill(const common_options& opts, const std::vector<std::string>& modules, int parallel,
                 const std::string& since);
int run_status(const common_options& opts, bool json);
int run_resync(const common_options& opts, const std::string& id);
int run_retry(const common_options& opts, const std::string& module);

}  // namespace vtsync::daemon

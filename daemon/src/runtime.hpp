#pragma once
// What `run`, `backfill`, `status`, `resync` and `retry` share: connecting to PostgreSQL (and migrating),
// the Vtiger client context wired to the metrics, and the per-module pullers. The storage repositories
// and the sync::module_puller of every command are made here (make_repository, make_puller), and nowhere
// else.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <string>

#include "commands.hpp"
#include "config_to_options.hpp"
#include "vtsync/config/config.hpp"
#include "vtsync/daemon/metrics.hpp"
#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/backfill_ranges.hpp"
#include "vtsync/storage/cursors.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::daemon {

// One PostgreSQL connection and the repositories on it (used by one coroutine at a time).
struct db_session {
  std::unique_ptr<storage::connection> conn;
  std::unique_ptr<storage::mirror_rows> rows;
  std::unique_ptr<storage::cursors> cursors;
  std::unique_ptr<storage::backfill_ranges> backfill;
  std::unique_ptr<storage::outbox> outbox;

  // What a puller on this connection works through.
  [[nodiscard]] sync::pull_storage pull() const { return {*rows, *cursors, *backfill}; }
};

// Connects and (if `migrate`) applies migrations. Throws storage::pg_error.
boost::asio::awaitable<db_session> open_db(boost::asio::any_io_executor ex, const config::settings& s,
                                           bool migrate);

// A connection for a lease and the writes it guards (storage/lease.hpp): never reopened once lost
// (reconnect = false), named "vtsyncd <identity>" for whoever looks up the holder. Throws storage::pg_error.
boost::asio::awaitable<db_session> open_lease_db(boost::asio::any_io_executor ex, const config::settings& s,
                                                 const std::string& identity);

// A repository (storage::mirror_rows, cursors, backfill_ranges, outbox) of the instance `s` on `conn`.
template <class Repository>
[[nodiscard]] std::unique_ptr<Repository> make_repository(storage::connection& conn,
                                                          const config::settings& s) {
  return std::make_unique<Repository>(conn, state_options_from(s));
}

// The mirror tables of `s`'s modules by module name (describe through `client`, then the table made or
// extended as the daemon does): for the commands that work on rows outside the daemon (discard, pending).
boost::asio::awaitable<std::map<std::string, storage::mirror_table>> mirror_tables_of(
    vtiger::client& client, db_session& db, const config::settings& s);

// The puller of one module of the instance `s`; `client`, the repositories and what `observer` refers to
// must outlive it.
[[nodiscard]] std::unique_ptr<sync::module_puller> make_puller(vtiger::client& client,
                                                               sync::pull_storage storage,
                                                               storage::mirror_table table,
                                                               const config::settings& s,
                                                               sync::pull_observer observer = {});

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
// Exactly one of `id`, `row` (TABLE:ROW_ID) and `module` is set (else exit 64).
int run_discard(const common_options& opts, const std::string& id, const std::string& row,
                const std::string& module);
int run_pending(const common_options& opts, const std::string& module, bool json, int limit);

}  // namespace vtsync::daemon

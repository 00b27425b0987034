#include "runtime.hpp"

#include "commands.hpp"
#include "config_to_options.hpp"

namespace vtsync::daemon {

namespace {

boost::asio::awaitable<db_session> connect_session(boost::asio::any_io_executor ex,
                                                   storage::connection_options options,
                                                   const config::settings& s) {
  db_session db;
  db.conn = std::make_unique<storage::connection>(ex, std::move(options));
  co_await db.conn->connect();
  db.rows = make_repository<storage::mirror_rows>(*db.conn, s);
  db.cursors = make_repository<storage::cursors>(*db.conn, s);
  db.backfill = make_repository<storage::backfill_ranges>(*db.conn, s);
  db.outbox = make_repository<storage::outbox>(*db.conn, s);
  co_return db;
}

}  // namespace

boost::asio::awaitable<db_session> open_db(boost::asio::any_io_executor ex, const config::settings& s,
                                           bool migrate) {
  auto db = co_await connect_session(std::move(ex), connection_options_from(s), s);
  if (migrate) (void)co_await storage::migrate(*db.conn, db.rows->options().state_schema);
  co_return db;
}

boost::asio::awaitable<db_session> open_lease_db(boost::asio::any_io_executor ex, const config::settings& s,
                                                 const std::string& identity) {
  auto options = connection_options_from(s);
  options.reconnect = false;
  options.application_name = "vtsyncd " + identity;
  co_return co_await connect_session(std::move(ex), std::move(options), s);
}

boost::asio::awaitable<std::map<std::string, storage::mirror_table>> mirror_tables_of(
    vtiger::client& client, db_session& db, const config::settings& s) {
  std::map<std::string, storage::mirror_table> out;
  for (const auto& module : s.sync.modules) {
    auto table = co_await sync::prepare_mirror_table(client, *db.conn, db.rows->options(), module,
                                                     table_scope_from(s, module));
    out.emplace(module, std::move(table));
  }
  co_return out;
}

std::unique_ptr<sync::module_puller> make_puller(vtiger::client& client, sync::pull_storage storage,
                                                 storage::mirror_table table, const config::settings& s,
                                                 sync::pull_observer observer) {
  auto settings = pull_settings_from(s, table.module);
  return std::make_unique<sync::module_puller>(client, storage, std::move(table), std::move(settings),
                                               std::move(observer));
}

std::shared_ptr<vtiger::client_context> make_vtiger_context(boost::asio::any_io_executor ex,
                                                            const config::settings& s, metrics* m) {
  auto options = client_options_from(s);
  options.inflight =
      std::make_shared<vtiger::inflight_limit>(static_cast<std::size_t>(s.sync.max_in_flight_requests));
  if (m != nullptr) {
    options.hooks.on_request = [m](std::string_view op) { m->api_requests(op).inc(); };
    options.hooks.on_relogin = [m] { m->relogins().inc(); };
    options.hooks.on_answer = [m](std::string_view op, std::chrono::nanoseconds took) {
      m->request_duration(op).observe(std::chrono::duration<double>(took).count());
    };
  }
  return std::make_shared<vtiger::client_context>(std::move(ex), std::move(options));
}

}  // namespace vtsync::daemon

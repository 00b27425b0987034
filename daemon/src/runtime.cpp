#include "runtime.hpp"

#include "commands.hpp"
#include "config_to_options.hpp"

namespace vtsync::daemon {

boost::asio::awaitable<db_session> open_db(boost::asio::any_io_executor ex, const config::settings& s,
                                           bool migrate) {
  db_session db;
  db.conn = std::make_unique<storage::connection>(ex, connection_options_from(s));
  co_await db.conn->connect();
  db.store = std::make_unique<storage::store>(*db.conn, state_options_from(s));
  db.outbox = std::make_unique<storage::outbox>(*db.conn, state_options_from(s));
  if (migrate) (void)co_await db.store->migrate();
  co_return db;
}

std::shared_ptr<vtiger::client_context> make_vtiger_context(boost::asio::any_io_executor ex,
                                                            const config::settings& s, metrics* m) {
  auto options = client_options_from(s);
  options.inflight =
      std::make_shared<vtiger::inflight_limit>(static_cast<std::size_t>(s.sync.max_in_flight_requests));
  if (m != nullptr) {
    options.hooks.on_request = [m](std::string_view op) { m->api_requests(op).inc(); };
    options.hooks.on_relogin = [m] { m->relogins().inc(); };
  }
  return std::make_shared<vtiger::client_context>(std::move(ex), std::move(options));
}

}  // namespace vtsync::daemon

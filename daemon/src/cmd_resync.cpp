// vtsyncd resync: re-pull one record by its Vtiger id.
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

int run_resync(const common_options& opts, const std::string& id) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  setup_logging(settings->log);
  const auto x = id.find('x');
  if (x == std::string::npos || x == 0 || x + 1 >= id.size()) {
    std::cerr << "vtsyncd resync: '" << id << "' is not a Vtiger id like 12x87\n";
    return exit_usage;
  }
  asio::io_context io{1};
  try {
    const std::string outcome = run_on_loop<std::string>(io, [&]() -> asio::awaitable<std::string> {
      auto ex = co_await asio::this_coro::executor;
      vtiger::client client{make_vtiger_context(ex, *settings, nullptr)};
      auto db = co_await open_db(ex, *settings, true);
      for (const auto& module : settings->sync.modules) {
        auto described = co_await client.describe(module);
        if (!described || described->value("idPrefix", "") != id.substr(0, x)) continue;
        const auto scope = table_scope_from(*settings, module);
        auto table = co_await sync::prepare_mirror_table(client, *db.conn, db.rows->options(), module, scope);
        const auto puller = make_puller(client, db.pull(), std::move(table), *settings);
        const bool found = co_await puller->resync_record(id);
        co_await client.logout();
        std::string result = module;
        result += ' ';
        result += id;
        result += found ? ": re-pulled" : ": Vtiger does not show it (deleted, or no permission)";
        co_return result;
      }
      co_return std::string{};
    });
    if (outcome.empty()) {
      std::cerr << "vtsyncd resync: no configured module has the id prefix of " << id << '\n';
      return exit_usage;
    }
    std::cout << outcome << '\n';
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd resync: " << e.what() << '\n';
    return exit_unavailable;
  }
}

}  // namespace vtsync::daemon

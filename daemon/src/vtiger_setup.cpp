#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "commands.hpp"
#include "config_to_options.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::daemon {

std::string vtiger_problem(const config::settings& s) {
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        vtiger::client c{co_await boost::asio::this_coro::executor, client_options_from(s)};
        (void)co_await c.login();
        co_await c.logout();
      },
      boost::asio::use_future);
  io.run();
  try {
    future.get();
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace vtsync::daemon

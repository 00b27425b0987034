// vtsyncd retry: failed local changes go back to the outbox, and a running daemon is woken.
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

int run_retry(const common_options& opts, const std::string& module) {
  auto settings = load_quietly(opts);  // stdout is for the result
  if (!settings) return exit_config;
  asio::io_context io{1};
  try {
    const auto count = run_on_loop<std::size_t>(io, [&]() -> asio::awaitable<std::size_t> {
      auto db = co_await open_db(co_await asio::this_coro::executor, *settings, true);
      const auto n = co_await db.outbox->retry_failed(module);
      co_await db.outbox->notify("retry");  // wake a running daemon's push engine
      db.conn->close();
      co_return n;
    });
    std::cout << count << " failed change(s) queued again" << (module.empty() ? "" : " for " + module)
              << '\n';
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd retry: " << e.what() << '\n';
    return exit_unavailable;
  }
}

}  // namespace vtsync::daemon

// vtsyncd call OPERATION name=value...: any web-service operation, the result printed as JSON.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <iostream>
#include <set>

#include "commands.hpp"
#include "config_to_options.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::daemon {

int run_call(const common_options& opts, const std::string& operation,
             const std::vector<std::string>& assignments, const std::string& method) {
  auto settings = load_quietly(opts);  // stdout is for the result
  if (!settings) return exit_config;

  vtiger::param_list params;
  for (const auto& a : assignments) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "vtsyncd call: '" << a << "' is not name=value\n";
      return exit_usage;
    }
    params.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  static const std::set<std::string> post_ops{"create",        "update",      "revise",
                                              "delete",        "logout",      "login",
                                              "extendsession", "convertlead", "add_related"};
  const auto http = method.empty()
                        ? (post_ops.count(operation) ? vtiger::http_method::post : vtiger::http_method::get)
                        : (method == "POST" ? vtiger::http_method::post : vtiger::http_method::get);

  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<vtiger::api_result<vtiger::json>> {
        vtiger::client c{co_await boost::asio::this_coro::executor, client_options_from(*settings)};
        auto result = co_await c.call(operation, params, http);
        co_await c.logout();
        co_return result;
      },
      boost::asio::use_future);
  io.run();
  try {
    auto result = future.get();
    if (!result) {
      std::cout << vtiger::json{{"success", false},
                                {"error",
                                 {{"code", result.error().code}, {"message", result.error().message}}}}
                       .dump(2)
                << '\n';
      return 1;
    }
    std::cout << result->dump(2, ' ', false, vtiger::json::error_handler_t::replace) << '\n';
    return exit_ok;
  } catch (const vtiger::client_error& e) {
    std::cerr << "vtsyncd call: " << e.what() << '\n';
    return e.kind() == vtiger::error_kind::login_failed || e.kind() == vtiger::error_kind::invalid_argument
               ? exit_config
               : exit_unavailable;
  }
}

}  // namespace vtsync::daemon

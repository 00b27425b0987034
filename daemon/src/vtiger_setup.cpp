#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "commands.hpp"
#include "config_to_options.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/vtiger/client.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::daemon {

vtiger_check check_vtiger(const config::settings& s, bool idle_polls) {
  vtiger_check out;
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        vtiger::client c{co_await boost::asio::this_coro::executor, client_options_from(s)};
        (void)co_await c.login();
        for (const auto& module : s.sync.modules) {
          const auto filter = s.sync.scope_of(module).filter;
          if (filter.empty()) continue;
          const auto refused = co_await sync::filter_refused(c, module, filter);
          if (refused) {
            out.refused_filters.push_back(s.source_file + ":modules." + module +
                                          ".filter: Vtiger refuses it: " + *refused);
          }
        }
        for (const auto& module : s.sync.modules) {
          const auto labels = s.sync.scope_of(module).related;
          if (labels.empty()) continue;
          const std::string operation = "relatedtypes";
          const vtiger::param_list params{{"elementType", module}};
          const auto types = co_await c.call(operation, params, vtiger::http_method::get);
          if (!types) {
            out.refused_filters.push_back(s.source_file + ":modules." + module +
                                          ".related: relatedtypes failed: " + types.error().code + ": " +
                                          types.error().message);
            continue;
          }
          const auto& info = types->value("information", vtiger::json::object());
          for (const auto& label : labels) {
            if (info.contains(label)) continue;
            std::string known;
            for (const auto& [name, _] : info.items()) known += (known.empty() ? "" : ", ") + name;
            out.refused_filters.push_back(s.source_file + ":modules." + module +
                                          ".related: Vtiger's relatedtypes for " + module +
                                          " has no label '" + label + "' (it has: " + known + ")");
          }
        }
        for (const auto& module : s.sync.modules) {
          if (!idle_polls) break;
          // Later than any record: no rows, yet without an index on modifiedtime Vtiger reads every one.
          const std::vector<std::string> all_columns;
          std::string idle = vtiger::vtql::and_condition(
              vtiger::vtql::modified_since_page(module, all_columns, "2999-01-01 00:00:00"),
              s.sync.scope_of(module).filter);
          const auto asked = std::chrono::steady_clock::now();
          const auto answer = co_await c.query_records(idle);
          vtiger_check::idle_poll poll{module, std::chrono::steady_clock::now() - asked, {}};
          if (!answer) poll.problem = answer.error().code + ": " + answer.error().message;
          out.polls.push_back(std::move(poll));
        }
        co_await c.logout();
      },
      boost::asio::use_future);
  io.run();
  try {
    future.get();
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  return out;
}

std::vector<std::string> refused_filters(const config::settings& s) {
  std::vector<std::string> out;
  for (const auto& one : s.instances) {
    bool any = false;
    for (const auto& module : one.sync.modules) {
      const auto scope = one.sync.scope_of(module);
      any = any || !scope.filter.empty() || !scope.related.empty();
    }
    if (!any) continue;
    auto checked = check_vtiger(one, false);
    if (!checked.problem.empty()) {
      spdlog::warn("vtiger {}: the modules' filters could not be checked at start: {}", one.vtiger.name,
                   checked.problem);
    }
    for (auto& r : checked.refused_filters) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace vtsync::daemon

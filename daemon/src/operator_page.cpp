// The operator page's routes, its cached view of PostgreSQL and its recent-history document
// (operator_page.hpp).
#include "operator_page.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config_to_options.hpp"
#include "vtsync/storage/operator_view.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

asio::awaitable<void> read_view(run_state& run, instance& inst) {
  auto& cache = inst.page;
  try {
    if (!cache.conn) {
      // A connection of its own with short deadlines: a slow database delays the page, never the sync.
      auto options = connection_options_from(inst.settings);
      options.application_name = "vtsyncd page";
      options.connect_timeout = std::chrono::seconds{5};
      options.call_timeout = std::chrono::seconds{5};
      options.statement_timeout = std::chrono::seconds{4};
      cache.conn = std::make_unique<storage::connection>(run.io.get_executor(), std::move(options));
    }
    const auto options = state_options_from(inst.settings);
    auto view = co_await storage::read_operator_view(*cache.conn, options, operator_list_cap);
    cache.view = std::move(view);
    cache.problem.clear();
  } catch (const std::exception& e) {
    cache.problem = e.what();
    spdlog::debug("operator page: reading {}: {}", inst.settings.vtiger.name, e.what());
  }
  cache.read_at = std::chrono::steady_clock::now();
  cache.reading = false;
}

std::string quoted_if_needed(const std::string& s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == ':' || c == '/' || c == '.';
  });
  return plain ? s : "'" + s + "'";
}

json failed_json(const instance& inst, const storage::failed_change& f) {
  const std::string module = inst.prefix + f.module;
  return {{"module", module},
          {"table", f.table},
          {"row_id", f.row_id},
          {"vtiger_id", f.vtiger_id ? json(*f.vtiger_id) : json(nullptr)},
          {"op", f.op},
          {"error", f.error},
          {"since", f.since},
          {"attempts", f.attempts},
          {"retry", "vtsyncd retry --module " + quoted_if_needed(f.module)},
          {"discard", "vtsyncd discard --row " + quoted_if_needed(f.table + ":" + std::to_string(f.row_id))}};
}

// Newest first by `key` (UTC ISO times sort as text), at most operator_list_cap.
void newest_first(json& list, const char* key) {
  std::stable_sort(list.begin(), list.end(),
                   [key](const json& a, const json& b) { return a[key].get<std::string>() > b[key]; });
  if (list.size() > static_cast<std::size_t>(operator_list_cap))
    list.erase(list.begin() + operator_list_cap, list.end());
}

}  // namespace

void refresh_operator_views(run_state& run) {
  if (run.stopping) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& inst : run.instances) {
    auto& cache = inst->page;
    if (cache.reading || now - cache.read_at < operator_view_max_age) continue;
    cache.reading = true;
    asio::co_spawn(run.io, read_view(run, *inst), asio::detached);
  }
}

json recent_of(const run_state& run) {
  json failed = json::array();
  json conflicts = json::array();
  std::string problem;
  for (const auto& inst : run.instances) {
    const auto& cache = inst->page;
    if (!cache.problem.empty()) problem = inst->settings.vtiger.name + ": " + cache.problem;
    if (!cache.view) continue;
    for (const auto& f : cache.view->failed) failed.push_back(failed_json(*inst, f));
    for (const auto& c : cache.view->conflicts) {
      conflicts.push_back({{"module", inst->prefix + c.module},
                           {"vtiger_id", c.vtiger_id ? json(*c.vtiger_id) : json(nullptr)},
                           {"field", c.field},
                           {"decision", c.decision},
                           {"at", c.at}});
    }
  }
  newest_first(failed, "since");
  newest_first(conflicts, "at");
  return {{"history", run.history.to_json()},
          {"failed", failed},
          {"conflicts", conflicts},
          {"cap", operator_list_cap},
          {"problem", problem}};
}

std::function<std::optional<page>(std::string_view)> operator_page(run_state& run,
                                                                   std::function<json()> status) {
  return [&run, status = std::move(status)](std::string_view path) -> std::optional<page> {
    if (path == "/" || path == "/ui" || path == "/ui/") {
      refresh_operator_views(run);
      return page{"text/html; charset=utf-8", render_page(status(), recent_of(run))};
    }
    if (path == "/ui/recent.json") {
      refresh_operator_views(run);
      return page{"application/json", recent_of(run).dump(-1, ' ', false, json::error_handler_t::replace)};
    }
    if (path == "/ui.js") return page{"text/javascript; charset=utf-8", std::string{*ui_asset("ui.js")}};
    if (path == "/ui.css") return page{"text/css; charset=utf-8", std::string{*ui_asset("ui.css")}};
    return std::nullopt;
  };
}

}  // namespace vtsync::daemon

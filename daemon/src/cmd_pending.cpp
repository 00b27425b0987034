// vtsyncd pending: the local changes queued, in flight or rejected, and what each would send to Vtiger (the
// push engine's own element builder: sync::fields_to_send).
#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/record/table.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

json change_json(const std::map<std::string, storage::mirror_table>& tables, const storage::open_entry& o,
                 const std::string& idempotency_field) {
  const auto& e = o.entry;
  json fields = json::object();
  if (const auto t = tables.find(e.module); t != tables.end() && e.row) {
    const json values = record::to_vtiger_values(t->second, e.row->values);
    fields = sync::fields_to_send(t->second, e, values, idempotency_field);
  }
  std::optional<std::string> id = e.vtiger_id;
  if (e.row && e.row->vtiger_id) id = e.row->vtiger_id;
  return {{"module", e.module},
          {"table", e.table},
          {"row_id", e.row_id},
          {"vtiger_id", id ? json(*id) : json(nullptr)},
          {"op", std::string{storage::to_string(e.op)}},
          {"state", o.state},
          {"fields", fields},
          {"error", o.error.empty() ? json(nullptr) : json(o.error)},
          {"since", o.since},
          {"queued_at", e.created_at},
          {"attempts", e.attempts}};
}

}  // namespace

int run_pending(const common_options& opts, const std::string& module, bool as_json, int limit) {
  auto settings = load_quietly(opts);  // stdout is for the result
  if (!settings) return exit_config;
  const auto& modules = settings->sync.modules;
  if (!module.empty() && std::find(modules.begin(), modules.end(), module) == modules.end()) {
    std::cerr << "vtsyncd pending: module " << module << " is not in sync.modules\n";
    return exit_usage;
  }
  asio::io_context io{1};
  try {
    const json changes = run_on_loop<json>(io, [&]() -> asio::awaitable<json> {
      auto ex = co_await asio::this_coro::executor;
      vtiger::client client{make_vtiger_context(ex, *settings, nullptr)};
      auto db = co_await open_db(ex, *settings, true);
      const auto tables = co_await mirror_tables_of(client, db, *settings);
      std::vector<storage::mirror_table> list;
      for (const auto& [name, table] : tables) list.push_back(table);
      const auto open = co_await db.outbox->list_open(list, module, limit);
      co_await client.logout();
      db.conn->close();
      json out = json::array();
      for (const auto& o : open) out.push_back(change_json(tables, o, settings->sync.idempotency_field));
      co_return out;
    });
    if (as_json) {
      std::cout << json{{"changes", changes}, {"limit", limit}}.dump(2) << '\n';
      return exit_ok;
    }
    if (changes.empty()) {
      std::cout << "nothing pending" << (module.empty() ? "" : " for " + module) << '\n';
      return exit_ok;
    }
    std::map<std::string, int> by_state;
    for (const auto& c : changes) {
      ++by_state[c["state"].get<std::string>()];
      const std::string id = c["vtiger_id"].is_string() ? c["vtiger_id"].get<std::string>() : "(not created)";
      std::cout << c["module"].get<std::string>() << ' ' << c["table"].get<std::string>() << ':'
                << c["row_id"].get<std::int64_t>() << ' ' << id << ' ' << c["op"].get<std::string>() << ' '
                << c["state"].get<std::string>() << " since " << c["since"].get<std::string>() << '\n';
      if (!c["fields"].empty()) std::cout << "  would send: " << c["fields"].dump() << '\n';
      if (c["error"].is_string()) std::cout << "  error: " << c["error"].get<std::string>() << '\n';
    }
    std::cout << changes.size() << " change(s):";
    for (const char* s : {"pending", "in_flight", "failed"}) std::cout << ' ' << s << ' ' << by_state[s];
    if (changes.size() >= static_cast<std::size_t>(limit)) std::cout << " (first " << limit << " shown)";
    std::cout << '\n';
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd pending: " << e.what() << '\n';
    return exit_unavailable;
  }
}

}  // namespace vtsync::daemon

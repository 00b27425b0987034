// vtsyncd status: cursors, lag, outbox counts and lease holders of every module, as a table or JSON.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"
#include "vtsync/storage/lease.hpp"
#include "vtsync/storage/relations.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// How fast the queue drains (a bulk push): changes finished over the last minute, and the time left at that
// rate for what is pending.
asio::awaitable<json> push_progress_json(storage::outbox& outbox) {
  constexpr std::chrono::seconds window{60};
  const auto counts = co_await outbox.count();
  const auto finished = co_await outbox.finished_within(window);
  const double rate = static_cast<double>(finished) / static_cast<double>(window.count());
  const auto pending = counts.pending + counts.in_flight;
  json p{{"pending", pending}, {"rate_per_second", rate}, {"eta_seconds", nullptr}};
  if (pending > 0 && rate > 0) p["eta_seconds"] = static_cast<double>(pending) / rate;
  co_return p;
}

void print_push_progress(const std::string& name, const json& p) {
  if (p["pending"].get<long long>() == 0) return;
  std::printf("%s: %lld pending, %.1f changes/s over the last minute", name.c_str(),
              p["pending"].get<long long>(), p["rate_per_second"].get<double>());
  if (!p["eta_seconds"].is_null()) std::printf(", about %.0f s left", p["eta_seconds"].get<double>());
  std::printf("\n");
}

}  // namespace

int run_status(const common_options& opts, bool as_json) {
  auto settings = load_quietly(opts);  // stdout is for the result
  if (!settings) return exit_config;
  asio::io_context io{1};
  try {
    const json status = run_on_loop<json>(io, [&]() -> asio::awaitable<json> {
      auto first = co_await open_db(co_await asio::this_coro::executor, *settings, true);
      json modules = json::object();
      json leases = json::object();
      json push = json::object();
      std::vector<config::settings> instances = settings->instances;
      if (instances.empty()) instances.push_back(*settings);
      for (const auto& inst : instances) {
        const std::string prefix = instances.size() > 1 ? inst.vtiger.name + "/" : "";
        const auto instance_cursors = make_repository<storage::cursors>(*first.conn, inst);
        const auto instance_outbox = make_repository<storage::outbox>(*first.conn, inst);
        struct {
          storage::connection* conn;
          storage::cursors* cursors;
          storage::outbox* outbox;
        } db{first.conn.get(), instance_cursors.get(), instance_outbox.get()};
        const auto cursors = co_await db.cursors->load_cursors();
        const std::string push_key = prefix.empty() ? "push" : "push:" + inst.vtiger.name;
        const json progress = co_await push_progress_json(*db.outbox);
        push[push_key] = progress;
        // Who works what: the holders of the leases (pg_locks; storage/lease.hpp).
        const auto state_schema = db.cursors->options().state_schema;
        {
          const auto holder = co_await storage::lease_holder(
              *db.conn, storage::lease_key(state_schema, inst.postgres.schema, "push"));
          leases[prefix.empty() ? "push" : "push:" + inst.vtiger.name] =
              holder ? json(*holder) : json(nullptr);
        }
        for (const auto& module : inst.sync.modules) {
          json m;
          m["cursor"] = nullptr;
          m["last_success"] = nullptr;
          m["lag_seconds"] = nullptr;
          for (const auto& c : cursors) {
            if (c.module != module) continue;
            if (c.position)
              m["cursor"] =
                  c.position->modifiedtime + (c.position->last_id.empty() ? "" : " " + c.position->last_id);
            if (c.last_success_at) m["last_success"] = *c.last_success_at;
            if (c.lag_seconds) m["lag_seconds"] = *c.lag_seconds;
          }
          const auto counts = co_await db.outbox->count(module);
          const auto holder = co_await storage::lease_holder(
              *db.conn, storage::lease_key(state_schema, inst.postgres.schema, "pull:" + module));
          m["holder"] = holder ? json(*holder) : json(nullptr);
          leases[std::string{"pull:"}.append(prefix).append(module)] = m["holder"];
          m["pending"] = counts.pending + counts.in_flight;
          m["failed"] = counts.failed;
          modules[prefix + module] = m;
        }
        // The related lists' links (storage/relations.hpp), pushed as the pseudo-module "Relations": their
        // pending and failed changes, when a module has lists.
        const bool lists =
            std::any_of(inst.sync.modules.begin(), inst.sync.modules.end(),
                        [&inst](const std::string& m) { return !inst.sync.scope_of(m).related.empty(); });
        if (lists) {
          const std::string relations{storage::relations_module};
          const auto counts = co_await db.outbox->count(relations);
          json m{
              {"cursor", nullptr}, {"last_success", nullptr}, {"lag_seconds", nullptr}, {"holder", nullptr}};
          m["pending"] = counts.pending + counts.in_flight;
          m["failed"] = counts.failed;
          modules[prefix + relations] = m;
        }
      }
      first.conn->close();
      co_return json{{"modules", modules}, {"leases", leases}, {"push", push}};
    });
    if (as_json) {
      std::cout << status.dump(2) << '\n';
    } else {
      std::printf("%-16s %-32s %-22s %8s %8s %8s  %s\n", "MODULE", "CURSOR", "LAST SUCCESS", "LAG(s)",
                  "PENDING", "FAILED", "HOLDER");
      for (const auto& [name, m] : status["modules"].items()) {
        std::printf(
            "%-16s %-32s %-22s %8s %8lld %8lld  %s\n", name.c_str(),
            m["cursor"].is_null() ? "-" : m["cursor"].get<std::string>().c_str(),
            m["last_success"].is_null() ? "never"
                                        : m["last_success"].get<std::string>().substr(0, 19).c_str(),
            m["lag_seconds"].is_null() ? "-" : std::to_string(m["lag_seconds"].get<long long>()).c_str(),
            m["pending"].get<long long>(), m["failed"].get<long long>(),
            m["holder"].is_null() ? "-" : m["holder"].get<std::string>().c_str());
      }
      for (const auto& [name, h] : status["leases"].items()) {
        if (name.rfind("push", 0) == 0)
          std::printf("%s lease: %s\n", name.c_str(), h.is_null() ? "nobody" : h.get<std::string>().c_str());
      }
      for (const auto& [name, p] : status["push"].items()) print_push_progress(name, p);
    }
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd status: " << e.what() << '\n';
    return exit_unavailable;
  }
}

}  // namespace vtsync::daemon

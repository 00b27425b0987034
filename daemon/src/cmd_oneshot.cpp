// The one-shot commands: backfill, status, resync, retry.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "runtime.hpp"
#include "vtsync/storage/lease.hpp"
#include "vtsync/storage/columns.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// Runs `body` on a fresh io_context; returns its value or rethrows its exception. The loop stops when
// the body ends, however it ends: a body that throws must not leave the command waiting on what it had
// still armed (backfill's signal_set made `vtsyncd backfill` hang until SIGTERM after any error, e.g. a
// refused TLS certificate; found by tests/e2e/security_test.cpp).
template <class T, class Body>
T run_on_loop(asio::io_context& io, Body body) {
  std::exception_ptr error;
  std::optional<T> value;
  asio::co_spawn(io, std::move(body), [&](const std::exception_ptr& e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
    io.stop();
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

// Progress of a backfill: a bar on a terminal, otherwise a log line every 5 s.
class progress_reporter {
 public:
  progress_reporter(std::string module, std::uint64_t total)
      : module_(std::move(module)),
        total_(total),
        tty_(::isatty(2) != 0),
        start_(std::chrono::steady_clock::now()),
        last_(start_) {}

  void update(std::uint64_t done) {
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    std::string eta = "?";
    if (total_ > done && rate > 0)
      eta = std::to_string(static_cast<long>(static_cast<double>(total_ - done) / rate)) + "s";
    if (total_ > 0 && done >= total_) eta = "0s";
    if (tty_) {
      const int width = 30;
      const double frac =
          total_ > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 0;
      std::string bar(static_cast<std::size_t>(frac * width), '=');
      bar.resize(width, ' ');
      std::fprintf(stderr, "\r%s [%s] %llu/%s rows  %.0f rows/s  ETA %s   ", module_.c_str(), bar.c_str(),
                   static_cast<unsigned long long>(done), total_ > 0 ? std::to_string(total_).c_str() : "?",
                   rate, eta.c_str());
      std::fflush(stderr);
    } else if (now - last_ >= std::chrono::seconds{5}) {
      spdlog::info("module={} backfill: {} of {} rows, {:.0f} rows/s, ETA {}", module_, done,
                   total_ > 0 ? std::to_string(total_) : "?", rate, eta);
      last_ = now;
    }
  }
  void finish(std::uint64_t done) {
    if (tty_) std::fprintf(stderr, "\n");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    spdlog::info("module={} backfill complete: {} rows in {:.1f}s ({:.0f} rows/s)", module_, done, secs,
                 secs > 0 ? static_cast<double>(done) / secs : 0.0);
  }

 private:
  std::string module_;
  std::uint64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

int run_backfill(const common_options& opts, const std::vector<std::string>& modules, int parallel,
                 const std::string& since) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  setup_logging(settings->log);
  std::vector<std::string> chosen = modules.empty() ? settings->sync.modules : modules;
  for (const auto& m : chosen) {
    if (std::find(settings->sync.modules.begin(), settings->sync.modules.end(), m) ==
        settings->sync.modules.end()) {
      std::cerr << settings->source_file << ":sync.modules: --module " << m
                << " is not a configured module\n";
      return exit_usage;
    }
  }
  const int workers = parallel > 0 ? parallel : settings->sync.backfill_parallel;

  asio::io_context io{1};
  bool stop = false;
  asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    spdlog::warn("stop requested: the backfill stops after the current page and resumes next time");
    stop = true;
  });
  try {
    const bool complete = run_on_loop<bool>(io, [&]() -> asio::awaitable<bool> {
      auto ex = co_await asio::this_coro::executor;
      auto context = make_vtiger_context(ex, *settings, nullptr);
      // The other sessions log in while the first plans the ranges.
      auto sessions = co_await vtiger::open_sessions(context, static_cast<std::size_t>(workers), true);
      std::vector<db_session> dbs;
      dbs.reserve(static_cast<std::size_t>(workers));
      for (int i = 0; i < workers; ++i) dbs.push_back(co_await open_db(ex, *settings, i == 0));
      for (const auto& module : chosen) {
        if (stop) break;
        auto table = co_await sync::prepare_mirror_table(sessions[0], *dbs[0].store, module);
        sync::module_puller puller{sessions[0], *dbs[0].store, std::move(table),
                                   pull_settings_from(*settings)};
        puller.set_stop_check([&] { return stop; });
        std::uint64_t total = 0;
        if (since.empty()) total = co_await puller.remote_count();
        progress_reporter progress{module, total};
        std::uint64_t done = 0;
        if (!since.empty()) {
          const auto stats = co_await puller.pull_changes(since);
          done = stats.fetched;
        } else {
          std::vector<sync::module_puller::worker> w;
          w.reserve(static_cast<std::size_t>(workers));
          for (int i = 0; i < workers; ++i)
            w.push_back(
                {&sessions[static_cast<std::size_t>(i)], dbs[static_cast<std::size_t>(i)].store.get()});
          (void)co_await puller.backfill(w, [&](std::uint64_t n) {
            done = n;
            progress.update(n);
          });
        }
        if (stop) break;
        progress.finish(done);
      }
      {
        // The sessions log out at once (one round trip each, which adds up at --parallel K).
        asio::steady_timer all_out{ex, std::chrono::steady_clock::time_point::max()};
        std::size_t left = sessions.size();
        std::exception_ptr logout_failure;
        for (auto& s : sessions) {
          asio::co_spawn(ex, s.logout(), [&](const std::exception_ptr& e) {
            if (e && !logout_failure) logout_failure = e;
            if (--left == 0) all_out.cancel();
          });
        }
        if (left > 0) (void)co_await all_out.async_wait(asio::as_tuple(asio::use_awaitable));
        if (logout_failure) std::rethrow_exception(logout_failure);
      }
      signals.cancel();
      co_return !stop;
    });
    return complete ? exit_ok : exit_tempfail;
  } catch (const std::exception& e) {
    spdlog::error("backfill failed: {}", e.what());
    return exit_unavailable;
  }
}

int run_status(const common_options& opts, bool as_json) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  if (opts.log_level.empty()) settings->log.level = "warn";
  setup_logging(settings->log);
  asio::io_context io{1};
  try {
    const json status = run_on_loop<json>(io, [&]() -> asio::awaitable<json> {
      auto first = co_await open_db(co_await asio::this_coro::executor, *settings, true);
      json modules = json::object();
      json leases = json::object();
      std::vector<config::settings> instances = settings->instances;
      if (instances.empty()) instances.push_back(*settings);
      for (const auto& inst : instances) {
        const std::string prefix = instances.size() > 1 ? inst.vtiger.name + "/" : "";
        storage::store instance_store{*first.conn, state_options_from(inst)};
        struct {
          storage::connection* conn;
          storage::store* store;
        } db{first.conn.get(), &instance_store};
        const auto cursors = co_await db.store->load_cursors();
        // Who works what: the holders of the leases (pg_locks; storage/lease.hpp).
        const auto state_schema = db.store->options().state_schema;
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
          for (const auto& c : cursors) {
            if (c.module != module) continue;
            if (c.position)
              m["cursor"] =
                  c.position->modifiedtime + (c.position->last_id.empty() ? "" : " " + c.position->last_id);
            if (c.last_success_at) m["last_success"] = *c.last_success_at;
          }
          const auto counts = co_await db.store->count_outbox(module);
          const auto holder = co_await storage::lease_holder(
              *db.conn, storage::lease_key(state_schema, inst.postgres.schema, "pull:" + module));
          m["holder"] = holder ? json(*holder) : json(nullptr);
          leases[std::string{"pull:"}.append(prefix).append(module)] = m["holder"];
          m["pending"] = counts.pending + counts.in_flight;
          m["failed"] = counts.failed;
          const std::string lag_sql = "SELECT extract(epoch FROM now() - last_success_at)::bigint FROM " +
                                      storage::quote_ident(db.store->options().state_schema) +
                                      ".cursors WHERE schema_name = $1 AND module = $2";
          auto lag = co_await db.conn->query(lag_sql, storage::params(inst.postgres.schema, module));
          m["lag_seconds"] = lag.rows() > 0 && !lag.is_null(0, 0)
                                 ? json(std::stoll(std::string{lag.value(0, 0)}))
                                 : json(nullptr);
          modules[prefix + module] = m;
        }
      }
      first.conn->close();
      co_return json{{"modules", modules}, {"leases", leases}};
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
    }
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd status: " << e.what() << '\n';
    return exit_unavailable;
  }
}

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
        auto table = co_await sync::prepare_mirror_table(client, *db.store, module);
        sync::module_puller puller{client, *db.store, std::move(table), pull_settings_from(*settings)};
        const bool found = co_await puller.resync_record(id);
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

int run_retry(const common_options& opts, const std::string& module) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  if (opts.log_level.empty()) settings->log.level = "warn";
  setup_logging(settings->log);
  asio::io_context io{1};
  try {
    const auto count = run_on_loop<std::size_t>(io, [&]() -> asio::awaitable<std::size_t> {
      auto db = co_await open_db(co_await asio::this_coro::executor, *settings, true);
      const auto n = co_await db.store->retry_failed(module);
      // Wake a running daemon's push engine.
      const std::string channel{storage::outbox_channel};
      (void)co_await db.conn->query("SELECT pg_notify($1, 'retry')", storage::params(channel));
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

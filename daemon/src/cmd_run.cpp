// vtsyncd run: the daemon. One io_context thread runs everything: one pull loop per module (each with its
// own Vtiger session and PostgreSQL connection, all under one in-flight request limit), the push engine,
// the health endpoint, the systemd watchdog and the signal handling.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <random>

#include "commands.hpp"
#include "runtime.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/daemon/health_server.hpp"
#include "vtsync/daemon/signals.hpp"
#include "vtsync/daemon/systemd_notify.hpp"
#include "vtsync/config/duration.hpp"
#include "vtsync/storage/conninfo.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;
using nlohmann::json;
using clock_type = std::chrono::system_clock;

namespace {

struct module_state {
  std::optional<clock_type::time_point> last_success;
  std::string last_error;
  std::uint64_t cycles = 0;
  std::uint64_t records = 0;
  std::string cursor;
  bool sync_supported = false;
  std::unique_ptr<asio::steady_timer> sleeper;
};

std::string iso_time(clock_type::time_point t) {
  const std::time_t tt = clock_type::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class daemon_app {
 public:
  daemon_app(asio::io_context& io, config::settings settings)
      : io_(io), settings_(std::move(settings)), metrics_(settings_.sync.modules) {
    for (const auto& m : settings_.sync.modules) modules_[m];
  }

  int exit_code() const { return exit_code_; }

  void start() {
    health_state hs;
    hs.readiness_provider = [this] { return readiness_now(); };
    hs.status_provider = [this] { return status_now(); };
    hs.metrics_provider = [this] { return metrics_.render(); };
    health_server_options ho;
    ho.listen = settings_.health.listen;
    try {
      health_ = std::make_unique<health_server>(io_.get_executor(), ho, std::move(hs));
    } catch (const std::exception& e) {
      spdlog::critical("cannot listen on {} for the health endpoint: {}", settings_.health.listen, e.what());
      exit_code_ = exit_unavailable;
      return;
    }
    health_->start();
    const auto ep = health_->local_endpoint();
    spdlog::info("health endpoint listening on {}:{}", ep.address().to_string(), ep.port());

    signal_callbacks callbacks;
    callbacks.on_stop = [this](int signo) { request_stop(signo); };
    callbacks.on_force_stop = [this](int) {
      spdlog::warn("second stop signal: stopping now");
      io_.stop();
    };
    callbacks.on_reload = [this] { reload(); };
    signals_ = std::make_unique<signal_handler>(io_.get_executor(), std::move(callbacks));
    signals_->start();

    asio::co_spawn(io_, main(), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::critical("daemon stopped by an unexpected error: {}", ex.what());
        }
        exit_code_ = exit_software;
      }
      shutdown();
    });
  }

 private:
  asio::awaitable<void> main() {
    notifier_.status("connecting to PostgreSQL");
    // PostgreSQL first: without it nothing can be stored. Retry until it answers or we are stopped.
    for (int attempt = 1; !stopping_; ++attempt) {
      std::string problem;
      try {
        auto db = co_await open_db(io_.get_executor(), settings_, true);
        db.conn->close();
        pg_reached_ = true;
        break;
      } catch (const std::exception& e) {
        problem = e.what();
      }
      spdlog::error("postgres {}: {} (attempt {})", storage::scrub_conninfo(settings_.postgres.conninfo),
                    problem, attempt);
      co_await sleep_for(std::chrono::seconds{std::min(attempt, 30)}, nullptr);
    }
    if (stopping_) co_return;
    notifier_.ready();
    notifier_.status("running: " + std::to_string(settings_.sync.modules.size()) + " module(s)");
    notifier_.start_watchdog(io_.get_executor());
    spdlog::info("vtsyncd ready: {} module(s), poll every {}", settings_.sync.modules.size(),
                 config::format_duration(settings_.sync.poll_interval));

    context_ = make_vtiger_context(io_.get_executor(), settings_, &metrics_);
    running_loops_ = settings_.sync.modules.size() + 1;
    std::vector<std::pair<std::string, asio::awaitable<void>>> loops;
    for (const auto& module : settings_.sync.modules) loops.emplace_back(module, module_loop(module));
    loops.emplace_back("push", push_loop());
    for (auto& [module, loop] : loops) {
      asio::co_spawn(io_, std::move(loop), [this, module = module](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::error("{} loop ended by an error: {}", module, ex.what());
          }
        }
        if (--running_loops_ == 0 && all_loops_done_) all_loops_done_->cancel();
      });
    }
    // Wait until every loop has ended (after a stop request).
    all_loops_done_ = std::make_unique<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    if (running_loops_ > 0) (void)co_await all_loops_done_->async_wait(asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> module_loop(std::string module) {
    auto& state = modules_[module];
    state.sleeper = std::make_unique<asio::steady_timer>(io_);
    vtiger::client client{context_};
    std::optional<db_session> db;
    std::unique_ptr<sync::module_puller> puller;
    auto next_deletion_scan = std::chrono::steady_clock::now();
    std::mt19937 rng{std::random_device{}()};

    while (!stopping_) {
      const auto cycle = ++state.cycles;
      const auto started = std::chrono::steady_clock::now();
      try {
        if (!db) db = co_await open_db(io_.get_executor(), settings_, false);
        if (!puller) {
          auto table = co_await sync::prepare_mirror_table(client, *db->store, module);
          sync::pull_observer observer;
          observer.on_records = [this, &state](std::string_view m, std::size_t n) {
            metrics_.records_pulled(m).inc(static_cast<double>(n));
            state.records += n;
          };
          tables_[module] = table;
          puller = std::make_unique<sync::module_puller>(client, *db->store, std::move(table),
                                                         pull_settings_from(settings_), std::move(observer));
          puller->set_stop_check([this] { return stopping_; });
          co_await puller->probe_sync();
          state.sync_supported = puller->sync_supported();
          if (co_await puller->unfinished_backfill()) {
            spdlog::info("module={} finishing a backfill that was interrupted", module);
            const std::vector<sync::module_puller::worker> one{{&client, db->store.get()}};
            (void)co_await puller->backfill(one, nullptr);
          }
        }
        vtiger_reached_ = true;
        const auto stats = co_await puller->pull_changes();
        if (std::chrono::steady_clock::now() >= next_deletion_scan && !stopping_) {
          const auto deleted = co_await puller->detect_deletions();
          if (deleted > 0)
            spdlog::info("module={} cycle={} {} remote deletion(s) applied", module, cycle, deleted);
          next_deletion_scan = std::chrono::steady_clock::now() + settings_.sync.deletion_scan_interval;
        }
        const auto cursor = co_await db->store->load_cursor(module);
        if (cursor) state.cursor = cursor->modifiedtime + " " + cursor->last_id;
        state.last_success = clock_type::now();
        state.last_error.clear();
        metrics_.last_success_timestamp(module).set_to_current_time();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        metrics_.cycle_duration(module).observe(seconds);
        if (stats.fetched > 0) {
          spdlog::info(
              "module={} cycle={} fetched={} inserted={} updated={} unchanged={} queries={} in {:.3f}s",
              module, cycle, stats.fetched, stats.inserted, stats.updated, stats.unchanged, stats.queries,
              seconds);
        } else {
          spdlog::debug("module={} cycle={} nothing new ({} query)", module, cycle, stats.queries);
        }
      } catch (const storage::pg_error& e) {
        state.last_error = std::string{"postgres: "} + e.what();
        spdlog::error("module={} cycle={} postgres: {}", module, cycle, e.what());
        puller.reset();  // it refers to the store: drop it first
        db.reset();
      } catch (const std::exception& e) {
        state.last_error = e.what();
        spdlog::error("module={} cycle={} {}", module, cycle, e.what());
      }
      // Poll interval plus up to 10% jitter, so modules and daemons do not move in lockstep.
      const auto interval = settings_.sync.poll_interval;
      std::uniform_int_distribution<long> jitter(0,
                                                 std::max<long>(1, static_cast<long>(interval.count() / 10)));
      const auto wait = interval + std::chrono::milliseconds{jitter(rng)};
      if (!stopping_) co_await sleep_for(wait, state.sleeper.get());
    }
    if (db) db->conn->close();
  }

  // Local changes back to Vtiger: once every module's table exists, the push engine drains the outbox on
  // each notification (and on a slow fallback poll) until stop.
  asio::awaitable<void> push_loop() {
    while (!stopping_ && tables_.size() < modules_.size())
      co_await sleep_for(std::chrono::milliseconds{200}, nullptr);
    for (int attempt = 1; !stopping_; ++attempt) {
      std::string problem;
      try {
        vtiger::client client{context_};
        auto db = co_await open_db(io_.get_executor(), settings_, false);
        storage::connection notify{io_.get_executor(), connection_options_from(settings_)};
        sync::push_settings ps;
        ps.default_assigned_user_id = settings_.sync.default_assigned_user_id;
        ps.idempotency_field = settings_.sync.idempotency_field;
        ps.conflicts = settings_.sync.conflicts == config::conflict_policy::local_wins
                           ? sync::conflict_policy::local_wins
                       : settings_.sync.conflicts == config::conflict_policy::newest_wins
                           ? sync::conflict_policy::newest_wins
                           : sync::conflict_policy::remote_wins;
        sync::push_observer po;
        po.on_pushed = [this](std::string_view m, std::string_view op) {
          metrics_.records_pushed(m, op).inc();
        };
        po.on_failed = [this](std::string_view m) { metrics_.push_failures(m).inc(); };
        po.on_pending = [this](std::int64_t n) { metrics_.outbox_pending().set(static_cast<double>(n)); };
        pusher_ = std::make_unique<sync::pusher>(client, notify, *db.store, tables_, ps, po);
        if (stopping_) pusher_->stop();
        co_await pusher_->run();
        pusher_.reset();
        db.conn->close();
        co_return;
      } catch (const std::exception& e) {
        problem = e.what();
      }
      pusher_.reset();
      spdlog::error("push: {} (attempt {})", problem, attempt);
      co_await sleep_for(std::chrono::seconds{std::min(attempt, 30)}, nullptr);
    }
  }

  asio::awaitable<void> sleep_for(std::chrono::milliseconds d, asio::steady_timer* timer) {
    asio::steady_timer local{io_};
    auto& t = timer != nullptr ? *timer : local;
    t.expires_after(d);
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  void request_stop(int signo) {
    if (stopping_) return;
    stopping_ = true;
    spdlog::info("signal {}: stopping (finishing the current page, at most {}s)", signo, grace_.count());
    notifier_.stopping();
    for (auto& [name, state] : modules_) {
      if (state.sleeper) state.sleeper->cancel();
    }
    if (pusher_) pusher_->stop();
    // Past the grace period, stop hard: open transactions roll back, every stored page is complete.
    grace_timer_ = std::make_unique<asio::steady_timer>(io_, grace_);
    grace_timer_->async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      spdlog::warn("grace period over: abandoning the work in progress");
      io_.stop();
    });
  }

  void shutdown() {
    if (grace_timer_) grace_timer_->cancel();
    notifier_.stop_watchdog();
    if (health_) health_->stop();
    if (signals_) signals_->stop();
    spdlog::info("vtsyncd stopped");
  }

  void reload() {
    notifier_.reloading();
    try {
      auto next = config::load(settings_.source_file);
      for (const auto& key : config::restart_required_changes(settings_, next)) {
        spdlog::warn("reload: {} changed; it takes effect after a restart", key);
      }
      // Keys marked reloadable take effect now; the rest keep their running values.
      settings_.log = next.log;
      settings_.sync.poll_interval = next.sync.poll_interval;
      settings_.sync.overlap = next.sync.overlap;
      settings_.sync.deletion_scan_interval = next.sync.deletion_scan_interval;
      settings_.sync.conflicts = next.sync.conflicts;
      settings_.sync.on_remote_delete = next.sync.on_remote_delete;
      settings_.sync.default_assigned_user_id = next.sync.default_assigned_user_id;
      settings_.sync.backfill_parallel = next.sync.backfill_parallel;
      spdlog::set_level(spdlog::level::from_str(settings_.log.level));
      spdlog::info("configuration reloaded from {}", settings_.source_file);
    } catch (const config::config_error& e) {
      spdlog::error("reload refused, keeping the running configuration: {}", e.what());
    }
    notifier_.ready();
  }

  readiness readiness_now() const {
    readiness r;
    json checks = json::object();
    checks["postgres"] = pg_reached_;
    checks["vtiger"] = vtiger_reached_;
    const auto now = clock_type::now();
    const auto limit = 3 * settings_.sync.poll_interval;
    std::vector<std::string> stale;
    for (const auto& [name, state] : modules_) {
      const bool fresh = state.last_success && now - *state.last_success <= limit;
      checks["modules"][name] = fresh;
      if (!fresh) stale.push_back(name);
    }
    r.details = {{"checks", checks}};
    if (stopping_) {
      r.reason = "draining: stopping";
    } else if (!pg_reached_) {
      r.reason = "PostgreSQL not reached yet";
    } else if (!vtiger_reached_) {
      r.reason = "Vtiger not reached yet";
    } else if (!stale.empty()) {
      std::string list;
      for (const auto& s : stale) list += (list.empty() ? "" : ", ") + s;
      r.reason = "no successful sync within 3 poll intervals: " + list;
    } else {
      r.ready = true;
    }
    return r;
  }

  json status_now() const {
    json modules = json::object();
    const auto now = clock_type::now();
    for (const auto& [name, state] : modules_) {
      json m;
      m["cursor"] = state.cursor;
      m["last_success"] = state.last_success ? json(iso_time(*state.last_success)) : json(nullptr);
      m["lag_seconds"] =
          state.last_success
              ? json(std::chrono::duration_cast<std::chrono::seconds>(now - *state.last_success).count())
              : json(nullptr);
      m["cycles"] = state.cycles;
      m["records_pulled"] = state.records;
      m["sync_operation"] = state.sync_supported;
      m["last_error"] = state.last_error;
      modules[name] = m;
    }
    return json{{"modules", modules},
                {"postgres_reached", pg_reached_},
                {"vtiger_reached", vtiger_reached_},
                {"draining", stopping_},
                {"outbox_pending", metrics_.outbox_pending().value()}};
  }

  asio::io_context& io_;
  config::settings settings_;
  mutable metrics metrics_;
  systemd_notifier notifier_;
  std::unique_ptr<health_server> health_;
  std::unique_ptr<signal_handler> signals_;
  std::shared_ptr<vtiger::client_context> context_;
  std::map<std::string, module_state> modules_;
  std::map<std::string, storage::mirror_table> tables_;
  std::unique_ptr<sync::pusher> pusher_;
  std::unique_ptr<asio::steady_timer> all_loops_done_;
  std::unique_ptr<asio::steady_timer> grace_timer_;
  std::chrono::seconds grace_{10};
  std::size_t running_loops_ = 0;
  bool stopping_ = false;
  bool pg_reached_ = false;
  bool vtiger_reached_ = false;
  int exit_code_ = exit_ok;
};

}  // namespace

int run_daemon(const common_options& opts) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  setup_logging(settings->log);
  if (!settings->vtiger.verify_tls) {
    spdlog::warn(
        "vtiger.verify_tls = false: the Vtiger server's certificate is NOT checked; anyone on the path "
        "can read and change the data. Use ca_file for a private CA instead.");
  }
  asio::io_context io{1};
  daemon_app app{io, *settings};
  app.start();
  io.run();
  return app.exit_code();
}

}  // namespace vtsync::daemon

// vtsyncd run: the daemon. One io_context thread runs everything: one pull loop per module (each with its
// own Vtiger session and PostgreSQL connection, all under one in-flight request limit), the push engine,
// the health endpoint, the systemd watchdog and the signal handling.
//
// High availability (storage/lease.hpp): every module's pull and the instance's push are leased through a
// PostgreSQL session-level advisory lock, held on the very connection that loop then writes on (opened
// with reconnect = false). Any number of daemons may run one configuration against one database: the
// holder works, the others are hot standbys that retry the lock every half poll interval (at most 5 s). A
// holder that loses its connection loses the lock with it and cannot write any more; it goes back to
// standby. The next holder starts from the committed cursor, and puts the outbox entries the old holder
// left in flight back to pending (the push engine's start-up path: creates are looked up through the
// idempotency field before being sent again).
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
#include "vtsync/storage/lease.hpp"

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
  bool leased = false;  // this daemon holds the module's lease and works it
  std::string holder;   // who holds the lease ("host:pid"), "" when unknown or nobody
  std::optional<clock_type::time_point> lease_checked;  // last time the lease was held or found taken
  std::unique_ptr<asio::steady_timer> sleeper;
};

// One Vtiger instance of the configuration (the single [vtiger] form: one, with unit names as before).
struct instance {
  config::settings settings;  // the file's settings with this instance's [vtiger], schema and modules
  std::string prefix;         // "" for a single instance, "<name>/" with several
  std::shared_ptr<vtiger::client_context> context;
  std::map<std::string, storage::mirror_table> tables;
  std::unique_ptr<sync::pusher> pusher;
  bool push_leased = false;
  std::string push_holder;
  std::optional<clock_type::time_point> push_checked;
};

std::vector<std::string> all_modules(const config::settings& s) {
  std::vector<std::string> out;
  for (const auto& one : s.instances) {
    for (const auto& m : one.sync.modules) {
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  if (out.empty()) out = s.sync.modules;
  return out;
}

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
      : io_(io), settings_(std::move(settings)), metrics_(all_modules(settings_)) {
    if (settings_.instances.empty()) settings_.instances.push_back(settings_);
    for (const auto& one : settings_.instances) {
      auto inst = std::make_unique<instance>();
      inst->settings = one;
      inst->settings.instances.clear();
      if (settings_.instances.size() > 1) inst->prefix = one.vtiger.name + "/";
      for (const auto& m : one.sync.modules) modules_[inst->prefix + m];
      instances_.push_back(std::move(inst));
    }
    identity_ = storage::process_identity();
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

    asio::co_spawn(io_, main(), [this](const std::exception_ptr& e) {
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
    notifier_.status("running: " + std::to_string(modules_.size()) + " module(s)");
    notifier_.start_watchdog(io_.get_executor());
    spdlog::info("vtsyncd ready: {} instance(s), {} module(s), poll every {}", instances_.size(),
                 modules_.size(), config::format_duration(settings_.sync.poll_interval));

    std::vector<std::pair<std::string, asio::awaitable<void>>> loops;
    for (auto& inst : instances_) {
      inst->context = make_vtiger_context(io_.get_executor(), inst->settings, &metrics_);
      for (const auto& module : inst->settings.sync.modules)
        loops.emplace_back(inst->prefix + module, module_loop(*inst, module));
      loops.emplace_back(inst->prefix + "push", push_loop(*inst));
    }
    running_loops_ = loops.size();
    for (auto& [module, loop] : loops) {
      asio::co_spawn(io_, std::move(loop), [this, module = module](const std::exception_ptr& e) {
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

  asio::awaitable<void> module_loop(instance& inst, std::string module) {
    auto& state = modules_[inst.prefix + module];
    state.sleeper = std::make_unique<asio::steady_timer>(io_);
    vtiger::client client{inst.context};
    std::optional<db_session> db;  // holds the module's lease: every write of this module goes through it
    std::optional<storage::mirror_table> table;
    std::unique_ptr<sync::module_puller> puller;
    auto next_deletion_scan = std::chrono::steady_clock::now();
    std::mt19937 rng{std::random_device{}()};
    const auto key = lease_key_for(inst, "pull:" + module);

    while (!stopping_) {
      const auto started = std::chrono::steady_clock::now();
      auto cycle = state.cycles;
      try {
        if (!db) {
          db = co_await open_lease_db(inst);
          state.leased = false;
        }
        // Every daemon prepares the table (safe concurrently: DDL under its own advisory lock), so that a
        // standby's push side knows the tables too.
        if (!table) {
          table = co_await sync::prepare_mirror_table(client, *db->store, module);
          inst.tables[module] = *table;
        }
        if (!state.leased) {
          if (co_await storage::try_acquire_lease(*db->conn, key, identity_)) {
            state.leased = true;
            state.holder = identity_;
            spdlog::info("module={} lease acquired: {} works it now", module, identity_);
          } else {
            const auto holder = co_await storage::lease_holder(*db->conn, key);
            if (state.holder != holder.value_or("")) {
              spdlog::info("module={} standby: the lease is held by {}", module, holder.value_or("?"));
            }
            state.holder = holder.value_or("");
          }
          state.lease_checked = clock_type::now();
        }
        vtiger_reached_ = true;
      } catch (const storage::pg_error& e) {
        state.last_error = std::string{"postgres: "} + e.what();
        spdlog::error("module={} postgres: {}", module, e.what());
        table.reset();
        db.reset();
        state.leased = false;
        state.holder.clear();
      } catch (const std::exception& e) {
        state.last_error = e.what();
        spdlog::error("module={} {}", module, e.what());
      }
      if (!state.leased) {
        if (!stopping_) co_await sleep_for(lease_retry_interval(), state.sleeper.get());
        continue;
      }
      cycle = ++state.cycles;
      try {
        if (!puller) {
          sync::pull_observer observer;
          observer.on_records = [this, &state](std::string_view m, std::size_t n) {
            metrics_.records_pulled(m).inc(static_cast<double>(n));
            state.records += n;
          };
          puller = std::make_unique<sync::module_puller>(
              client, *db->store, *table, pull_settings_from(inst.settings), std::move(observer));
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
        table.reset();
        db.reset();
        if (state.leased) {
          // The lease went with the connection (or may have): stop writing, wait for it again.
          spdlog::warn("module={} lease given up with its PostgreSQL session; standby until it is free",
                       module);
          state.leased = false;
          state.holder.clear();
        }
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

  // Local changes back to Vtiger: once every module's table exists and this daemon holds the instance's
  // push lease, the push engine drains the outbox on each notification (and on a slow fallback poll) until
  // stop, or until the lease's connection is lost (then back to waiting for the lease).
  asio::awaitable<void> push_loop(instance& inst) {
    while (!stopping_ && inst.tables.size() < inst.settings.sync.modules.size())
      co_await sleep_for(std::chrono::milliseconds{200}, nullptr);
    const auto key = lease_key_for(inst, "push");
    for (int attempt = 1; !stopping_;) {
      std::string problem;
      try {
        auto db = co_await open_lease_db(inst);
        inst.push_leased = false;
        while (!stopping_) {
          if (co_await storage::try_acquire_lease(*db.conn, key, identity_)) break;
          const auto holder = co_await storage::lease_holder(*db.conn, key);
          if (inst.push_holder != holder.value_or("")) {
            spdlog::info("{}push standby: the lease is held by {}", inst.prefix, holder.value_or("?"));
          }
          inst.push_holder = holder.value_or("");
          inst.push_checked = clock_type::now();
          co_await sleep_for(lease_retry_interval(), nullptr);
        }
        if (stopping_) {
          db.conn->close();
          co_return;
        }
        inst.push_leased = true;
        inst.push_holder = identity_;
        inst.push_checked = clock_type::now();
        spdlog::info("{}push lease acquired: {} pushes local changes now", inst.prefix, identity_);
        vtiger::client client{inst.context};
        storage::connection notify{io_.get_executor(), connection_options_from(inst.settings)};
        const sync::push_settings ps = push_settings_from(inst.settings);
        sync::push_observer po;
        po.on_pushed = [this](std::string_view m, std::string_view op) {
          metrics_.records_pushed(m, op).inc();
        };
        po.on_failed = [this](std::string_view m) { metrics_.push_failures(m).inc(); };
        po.on_pending = [this](std::int64_t n) { metrics_.outbox_pending().set(static_cast<double>(n)); };
        inst.pusher = std::make_unique<sync::pusher>(client, notify, *db.outbox, inst.tables, ps, po);
        if (stopping_) inst.pusher->stop();
        // The engine retries storage failures itself; a lost lease connection must end it instead.
        auto alive = std::make_shared<bool>(true);
        bool lost = false;
        asio::co_spawn(
            io_,
            [this, alive, &lost, &inst, conn = db.conn.get()]() -> asio::awaitable<void> {
              asio::steady_timer t{io_};
              while (*alive) {
                t.expires_after(std::chrono::milliseconds{250});
                (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                if (!*alive) break;
                if (!conn->is_open()) {
                  lost = true;
                  if (inst.pusher) inst.pusher->stop();
                  break;
                }
              }
            },
            asio::detached);
        co_await inst.pusher->run();
        *alive = false;
        inst.pusher.reset();
        db.conn->close();
        inst.push_leased = false;
        inst.push_holder.clear();
        if (!lost) co_return;
        spdlog::warn("push lease given up with its PostgreSQL session; standby until it is free");
        attempt = 1;
        continue;
      } catch (const std::exception& e) {
        problem = e.what();
      }
      inst.pusher.reset();
      inst.push_leased = false;
      inst.push_holder.clear();
      spdlog::error("push: {} (attempt {})", problem, attempt);
      co_await sleep_for(std::chrono::seconds{std::min(attempt, 30)}, nullptr);
      ++attempt;
    }
  }

  // A connection for a lease and the writes it guards: never reopened once lost (lease.hpp).
  asio::awaitable<db_session> open_lease_db(const instance& inst) {
    auto options = connection_options_from(inst.settings);
    options.reconnect = false;
    options.application_name = "vtsyncd " + identity_;
    db_session db;
    db.conn = std::make_unique<storage::connection>(io_.get_executor(), options);
    co_await db.conn->connect();
    db.store = std::make_unique<storage::store>(*db.conn, state_options_from(inst.settings));
    db.outbox = std::make_unique<storage::outbox>(*db.conn, state_options_from(inst.settings));
    co_return db;
  }

  std::int64_t lease_key_for(const instance& inst, const std::string& what) const {
    return storage::lease_key(state_options_from(inst.settings).state_schema, inst.settings.postgres.schema,
                              what);
  }

  // How often a standby tries the lease: half a poll interval, between 100 ms and 5 s, so that a takeover
  // happens well within two poll intervals.
  std::chrono::milliseconds lease_retry_interval() const {
    return std::clamp(settings_.sync.poll_interval / 2, std::chrono::milliseconds{100},
                      std::chrono::milliseconds{5000});
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
    for (auto& inst : instances_) {
      if (inst->pusher) inst->pusher->stop();
    }
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
      // The reloadable [sync] keys every instance shares (default_assigned_user_id may differ per instance).
      const auto take_shared = [&next](config::sync_settings& to) {
        to.poll_interval = next.sync.poll_interval;
        to.overlap = next.sync.overlap;
        to.deletion_scan_interval = next.sync.deletion_scan_interval;
        to.conflicts = next.sync.conflicts;
        to.on_remote_delete = next.sync.on_remote_delete;
        to.backfill_parallel = next.sync.backfill_parallel;
      };
      settings_.log = next.log;
      take_shared(settings_.sync);
      settings_.sync.default_assigned_user_id = next.sync.default_assigned_user_id;
      for (auto& inst : instances_) {
        auto& is = inst->settings.sync;
        take_shared(is);
        if (instances_.size() == 1) is.default_assigned_user_id = next.sync.default_assigned_user_id;
        for (const auto& one : next.instances) {
          if (instances_.size() > 1 && one.vtiger.name == inst->settings.vtiger.name)
            is.default_assigned_user_id = one.sync.default_assigned_user_id;
        }
      }
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
    // A hot standby is ready: it is healthy and able to take over. For a module this daemon does not hold,
    // "fresh" means the lease was looked at recently (PostgreSQL answers, the holder is known).
    for (const auto& [name, state] : modules_) {
      const bool fresh = state.leased ? state.last_success && now - *state.last_success <= limit
                                      : state.lease_checked && now - *state.lease_checked <= limit;
      checks["modules"][name] = fresh;
      if (!fresh) stale.push_back(name);
    }
    r.details = {{"checks", checks}, {"role", role()}, {"identity", identity_}, {"leases", leases_json()}};
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
      m["lease"] = state.leased ? "held" : "standby";
      m["holder"] = state.holder.empty() ? json(nullptr) : json(state.holder);
      modules[name] = m;
    }
    return json{{"modules", modules},
                {"role", role()},
                {"identity", identity_},
                {"leases", leases_json()},
                {"postgres_reached", pg_reached_},
                {"vtiger_reached", vtiger_reached_},
                {"draining", stopping_},
                {"outbox_pending", metrics_.outbox_pending().value()}};
  }

  // "active" when this daemon holds at least one lease, "standby" otherwise.
  std::string role() const {
    bool any = false;
    for (const auto& inst : instances_) any = any || inst->push_leased;
    for (const auto& [name, state] : modules_) any = any || state.leased;
    return any ? "active" : "standby";
  }

  // Who holds what, as this daemon last saw it: {"pull:Contacts": {"holder": "host:pid", "mine": true}}.
  json leases_json() const {
    json out = json::object();
    for (const auto& [name, state] : modules_) {
      out["pull:" + name] = {{"holder", state.holder.empty() ? json(nullptr) : json(state.holder)},
                             {"mine", state.leased}};
    }
    for (const auto& inst : instances_) {
      const std::string name =
          inst->prefix.empty() ? "push" : "push:" + inst->prefix.substr(0, inst->prefix.size() - 1);
      out[name] = {{"holder", inst->push_holder.empty() ? json(nullptr) : json(inst->push_holder)},
                   {"mine", inst->push_leased}};
    }
    return out;
  }

  asio::io_context& io_;
  config::settings settings_;
  std::string identity_;
  std::vector<std::unique_ptr<instance>> instances_;
  mutable metrics metrics_;
  systemd_notifier notifier_;
  std::unique_ptr<health_server> health_;
  std::unique_ptr<signal_handler> signals_;
  std::map<std::string, module_state> modules_;
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

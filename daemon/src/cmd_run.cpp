// vtsyncd run: the daemon. One io_context thread runs everything: one pull loop per module (each with its
// own Vtiger session and PostgreSQL connection, all under one in-flight request limit; pull_loop.cpp), one
// push loop per Vtiger instance (push_loop.cpp), the health endpoint (run_status.cpp), the systemd
// watchdog and the signal handling. Each pull and each push is leased, so that several daemons can run one
// configuration against one database (leased_loop.hpp). This file wires them together: start, stop and
// reload.
#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "commands.hpp"
#include "pull_loop.hpp"
#include "push_loop.hpp"
#include "run_state.hpp"
#include "run_status.hpp"
#include "runtime.hpp"
#include "vtsync/config/duration.hpp"
#include "vtsync/daemon/health_server.hpp"
#include "vtsync/daemon/signals.hpp"
#include "vtsync/daemon/systemd_notify.hpp"
#include "vtsync/storage/conninfo.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

class daemon_app {
 public:
  daemon_app(asio::io_context& io, config::settings settings) : io_(io), run_(io, std::move(settings)) {}

  int exit_code() const { return exit_code_; }

  void start() {
    health_server_options ho;
    ho.listen = run_.settings.health.listen;
    try {
      health_ = std::make_unique<health_server>(io_.get_executor(), ho, health_of(run_));
    } catch (const std::exception& e) {
      spdlog::critical("cannot listen on {} for the health endpoint: {}", run_.settings.health.listen,
                       e.what());
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
    for (int attempt = 1; !run_.stopping; ++attempt) {
      std::string problem;
      try {
        auto db = co_await open_db(io_.get_executor(), run_.settings, true);
        db.conn->close();
        run_.pg_reached = true;
        break;
      } catch (const std::exception& e) {
        problem = e.what();
      }
      spdlog::error("postgres {}: {} (attempt {})", storage::scrub_conninfo(run_.settings.postgres.conninfo),
                    problem, attempt);
      co_await sleep_for(std::chrono::seconds{std::min(attempt, 30)}, nullptr);
    }
    if (run_.stopping) co_return;
    notifier_.ready();
    notifier_.status("running: " + std::to_string(run_.modules.size()) + " module(s)");
    notifier_.start_watchdog(io_.get_executor());
    spdlog::info("vtsyncd ready: {} instance(s), {} module(s), poll every {}", run_.instances.size(),
                 run_.modules.size(), config::format_duration(run_.settings.sync.poll_interval));

    std::vector<std::pair<std::string, asio::awaitable<void>>> loops;
    for (auto& inst : run_.instances) {
      inst->context = make_vtiger_context(io_.get_executor(), inst->settings, &run_.meters);
      for (const auto& module : inst->settings.sync.modules)
        loops.emplace_back(inst->prefix + module, pull_loop(run_, *inst, module));
      loops.emplace_back(inst->prefix + "push", push_loop(run_, *inst));
    }
    all_loops_done_ = std::make_unique<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    for (auto& [module, loop] : loops) spawn_loop(module, std::move(loop));
    loops_started_ = true;
    // Wait until every loop has ended (after a stop request).
    if (running_loops_ > 0) (void)co_await all_loops_done_->async_wait(asio::as_tuple(asio::use_awaitable));
  }

  void spawn_loop(const std::string& name, asio::awaitable<void> loop) {
    ++running_loops_;
    asio::co_spawn(io_, std::move(loop), [this, name](const std::exception_ptr& e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("{} loop ended by an error: {}", name, ex.what());
        }
      }
      if (--running_loops_ == 0 && all_loops_done_) all_loops_done_->cancel();
    });
  }

  // After a reload: the pulls of modules added to an instance start (the table is made by the loop's
  // prepare, as at start-up); those of removed modules end after their current cycle.
  void apply_module_changes(instance& inst, const std::vector<std::string>& before) {
    const auto& now = inst.settings.sync.modules;
    auto listed = [](const std::vector<std::string>& v, const std::string& m) {
      return std::find(v.begin(), v.end(), m) != v.end();
    };
    for (const auto& m : before) {
      if (listed(now, m)) continue;
      auto& state = run_.modules[inst.prefix + m];
      state.removed = true;
      if (state.sleeper) state.sleeper->cancel();
    }
    for (const auto& m : now) {
      if (listed(before, m)) continue;
      auto& state = run_.modules[inst.prefix + m];
      state.removed = false;
      if (state.running) continue;  // removed and added back before its loop ended: it goes on
      spdlog::info("module={} added to sync.modules: starting its pull", m);
      spawn_loop(inst.prefix + m, pull_loop(run_, inst, m));
    }
  }

  void request_stop(int signo) {
    if (run_.stopping) return;
    run_.stopping = true;
    spdlog::info("signal {}: stopping (finishing the current page, at most {}s)", signo, grace_.count());
    notifier_.stopping();
    for (auto& [name, state] : run_.modules) {
      if (state.sleeper) state.sleeper->cancel();
    }
    for (auto& inst : run_.instances) {
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
      auto next = config::load(run_.settings.source_file);
      for (const auto& key : config::restart_required_changes(run_.settings, next)) {
        spdlog::warn("reload: {} changed; it takes effect after a restart", key);
      }
      // Keys marked reloadable are taken from the new file (config_to_options.cpp); the rest keep their
      // running values.
      take_reloadable(run_.settings, next, false);
      for (auto& inst : run_.instances) {
        const auto before = inst->settings.sync.modules;
        take_reloadable(inst->settings, next, run_.instances.size() > 1);
        if (loops_started_ && !run_.stopping) apply_module_changes(*inst, before);
      }
      spdlog::set_level(spdlog::level::from_str(run_.settings.log.level));
      spdlog::info("configuration reloaded from {}", run_.settings.source_file);
    } catch (const config::config_error& e) {
      spdlog::error("reload refused, keeping the running configuration: {}", e.what());
    }
    notifier_.ready();
  }

  asio::io_context& io_;
  run_state run_;
  systemd_notifier notifier_;
  std::unique_ptr<health_server> health_;
  std::unique_ptr<signal_handler> signals_;
  std::unique_ptr<asio::steady_timer> all_loops_done_;
  std::unique_ptr<asio::steady_timer> grace_timer_;
  std::chrono::seconds grace_{10};
  std::size_t running_loops_ = 0;
  bool loops_started_ = false;  // main() has spawned the loops (a reload before that only takes settings)
  int exit_code_ = exit_ok;
};

}  // namespace

int run_daemon(const common_options& opts) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  setup_logging(settings->log);
  // A filter Vtiger cannot run would fail every cycle: a configuration error, reported before starting.
  if (const auto refused = refused_filters(*settings); !refused.empty()) {
    for (const auto& r : refused) spdlog::critical("{}", r);
    return exit_config;
  }
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

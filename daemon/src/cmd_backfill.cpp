// vtsyncd backfill: the full load of modules (one session, or --parallel sessions over id ranges).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

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
        const auto scope = table_scope_from(*settings, module);
        auto table = co_await sync::prepare_mirror_table(sessions[0], *dbs[0].conn, dbs[0].rows->options(),
                                                         module, scope);
        const auto puller = make_puller(sessions[0], dbs[0].pull(), std::move(table), *settings);
        puller->set_stop_check([&] { return stop; });
        std::uint64_t total = 0;
        if (since.empty()) total = co_await puller->remote_count();
        progress_reporter progress{module, total};
        std::uint64_t done = 0;
        if (!since.empty()) {
          const auto stats = co_await puller->pull_changes(since);
          done = stats.fetched;
        } else {
          std::vector<sync::module_puller::worker> w;
          w.reserve(static_cast<std::size_t>(workers));
          for (int i = 0; i < workers; ++i)
            w.push_back(
                {&sessions[static_cast<std::size_t>(i)], dbs[static_cast<std::size_t>(i)].rows.get()});
          (void)co_await puller->backfill(w, [&](std::uint64_t n) {
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

}  // namespace vtsync::daemon

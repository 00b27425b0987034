// Progress of a push (push.hpp: push_progress): what is left, how fast it goes, when it will be done.
#include <spdlog/spdlog.h>

#include <cmath>

#include "vtsync/sync/engine/push.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<void> pusher::report_progress(std::size_t finished,
                                              std::chrono::steady_clock::time_point started, bool running) {
  if (!observer_.on_pending && !observer_.on_progress && !running) co_return;
  const auto counts = co_await outbox_.count();
  push_progress p;
  p.pending = counts.pending + counts.in_flight;
  p.finished = finished;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  if (running && elapsed.count() > 0) {
    p.rate = static_cast<double>(finished) / elapsed.count();
    if (p.rate > 0) p.eta_seconds = static_cast<double>(p.pending) / p.rate;
  }
  if (running) {
    spdlog::info("push: {} changes done in {:.0f} s ({:.1f}/s), {} pending{}", p.finished, elapsed.count(),
                 p.rate, p.pending,
                 p.eta_seconds ? fmt::format(", about {:.0f} s left", std::ceil(*p.eta_seconds)) : "");
  }
  if (observer_.on_pending) observer_.on_pending(p.pending);
  if (observer_.on_progress) observer_.on_progress(p);
}

}  // namespace vtsync::sync

#include "vtsync/daemon/systemd_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

// Returns 0 when sent, otherwise a negative errno (or 0 with nothing sent when NOTIFY_SOCKET is unset,
// which the callers rule out first).
int send_notification(std::string_view message) {
  std::string text(message);
  return sd_notify(0, text.c_str());
}

}  // namespace

struct systemd_notifier::watchdog_state {
  explicit watchdog_state(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool stopped = false;
};

systemd_notifier::systemd_notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
}

systemd_notifier::~systemd_notifier() { stop_watchdog(); }

bool systemd_notifier::notify(std::string_view message) {
  if (!enabled_) return false;
  int r = send_notification(message);
  if (r > 0) return true;
  if (!warned_) {
    warned_ = true;
    spdlog::warn("systemd notification failed: {}", r < 0 ? std::strerror(-r) : "NOTIFY_SOCKET unset");
  }
  return false;
}

void systemd_notifier::ready() { notify("READY=1"); }

void systemd_notifier::status(std::string_view text) {
  std::string message = "STATUS=";
  // One assignment per line in the protocol: a newline would start a new (bogus) assignment.
  for (char c : text) message += (c == '\n' || c == '\r') ? ' ' : c;
  notify(message);
}

void systemd_notifier::stopping() { notify("STOPPING=1"); }

void systemd_notifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec =
      static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void systemd_notifier::watchdog() { notify("WATCHDOG=1"); }

void systemd_notifier::watchdog_trigger() { notify("WATCHDOG=trigger"); }

std::optional<std::chrono::microseconds> systemd_notifier::watchdog_timeout() const {
  if (!enabled_) return std::nullopt;
  std::uint64_t usec = 0;
  // > 0: enabled for this process (WATCHDOG_USEC set and WATCHDOG_PID, if set, is ours).
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds{usec};
}

void systemd_notifier::start_watchdog(const asio::any_io_executor& executor, std::function<bool()> alive) {
  auto timeout = watchdog_timeout();
  if (!timeout || watchdog_) return;
  watchdog_ = std::make_shared<watchdog_state>(executor);
  // Half the timeout, as sd_watchdog_enabled(3) recommends: one late ping does not kill us.
  auto interval = *timeout / 2;
  auto state = watchdog_;
  auto pinger = [](std::shared_ptr<watchdog_state> st, std::chrono::microseconds every,
                   std::function<bool()> is_alive) -> asio::awaitable<void> {
    bool warned = false;
    while (!st->stopped) {
      if (!is_alive || is_alive()) {
        int r = send_notification("WATCHDOG=1");
        if (r <= 0 && !warned) {
          warned = true;
          spdlog::warn("systemd watchdog ping failed: {}", r < 0 ? std::strerror(-r) : "NOTIFY_SOCKET unset");
        }
      } else {
        spdlog::warn("systemd watchdog ping skipped: the daemon reports itself stuck");
      }
      st->timer.expires_after(every);
      auto [ec] = co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) break;  // cancelled by stop_watchdog()
    }
  };
  asio::co_spawn(watchdog_->timer.get_executor(), pinger(state, interval, std::move(alive)), asio::detached);
}

void systemd_notifier::stop_watchdog() {
  if (!watchdog_) return;
  watchdog_->stopped = true;
  watchdog_->timer.cancel();
}

}  // namespace vtsync::daemon

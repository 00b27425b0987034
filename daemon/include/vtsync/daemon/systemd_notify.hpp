#pragma once
// systemd's notification protocol (sd_notify) for a Type=notify service: READY=1 once config, database
// and listener are up, STATUS= lines, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 on
// shutdown, and WATCHDOG=1 pings sent from the event loop itself, so a stuck loop stops pinging and
// systemd (WatchdogSec=) restarts the service.
//
// Everything is a no-op when NOTIFY_SOCKET is unset (started by hand, in tests, in a container), and the
// watchdog only runs when systemd asked for it (WATCHDOG_USEC, and WATCHDOG_PID is ours if set).
//
// Error policy: notification is best effort and never throws; a failed sd_notify is logged once at warn
// level (systemd then reports the service as failing to start or as hung, which is the right signal).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace vtsync::daemon {

class systemd_notifier {
 public:
  systemd_notifier();  // reads NOTIFY_SOCKET now; the environment is left as is (children don't inherit it)
  systemd_notifier(const systemd_notifier&) = delete;
  systemd_notifier& operator=(const systemd_notifier&) = delete;
  ~systemd_notifier();  // stop_watchdog()

  [[nodiscard]] bool enabled() const { return enabled_; }

  void ready();                        // READY=1 (also after a reload)
  void status(std::string_view text);  // STATUS=<text>; newlines become spaces
  void stopping();                     // STOPPING=1
  void reloading();                    // RELOADING=1 with MONOTONIC_USEC=<now> (systemd >= 253 wants it)
  void watchdog();                     // WATCHDOG=1
  void watchdog_trigger();             // WATCHDOG=trigger: "I am broken, restart me"

  // The interval systemd expects pings at (WATCHDOG_USEC), or nothing when the watchdog is off.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_timeout() const;

  // Pings WATCHDOG=1 at once and then every watchdog_timeout()/2 from a timer coroutine on `executor`
  // (run it on the daemon's main loop). `alive`, when given, is asked before each ping; returning false
  // skips that ping (e.g. no sync cycle finished for far too long), so systemd restarts us.
  // Does nothing when the watchdog is off. Call at most once; stop with stop_watchdog().
  void start_watchdog(const boost::asio::any_io_executor& executor, std::function<bool()> alive = {});
  // Cancels the pinger (call on the loop thread). Idempotent.
  void stop_watchdog();

  // Raw message, e.g. "EXTEND_TIMEOUT_USEC=60000000". Returns false if not sent (disabled or failed).
  bool notify(std::string_view message);

 private:
  struct watchdog_state;
  bool enabled_ = false;
  bool warned_ = false;
  std::shared_ptr<watchdog_state> watchdog_;
};

}  // namespace vtsync::daemon

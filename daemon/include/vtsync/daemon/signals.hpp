#pragma once
// Process signals on the event loop (asio::signal_set, so handlers run as ordinary loop work, never in
// signal context):
//   SIGTERM, SIGINT  -> on_stop(signo) the first time: the owner starts a graceful stop (cancel work, wait
//                       a bounded grace period, then stop hard). A second one -> on_force_stop(signo) (an
//                       impatient operator); when unset, the second one is ignored like the first.
//   SIGHUP           -> on_reload() (re-read the configuration), every time.
// Once the owner is done it calls stop(), which also ends the coroutine so io_context::run() can return.
//
// Error policy: the constructor throws boost::system::system_error if a signal cannot be registered
// (another signal_set in this process owns it with incompatible flags). Exceptions thrown by a callback
// are logged and swallowed: one bad reload must not kill the daemon.
#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>

namespace vtsync::daemon {

struct signal_callbacks {
  std::function<void(int signo)> on_stop;
  std::function<void(int signo)> on_force_stop;
  std::function<void()> on_reload;
};

class signal_handler {
 public:
  signal_handler(const boost::asio::any_io_executor& executor, signal_callbacks callbacks);
  signal_handler(const signal_handler&) = delete;
  signal_handler& operator=(const signal_handler&) = delete;
  ~signal_handler();  // stop()

  // Spawns the waiting coroutine on the executor. Call once.
  void start();
  // Stops listening and restores default dispositions (a later SIGTERM kills the process the usual way).
  // Call on the loop thread. Idempotent.
  void stop();

  [[nodiscard]] bool stop_requested() const;  // a SIGTERM/SIGINT has arrived

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace vtsync::daemon

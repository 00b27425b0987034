#include "vtsync/daemon/signals.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <exception>

namespace vtsync::daemon {

namespace asio = boost::asio;

struct signal_handler::state {
  state(const asio::any_io_executor& ex, signal_callbacks cb)
      : signals(ex, SIGTERM, SIGINT, SIGHUP), callbacks(std::move(cb)) {}
  asio::signal_set signals;
  signal_callbacks callbacks;
  bool stop_requested = false;
  bool stopped = false;
};

namespace {

const char* signal_name(int signo) {
  switch (signo) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal";
  }
}

template <class F>
void guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("{} handler failed: {}", what, e.what());
  }
}

asio::awaitable<void> wait_for_signals(std::shared_ptr<signal_handler::state> st) {
  while (!st->stopped) {
    auto [ec, received] = co_await st->signals.async_wait(asio::as_tuple(asio::use_awaitable));
    // A plain variable: the lambdas below capture it, and clang before 16 (clang-tidy) cannot capture a
    // structured binding.
    const int signo = received;
    if (ec || st->stopped) co_return;  // operation_aborted: stop() was called
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP received: reloading");
      if (st->callbacks.on_reload) guarded("reload", [&] { st->callbacks.on_reload(); });
      continue;
    }
    if (!st->stop_requested) {
      st->stop_requested = true;
      spdlog::info("{} received: stopping", signal_name(signo));
      if (st->callbacks.on_stop) guarded("stop", [&] { st->callbacks.on_stop(signo); });
    } else if (st->callbacks.on_force_stop) {
      spdlog::warn("{} received again: stopping now", signal_name(signo));
      guarded("force stop", [&] { st->callbacks.on_force_stop(signo); });
    }
  }
}

}  // namespace

signal_handler::signal_handler(const asio::any_io_executor& executor, signal_callbacks callbacks)
    : state_(std::make_shared<state>(executor, std::move(callbacks))) {}

signal_handler::~signal_handler() { stop(); }

void signal_handler::start() {
  asio::co_spawn(state_->signals.get_executor(), wait_for_signals(state_), asio::detached);
}

void signal_handler::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->signals.clear(ignored);  // restores the default dispositions
  state_->signals.cancel(ignored);
}

bool signal_handler::stop_requested() const { return state_->stop_requested; }

}  // namespace vtsync::daemon

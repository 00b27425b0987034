#pragma once
// The one-shot commands' event loop: run one coroutine to its end on a fresh io_context.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <utility>

namespace vtsync::daemon {

// Runs `body` on a fresh io_context; returns its value or rethrows its exception. The loop stops when
// the body ends, however it ends: a body that throws must not leave the command waiting on what it had
// still armed (backfill's signal_set made `vtsyncd backfill` hang until SIGTERM after any error, e.g. a
// refused TLS certificate; found by tests/e2e/security_test.cpp).
template <class T, class Body>
T run_on_loop(boost::asio::io_context& io, Body body) {
  std::exception_ptr error;
  std::optional<T> value;
  boost::asio::co_spawn(io, std::move(body), [&](const std::exception_ptr& e, T v) {
    error = e;
    if (!e) value.emplace(std::move(v));
    io.stop();
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

}  // namespace vtsync::daemon

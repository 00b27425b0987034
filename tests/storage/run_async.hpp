#pragma once
// Runs a coroutine to completion on an io_context from a plain (blocking) test body.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <type_traits>

namespace vtsync::test {

template <class T>
T run_async(boost::asio::io_context& io, boost::asio::awaitable<T> work) {
  std::exception_ptr failure;
  std::optional<std::conditional_t<std::is_void_v<T>, int, T>> value;
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) {
      failure = e;
      value.emplace(0);
    });
  } else {
    boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T v) {
      failure = e;
      if (!e) value.emplace(std::move(v));
    });
  }
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  if constexpr (!std::is_void_v<T>) return std::move(*value);
}

}  // namespace vtsync::test

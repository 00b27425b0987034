#pragma once
// Lets coroutines of one event loop take turns at something only one of them may use at a time (a
// storage::connection serves one call at a time): enter() waits, in order of arrival, until the previous
// holder's pass is gone. Single-threaded (one io_context thread), like everything on the loop.
//
// Error policy: enter() throws boost::system::system_error(operation_aborted) only when the waiting
// coroutine is cancelled before its turn came; nothing else throws.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>

namespace vtsync::storage {

class call_gate {
 public:
  // Holding one is having the turn; destroying (or moving from) it hands the turn on.
  class pass {
   public:
    pass() = default;
    explicit pass(call_gate* gate) : gate_(gate) {}
    pass(pass&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    pass& operator=(pass&& other) noexcept;
    pass(const pass&) = delete;
    pass& operator=(const pass&) = delete;
    ~pass();

   private:
    call_gate* gate_ = nullptr;
  };

  call_gate() = default;
  call_gate(const call_gate&) = delete;
  call_gate& operator=(const call_gate&) = delete;

  [[nodiscard]] boost::asio::awaitable<pass> enter();

 private:
  struct waiter {
    explicit waiter(boost::asio::any_io_executor ex) : wake(std::move(ex)) {}
    boost::asio::steady_timer wake;
    bool granted = false;
  };
  void leave() noexcept;

  bool busy_ = false;
  std::deque<std::shared_ptr<waiter>> waiting_;
};

}  // namespace vtsync::storage

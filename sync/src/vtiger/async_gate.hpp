#pragma once
// A FIFO async mutex/semaphore for coroutines on one thread: waiters park on a timer that never expires
// and are woken by cancelling it. Private to the Vtiger client.
//
// Error policy: acquire() throws boost::system::system_error(operation_aborted) when the waiting coroutine
// is cancelled before it was granted a permit.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>

namespace vtsync::vtiger::detail {

class async_semaphore {
 public:
  explicit async_semaphore(std::size_t permits) : free_(permits) {}

  boost::asio::awaitable<void> acquire() {
    if (free_ > 0 && waiters_.empty()) {
      --free_;
      co_return;
    }
    auto w = std::make_shared<waiter>(co_await boost::asio::this_coro::executor);
    waiters_.push_back(w);
    co_await w->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (!w->granted) {
      waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), w), waiters_.end());
      throw boost::system::system_error(boost::asio::error::operation_aborted);
    }
  }

  // Hands the permit straight to the oldest waiter, so nobody can overtake it.
  void release() {
    if (!waiters_.empty()) {
      auto w = std::move(waiters_.front());
      waiters_.pop_front();
      w->granted = true;
      w->timer.cancel();
      return;
    }
    ++free_;
  }

  class guard {
   public:
    explicit guard(async_semaphore& s) : s_(&s) {}
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
    ~guard() { s_->release(); }

   private:
    async_semaphore* s_;
  };

 private:
  struct waiter {
    explicit waiter(const boost::asio::any_io_executor& ex)
        : timer(ex, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer timer;
    bool granted = false;
  };
  std::size_t free_;
  std::deque<std::shared_ptr<waiter>> waiters_;
};

}  // namespace vtsync::vtiger::detail

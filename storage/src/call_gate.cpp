// call_gate (call_gate.hpp): a first-come, first-served turn for coroutines of one loop.
#include "vtsync/storage/call_gate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>

namespace vtsync::storage {

namespace asio = boost::asio;

call_gate::pass& call_gate::pass::operator=(pass&& other) noexcept {
  if (this != &other) {
    if (gate_ != nullptr) gate_->leave();
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

call_gate::pass::~pass() {
  if (gate_ != nullptr) gate_->leave();
}

asio::awaitable<call_gate::pass> call_gate::enter() {
  if (!busy_) {
    busy_ = true;
    co_return pass{this};
  }
  auto me = std::make_shared<waiter>(co_await asio::this_coro::executor);
  me->wake.expires_at(asio::steady_timer::time_point::max());
  waiting_.push_back(me);
  (void)co_await me->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!me->granted) {
    // Cancelled while waiting: leave the queue without ever having had the turn.
    std::erase(waiting_, me);
    throw boost::system::system_error(asio::error::operation_aborted);
  }
  co_return pass{this};
}

void call_gate::leave() noexcept {
  if (waiting_.empty()) {
    busy_ = false;
    return;
  }
  // The turn passes straight to the next waiter: busy_ stays set.
  auto next = std::move(waiting_.front());
  waiting_.pop_front();
  next->granted = true;
  next->wake.cancel();
}

}  // namespace vtsync::storage

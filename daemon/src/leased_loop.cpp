// leased_loop: standby, lease, work, and back (leased_loop.hpp).
#include "leased_loop.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "vtsync/storage/lease.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

// Tries the lease once on `conn`: takes it when free, else notes who holds it.
asio::awaitable<void> try_lease(const leased_work& w, storage::connection& conn) {
  auto& state = *w.state;
  if (co_await storage::try_acquire_lease(conn, w.key, w.identity)) {
    state.held = true;
    state.holder = w.identity;
    spdlog::info("{} lease acquired: {} {}", w.name, w.identity, w.holder_does);
  } else {
    const auto holder = co_await storage::lease_holder(conn, w.key);
    if (state.holder != holder.value_or("")) {
      spdlog::info("{} standby: the lease is held by {}", w.name, holder.value_or("?"));
    }
    state.holder = holder.value_or("");
  }
  state.checked = std::chrono::system_clock::now();
}

}  // namespace

asio::awaitable<void> leased_loop(leased_work w) {
  auto& state = *w.state;
  std::optional<db_session> db;  // holds the lease while state.held: every write of the work goes through it
  // Closing the connection gives the lease up: nothing can be written through it any more.
  const auto give_up = [&] {
    if (db) db->conn->close();
    db.reset();
    state.held = false;
    state.holder.clear();
  };
  int attempt = 1;
  while (!w.stopping()) {
    std::optional<std::chrono::milliseconds> wait;  // set after an error
    try {
      if (!state.held) {
        if (!db) db = co_await w.open();
        if (w.prepare) co_await w.prepare(*db);
        co_await try_lease(w, *db->conn);
      }
    } catch (const std::exception& e) {
      if (dynamic_cast<const storage::pg_error*>(&e) != nullptr) give_up();
      wait = w.failed(e, attempt++);
    }
    if (!state.held) {
      if (!w.stopping()) co_await sleep_for(wait.value_or(w.retry_interval()), w.sleeper);
      continue;
    }
    try {
      if (co_await w.turn(*db) == turn_end::lost) {
        // The lease went with the connection (or may have): stop writing, wait for it again.
        give_up();
        spdlog::warn("{} lease given up with its PostgreSQL session; standby until it is free", w.name);
        attempt = 1;
      }
    } catch (const std::exception& e) {
      give_up();
      wait = w.failed(e, attempt++);
    }
    if (wait) {
      if (!w.stopping()) co_await sleep_for(*wait, w.sleeper);
    } else if (w.pause && !w.stopping()) {
      co_await sleep_for(w.pause(), w.sleeper);
    }
  }
  give_up();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d, asio::steady_timer* timer) {
  asio::steady_timer local{co_await asio::this_coro::executor};
  auto& t = timer != nullptr ? *timer : local;
  t.expires_after(d);
  (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace vtsync::daemon

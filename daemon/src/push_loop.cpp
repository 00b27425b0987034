// Local changes back to Vtiger in `vtsyncd run`: once every module's table of the instance exists and this
// daemon holds the instance's push lease (leased_loop), the push engine drains the outbox on each
// notification (and on a slow fallback poll) until stop, or until the lease's connection is lost (then back
// to waiting for the lease).
#include "push_loop.hpp"

#include <spdlog/spdlog.h>

#include "vtsync/storage/relations.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

// A bulk push draining, in /metrics (and so in /status): rate and time left beside vtsync_outbox_pending.
void show_progress(metrics& meters, const sync::push_progress& p) {
  meters.push_rate().set(p.rate);
  meters.push_eta_seconds().set(p.eta_seconds.value_or(0.0));
}

// Runs the push engine on the lease's connection `db` until it is stopped, or until that connection is
// lost: the engine retries storage failures itself, so a lost lease connection must end it instead.
asio::awaitable<turn_end> push_while_held(run_state& run, instance& inst, db_session& db) {
  vtiger::client client{inst.context};
  // Vtiger runs one session's requests one after another: the writes of a bulk push go out over
  // sync.max_in_flight_requests sessions (the context's inflight limit bounds them with the pulls).
  std::vector<vtiger::client> more_sessions;
  for (int i = 1; i < inst.settings.sync.max_in_flight_requests; ++i)
    more_sessions.emplace_back(inst.context);
  storage::connection notify{run.io.get_executor(), connection_options_from(inst.settings)};
  sync::push_observer po;
  po.on_pushed = [&run, &inst](std::string_view m, std::string_view op) {
    run.meters.records_pushed(m, op).inc();
    run.history.add_pushed(inst.prefix + std::string{m});
  };
  po.on_failed = [&run](std::string_view m) { run.meters.push_failures(m).inc(); };
  po.on_pending = [&run](std::int64_t n) { run.meters.outbox_pending().set(static_cast<double>(n)); };
  po.on_progress = [&run](const sync::push_progress& p) { show_progress(run.meters, p); };
  inst.pusher = std::make_unique<sync::pusher>(client, notify, *db.outbox, inst.tables,
                                               push_settings_from(inst.settings), po);
  inst.pusher->add_sessions(more_sessions);
  if (run.stopping) inst.pusher->stop();

  struct watch {
    bool alive = true;
    bool lost = false;
  };
  auto w = std::make_shared<watch>();
  // However the engine ends, the watch ends with it, and the engine goes before what it refers to.
  struct end_of_turn {
    instance& inst;
    watch& w;
    ~end_of_turn() {
      w.alive = false;
      inst.pusher.reset();
    }
  } end{inst, *w};
  asio::co_spawn(
      run.io,
      [w, &inst, conn = db.conn.get()]() -> asio::awaitable<void> {
        asio::steady_timer t{co_await asio::this_coro::executor};
        while (w->alive) {
          t.expires_after(std::chrono::milliseconds{250});
          (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          if (!w->alive) break;
          if (!conn->is_open()) {
            w->lost = true;
            if (inst.pusher) inst.pusher->stop();
            break;
          }
        }
      },
      asio::detached);
  co_await inst.pusher->run();
  co_return w->lost ? turn_end::lost : turn_end::kept;
}

}  // namespace

asio::awaitable<void> push_loop(run_state& run, instance& inst) {
  // Each module's table, once its pull has prepared it (besides the related lists' table, "Relations").
  const auto prepared = [&inst] {
    return inst.tables.size() - inst.tables.count(std::string{storage::relations_module});
  };
  while (!run.stopping && prepared() < inst.settings.sync.modules.size())
    co_await sleep_for(std::chrono::milliseconds{200}, nullptr);
  auto w = lease_of(run, inst, "push");
  w.name = inst.prefix + "push";
  w.holder_does = "pushes local changes now";
  w.state = &inst.push_lease;
  w.turn = [&run, &inst](db_session& db) { return push_while_held(run, inst, db); };
  w.failed = [](const std::exception& e, int attempt) {
    spdlog::error("push: {} (attempt {})", e.what(), attempt);
    return std::chrono::milliseconds{std::chrono::seconds{std::min(attempt, 30)}};
  };
  co_await leased_loop(std::move(w));
}

}  // namespace vtsync::daemon

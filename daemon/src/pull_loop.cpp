// The pull of one module in `vtsyncd run`, with its own Vtiger session and PostgreSQL connection (the
// lease's): every daemon prepares the module's mirror table; the lease's holder (leased_loop) then begins a
// cycle every poll interval plus jitter: an interrupted backfill finished first, the changes since the
// cursor, then the remote deletions' share of the cycle (range counts, sync, or a slice of the id scan).
#include "pull_loop.hpp"

#include "config_to_options.hpp"
#include "poll_cost.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace vtsync::daemon {

namespace asio = boost::asio;
using clock_type = std::chrono::system_clock;

namespace {

class module_pull {
 public:
  module_pull(run_state& run, instance& inst, std::string module)
      : run_(run),
        inst_(inst),
        module_(std::move(module)),
        state_(run.modules[inst.prefix + module_]),
        client_(inst.context) {}

  asio::awaitable<void> run() {
    state_.running = true;
    state_.removed = false;
    struct not_running {
      module_state& s;
      ~not_running() { s.running = false; }
    } on_end{state_};
    if (!state_.sleeper) state_.sleeper = std::make_unique<asio::steady_timer>(run_.io);
    auto w = lease_of(run_, inst_, "pull:" + module_);
    w.name = "module=" + module_;
    w.holder_does = "works it now";
    w.state = &state_.lease;
    w.sleeper = state_.sleeper.get();
    w.prepare = [this](db_session& db) { return prepare(db); };
    w.turn = [this](db_session& db) { return cycle(db); };
    w.pause = [this] { return pause(); };
    w.failed = [this](const std::exception& e, int) { return failed(e); };
    w.stopping = [this] { return run_.stopping || removed(); };
    co_await leased_loop(std::move(w));
    if (removed() && !run_.stopping)
      spdlog::info("module={} left sync.modules: no longer pulled (its table {} stays)", module_,
                   table_ ? table_->qualified_name() : std::string{"-"});
  }

 private:
  // Every daemon prepares the table (safe concurrently: DDL under its own advisory lock), so that a
  // standby's push side knows the tables too.
  asio::awaitable<void> prepare(db_session& db) {
    if (!table_) {
      const auto t =
          co_await sync::prepare_mirror_table(client_, *db.conn, db.rows->options(), module_,
                                              table_scope_from(inst_.settings, module_), &reported_);
      take_table(t);
    }
    run_.vtiger_reached = true;
  }

  // The module's describe read again (each sync.describe_interval, or at once when a page brings a field
  // the table lacks): new fields become columns; the puller and the push take the table as it is now.
  asio::awaitable<storage::mirror_table> refresh_table(db_session& db) {
    const storage::mirror_table* current = table_ ? &*table_ : nullptr;
    const auto scope = table_scope_from(inst_.settings, module_);
    auto t = co_await sync::prepare_mirror_table(client_, *db.conn, db.rows->options(), module_, scope,
                                                 &reported_, true, current);
    take_table(t);
    co_return t;
  }

  void take_table(const storage::mirror_table& t) {
    table_ = t;
    inst_.tables[module_] = t;
    if (inst_.pusher) inst_.pusher->update_table(t);
    if (t.relations) {
      // The schema's related-lists table is pushed as the pseudo-module "Relations" (storage/relations.hpp).
      inst_.tables.insert_or_assign(std::string{storage::relations_module}, *t.relations);
      if (inst_.pusher) inst_.pusher->update_table(*t.relations);
    }
    next_describe_ = std::chrono::steady_clock::now() + run_.settings.sync.describe_interval;
  }

  [[nodiscard]] bool removed() const { return state_.removed; }

  // Before the lease is held (opening the connection, preparing the table, trying the lease).
  std::chrono::milliseconds failed(const std::exception& e) {
    if (dynamic_cast<const storage::pg_error*>(&e) != nullptr) {
      state_.last_error = std::string{"postgres: "} + e.what();
      spdlog::error("module={} postgres: {}", module_, e.what());
      table_.reset();  // made again on the next connection
    } else {
      state_.last_error = e.what();
      spdlog::error("module={} {}", module_, e.what());
    }
    return lease_retry_interval(run_.settings);
  }

  // One cycle on the lease's connection; a PostgreSQL error ends the lease (its connection may be gone).
  asio::awaitable<turn_end> cycle(db_session& db) {
    const auto started = std::chrono::steady_clock::now();
    cycle_started_ = started;
    const auto cycle = ++state_.cycles;
    try {
      if (!puller_) co_await start(db);
      if (std::chrono::steady_clock::now() >= next_describe_) {
        auto table = co_await refresh_table(db);
        puller_->set_table(std::move(table));
      }
      run_.vtiger_reached = true;
      if (const auto& info = client_.session_info()) inst_.vtiger_version = info->vtiger_version;
      // The changes first, then the deletion work until 90% of the interval has gone since the cycle
      // began (at least a quarter of an interval; the rest goes on next cycle): the next pull starts on
      // time, so a change never waits behind a long scan or search.
      const auto stats = co_await puller_->pull_changes(std::nullopt, sync::pass_end::short_page);
      note_poll_cost(stats);
      if (!run_.stopping) {
        const auto interval = run_.settings.sync.poll_interval;
        const auto deadline =
            std::max(started + interval * 9 / 10, std::chrono::steady_clock::now() + interval / 4);
        const auto deleted = co_await puller_->detect_deletions(deadline);
        if (deleted > 0)
          spdlog::info("module={} cycle={} {} remote deletion(s) applied", module_, cycle, deleted);
        // Then, in what is left of that time, the links of records mirrored before their list was
        // configured (once; nothing to do in nearly every cycle).
        (void)co_await puller_->load_relations(deadline);
      }
      const auto cursor = co_await db.cursors->load_cursor(module_);
      if (cursor) state_.cursor = cursor->modifiedtime + " " + cursor->last_id;
      state_.last_success = clock_type::now();
      state_.last_error.clear();
      run_.meters.last_success_timestamp(module_).set_to_current_time();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      run_.meters.cycle_duration(module_).observe(seconds);
      // A module read whole each cycle (no modifiedtime) is news only when something changed.
      if (puller_->has_cursor_field() ? stats.fetched > 0 : stats.inserted + stats.updated > 0) {
        spdlog::info(
            "module={} cycle={} fetched={} inserted={} updated={} unchanged={} queries={} in {:.3f}s",
            module_, cycle, stats.fetched, stats.inserted, stats.updated, stats.unchanged, stats.queries,
            seconds);
      } else {
        spdlog::debug("module={} cycle={} nothing new ({} query)", module_, cycle, stats.queries);
      }
    } catch (const storage::pg_error& e) {
      state_.last_error = std::string{"postgres: "} + e.what();
      spdlog::error("module={} cycle={} postgres: {}", module_, cycle, e.what());
      puller_.reset();  // it refers to the repositories: drop it first
      table_.reset();
      co_return turn_end::lost;
    } catch (const std::exception& e) {
      state_.last_error = e.what();
      spdlog::error("module={} cycle={} {}", module_, cycle, e.what());
    }
    co_return turn_end::kept;
  }

  // The first cycle under a lease: the puller, sync probed, a first load or an interrupted backfill.
  asio::awaitable<void> start(db_session& db) {
    sync::pull_observer observer;
    observer.on_records = [this](std::string_view m, std::size_t n) {
      run_.meters.records_pulled(m).inc(static_cast<double>(n));
      run_.history.add_pulled(inst_.prefix + std::string{m}, n);
      state_.records += n;
    };
    puller_ = make_puller(client_, db.pull(), *table_, inst_.settings, std::move(observer));
    puller_->set_stop_check([this] { return run_.stopping || removed(); });
    puller_->set_table_refresh([this, &db] { return refresh_table(db); });
    co_await puller_->probe_sync();
    state_.sync_supported = puller_->sync_supported();
    // A module never pulled is loaded by id (as `vtsyncd backfill` does), an interrupted load finished.
    const bool unfinished = co_await puller_->unfinished_backfill();
    const bool never_pulled = !(co_await db.cursors->load_cursor(module_));
    if (puller_->has_cursor_field() && (unfinished || never_pulled)) {
      spdlog::info("module={} {}", module_,
                   unfinished ? "finishing a backfill that was interrupted" : "first load, by id");
      const std::vector<sync::module_puller::worker> one{{&client_, db.rows.get()}};
      (void)co_await puller_->backfill(one, nullptr);
    }
  }

  // An idle poll (no rows) slower than slow_idle_poll: a warning in the log (again at most hourly while
  // it stays slow) and in /status, with what Vtiger's administrator can do.
  void note_poll_cost(const sync::cycle_stats& stats) {
    if (stats.fetched > 0 || stats.queries != 1) return;
    state_.idle_poll = stats.vtiger_time;
    if (stats.vtiger_time <= slow_idle_poll) {
      state_.warning.clear();
      return;
    }
    state_.warning = slow_poll_warning(module_, stats.vtiger_time);
    const auto now = std::chrono::steady_clock::now();
    if (!last_slow_warning_ || now - *last_slow_warning_ >= std::chrono::hours{1}) {
      spdlog::warn("module={} {}", module_, state_.warning);
      last_slow_warning_ = now;
    }
  }

  // Cycles begin a poll interval apart, plus up to 10% jitter so modules and daemons do not move in
  // lockstep; after a cycle that ran long, the pause is still a quarter of an interval (Vtiger is never
  // polled back to back).
  std::chrono::milliseconds pause() {
    const auto interval = run_.settings.sync.poll_interval;
    std::uniform_int_distribution<long> jitter(0,
                                               std::max<long>(1, static_cast<long>(interval.count() / 10)));
    const auto due = cycle_started_ + interval + std::chrono::milliseconds{jitter(rng_)};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
    return std::max(left, std::chrono::duration_cast<std::chrono::milliseconds>(interval / 4));
  }

  run_state& run_;
  instance& inst_;
  std::string module_;
  module_state& state_;
  vtiger::client client_;
  std::optional<storage::mirror_table> table_;  // prepared on the current connection
  std::unique_ptr<sync::module_puller> puller_;
  std::mt19937 rng_{std::random_device{}()};
  std::optional<std::chrono::steady_clock::time_point> last_slow_warning_;
  std::chrono::steady_clock::time_point cycle_started_{};  // of the latest cycle (pause() counts from it)
  sync::schema_reports reported_;                          // kept columns and type changes logged already
  std::chrono::steady_clock::time_point next_describe_{};
};

}  // namespace

asio::awaitable<void> pull_loop(run_state& run, instance& inst, std::string module) {
  module_pull pull{run, inst, std::move(module)};
  co_await pull.run();
}

}  // namespace vtsync::daemon

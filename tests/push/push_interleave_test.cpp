// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger).
// Exactly once under the interleavings of the pull and the push's write-back (docs/architecture.md, "A
// create Vtiger accepted is never sent again"), each one forced, not hoped for: the pull runs on a thread
// of its own (its own connection, client and io_context), the push's hooks stop it between Vtiger's answer
// and the write-back, and a lock the test holds on the pull's cursor row keeps the pull's transaction open
// (its row stored, not committed) until pg_blocking_pids shows the write-back waiting for it. No sleeps
// order anything. Each case ends with: one record in Vtiger, one mirror row holding it, the row synced with
// Vtiger's values, every outbox entry done, and a further pull that finds nothing to change.
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>

// push_fixture.hpp uses record/table.hpp without including it.
#include "vtsync/sync/record/table.hpp"

#include "push_fixture.hpp"
#include "vtsync/sync/engine/pull.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
using nlohmann::json;

namespace {

// Waits until backend `pid` waits for a lock held by backend `by` (pg_blocking_pids), asking on `c`.
// False after a minute (the interleaving did not happen: the caller fails the test).
bool wait_blocked(PGconn* c, int pid, int by) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  const std::string q =
      "SELECT " + std::to_string(by) + " = ANY(pg_blocking_pids(" + std::to_string(pid) + "))";
  while (std::chrono::steady_clock::now() < deadline) {
    if (vt::exec_scalar(c, q) == "t") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling, not ordering
  }
  return false;
}

// A gate one thread waits at until another opens it.
class gate {
 public:
  void open() {
    std::lock_guard lock{m_};
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock{m_};
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

class push_interleave : public vt::push_test {
 protected:
  void TearDown() override {
    if (pull_thread.joinable()) pull_thread.join();
    if (releaser.joinable()) releaser.join();
    puller.reset();
    pull_backfill.reset();
    pull_cursors.reset();
    pull_rows.reset();
    pull_conn.reset();
    pull_client.reset();
    vt::push_test::TearDown();
  }

  // The pull's own connection, store and client (the daemon's pull and push never share them).
  void make_puller(sy::pull_observer observer = {}) {
    if (!pull_conn) {
      pull_conn = std::make_unique<st::connection>(pull_io.get_executor(), connection_options());
      vt::run_on(pull_io, pull_conn->connect());
      pull_rows = std::make_unique<st::mirror_rows>(*pull_conn, options);
      pull_cursors = std::make_unique<st::cursors>(*pull_conn, options);
      pull_backfill = std::make_unique<st::backfill_ranges>(*pull_conn, options);
      pull_client = std::make_unique<vtsync::vtiger::client>(pull_io.get_executor(),
                                                             vt::fake_client_options(fake->url()));
    }
    puller = std::make_unique<sy::module_puller>(*pull_client,
                                                 sy::pull_storage{*pull_rows, *pull_cursors, *pull_backfill},
                                                 table, sy::pull_settings{}, std::move(observer));
  }
  // One pull pass, on the calling thread.
  sy::cycle_stats pull() { return vt::run_on(pull_io, puller->pull_changes()); }
  // One pull pass on the pull's thread (join pull_thread for `pulled`).
  void pull_in_background() {
    pull_thread = std::thread([this] {
      try {
        pulled = pull();
      } catch (const std::exception& e) {
        pull_failure = e.what();
      }
    });
  }
  // A new puller's pass on the pull's thread that stops after fetching its first page, before storing it,
  // until store_first_page is opened (the push runs meanwhile).
  void pull_holding_its_first_page() {
    sy::pull_observer o;
    o.on_fetched = [this, first = true](std::string_view, std::size_t n) mutable {
      if (n == 0 || !first) return;
      first = false;
      first_page_fetched.open();
      store_first_page.wait();
    };
    make_puller(o);
    pull_in_background();
    first_page_fetched.wait();
  }
  // Push settings under which, once Vtiger accepted a create, the user's transaction runs `statement(row_id)`
  // on the created row and holds it; it commits once the write-back waits for it (write_back_waited).
  sy::push_settings user_holds_the_row_during_the_write_back(
      std::function<std::string(const std::string&)> statement) {
    sy::push_settings s;
    s.after_accepted = [this, statement](const st::outbox_entry& entry) {
      if (entry.op != st::outbox_op::insert) return;
      locker = vt::connect_blocking();
      vt::exec_scalar(locker.get(), "BEGIN");
      vt::exec_scalar(locker.get(), statement(std::to_string(entry.row_id)));
      const int push_pid = conn->backend_pid();
      const int user_pid = locker_pid();
      releaser = std::thread([this, push_pid, user_pid] {
        auto w = vt::connect_blocking();
        write_back_waited = wait_blocked(w.get(), push_pid, user_pid);
        vt::exec_scalar(locker.get(), "COMMIT");
      });
    };
    return s;
  }
  void join_pull() {
    if (pull_thread.joinable()) pull_thread.join();
    EXPECT_EQ(pull_failure, "");
  }

  // Holds the lock the pull's page transaction needs last (its cursor), from a connection of the test's own:
  // a pull that got that far has stored its rows and keeps them uncommitted (and its row locks held).
  void hold_cursor_lock() {
    locker = vt::connect_blocking();
    vt::exec_scalar(locker.get(), "BEGIN");
    vt::exec_scalar(locker.get(), "LOCK TABLE " + state("cursors") + " IN SHARE MODE");
  }
  int locker_pid() { return PQbackendPID(locker.get()); }
  void release_cursor_lock() { vt::exec_scalar(locker.get(), "COMMIT"); }

  // In an after_accepted hook: starts a pull and returns once it holds its stored page open; then lets it
  // commit as soon as the write-back waits for it (on another thread: the write-back runs after the hook).
  void pull_holding_its_page_until_the_write_back_waits() {
    hold_cursor_lock();
    pull_in_background();
    auto watch = vt::connect_blocking();
    const int pull_pid = pull_conn->backend_pid();
    EXPECT_TRUE(wait_blocked(watch.get(), pull_pid, locker_pid())) << "the pull never reached its cursor";
    const int push_pid = conn->backend_pid();
    releaser = std::thread([this, push_pid, pull_pid] {
      auto w = vt::connect_blocking();
      write_back_waited = wait_blocked(w.get(), push_pid, pull_pid);
      release_cursor_lock();
    });
  }

  std::string rows_with(const std::string& id) {
    return sql("SELECT count(*) FROM " + contacts() + " WHERE vtiger_id = '" + id + "'");
  }
  std::size_t records_named(const std::string& lastname) {
    std::size_t n = 0;
    for (const auto& r : dump())
      if (r.value("lastname", std::string{}) == lastname) ++n;
    return n;
  }
  // The end state every case must reach for row `row_id`.
  void expect_exactly_once(const std::string& row_id, const std::string& lastname) {
    EXPECT_EQ(records_named(lastname), 1u) << "records in Vtiger";
    EXPECT_EQ(sql("SELECT count(*) FROM " + contacts()), "1") << "mirror rows";
    const auto id = sql("SELECT vtiger_id FROM " + contacts() + " WHERE _row_id = " + row_id);
    ASSERT_FALSE(id.empty()) << "the user's row lost its record";
    EXPECT_EQ(rows_with(id), "1");
    EXPECT_EQ(sql("SELECT _sync_state FROM " + contacts() + " WHERE _row_id = " + row_id), "synced");
    EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
    const auto remote_record = remote(id);
    ASSERT_TRUE(remote_record.is_object());
    for (const std::string field : {"lastname", "title", "department", "modifiedtime"}) {
      const auto local =
          sql("SELECT coalesce(" + field + "::text, '') FROM " + contacts() + " WHERE _row_id = " + row_id);
      const auto& v = remote_record.contains(field) ? remote_record[field] : json{};
      const std::string want = v.is_string() ? v.get<std::string>() : std::string{};
      if (field == "modifiedtime") {
        // timestamptz in the mirror, the server's wall clock (UTC here) in Vtiger.
        EXPECT_EQ(sql("SELECT to_char(modifiedtime AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM " +
                      contacts() + " WHERE _row_id = " + row_id),
                  want);
      } else {
        EXPECT_EQ(local, want) << field;
      }
    }
    // Nothing left for the pull to change: the row is what Vtiger holds, its base what the pull would store.
    make_puller();
    const auto again = pull();
    EXPECT_EQ(again.inserted, 0u);
    EXPECT_EQ(again.updated, 0u);
    EXPECT_EQ(again.skipped_local, 0u);
    EXPECT_EQ(sql("SELECT count(*) FROM " + contacts()), "1");
  }

  // A row created and pushed (synced with its record), and a pull that has seen it (cursor set).
  std::string pushed_and_pulled(const std::string& lastname) {
    sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('" + lastname + "', 'Base')");
    drain();
    make_puller();
    pull();
    EXPECT_EQ(sql("SELECT _sync_state FROM " + contacts()), "synced");
    return sql("SELECT _row_id FROM " + contacts());
  }

  boost::asio::io_context pull_io;
  std::unique_ptr<st::connection> pull_conn;
  std::unique_ptr<st::mirror_rows> pull_rows;
  std::unique_ptr<st::cursors> pull_cursors;
  std::unique_ptr<st::backfill_ranges> pull_backfill;
  std::unique_ptr<vtsync::vtiger::client> pull_client;
  std::unique_ptr<sy::module_puller> puller;
  std::thread pull_thread, releaser;
  gate first_page_fetched, store_first_page;  // pull_holding_its_first_page
  sy::cycle_stats pulled;
  std::string pull_failure;
  vt::pg_conn_ptr locker{nullptr, &PQfinish};
  std::atomic<bool> write_back_waited{false};
};

}  // namespace

// (a) The pull stores the new record as a row of its own while the write-back runs: the write-back's DELETE
// cannot see that uncommitted row, its UPDATE of the unique vtiger_id waits for the pull's transaction, meets
// a unique violation when it commits, and runs again, merging the pull's row away.
TEST_F(push_interleave, CreateWhileThePullHoldsTheSameRecordUncommitted) {
  sy::push_settings s;
  s.after_accepted = [this](const st::outbox_entry&) {
    make_puller();
    pull_holding_its_page_until_the_write_back_waits();
  };
  start({}, s);
  sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('Racer', 'Mine')");
  const auto row_id = sql("SELECT _row_id FROM " + contacts());
  const auto stats = drain();
  join_pull();
  releaser.join();
  EXPECT_TRUE(write_back_waited) << "the write-back never waited for the pull's row";
  EXPECT_EQ(pulled.inserted, 1u) << "the pull did not store the record as a row of its own";
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_EQ(requests("create"), 1u);
  expect_exactly_once(row_id, "Racer");
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Mine");
}

// (b) The pull committed the new record as a row of its own before the write-back: the write-back's DELETE
// sees it and merges it away.
TEST_F(push_interleave, CreateAfterThePullCommittedTheSameRecord) {
  sy::push_settings s;
  s.after_accepted = [this](const st::outbox_entry& entry) {
    make_puller();
    pull_in_background();
    join_pull();
    // Two rows now: the user's (no id yet) and the pull's (with the id recorded on the entry).
    EXPECT_EQ(sql("SELECT count(*) FROM " + contacts()), "2");
    EXPECT_EQ(rows_with(entry.vtiger_id.value_or("?")), "1");
  };
  start({}, s);
  sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('Later', 'Mine')");
  const auto row_id = sql("SELECT _row_id FROM " + contacts());
  drain();
  EXPECT_EQ(pulled.inserted, 1u);
  EXPECT_EQ(requests("create"), 1u);
  expect_exactly_once(row_id, "Later");
}

// (c) A revise Vtiger accepted, and the pull brings the revised record before the write-back: the row has
// a change in flight, so the pull leaves it; the write-back then makes it Vtiger's record.
TEST_F(push_interleave, ReviseWhileThePullBringsTheRevisedRecord) {
  start();
  const auto row_id = pushed_and_pulled("Revised");
  fake_post("/_fake/clock", {{"advance_seconds", 2}});  // the revise moves modifiedtime past the cursor
  sql("UPDATE " + contacts() + " SET title = 'Local' WHERE _row_id = " + row_id);
  sy::push_settings s;
  s.after_accepted = [this](const st::outbox_entry&) {
    make_puller();
    pull_in_background();
    join_pull();
  };
  make_pusher(s);
  const auto stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_EQ(pulled.skipped_local, 1u) << "the pull did not meet the row with its change in flight";
  EXPECT_EQ(pulled.updated, 0u);
  expect_exactly_once(row_id, "Revised");
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Local");
}

// (d) A revise Vtiger accepted while the pull's transaction holds the row (its upsert locked it): the
// write-back waits for the pull, then writes Vtiger's record, which has a CRM user's change of another
// field too.
TEST_F(push_interleave, ReviseWhileThePullHoldsTheRow) {
  start();
  const auto row_id = pushed_and_pulled("Held");
  const auto id = sql("SELECT vtiger_id FROM " + contacts());
  fake_post("/_fake/clock", {{"advance_seconds", 2}});
  fake_post("/_fake/edit", {{"id", id}, {"fields", {{"department", "CRM"}}}});
  sql("UPDATE " + contacts() + " SET title = 'Local' WHERE _row_id = " + row_id);
  sy::push_settings s;
  s.after_accepted = [this](const st::outbox_entry&) {
    make_puller();
    pull_holding_its_page_until_the_write_back_waits();
  };
  make_pusher(s);
  drain();
  join_pull();
  releaser.join();
  EXPECT_TRUE(write_back_waited) << "the write-back never waited for the pull's row lock";
  EXPECT_EQ(pulled.skipped_local, 1u);
  EXPECT_EQ(requests("create"), 1u);
  expect_exactly_once(row_id, "Held");
  EXPECT_EQ(sql("SELECT title || '/' || department FROM " + contacts()), "Local/CRM");
}

// (e) A page the pull fetched before a revise and stores after its write-back brings the older values back
// for a moment; the next pull restores Vtiger's current record (the revise moved modifiedtime).
TEST_F(push_interleave, StalePageFetchedBeforeTheReviseIsCorrectedByTheNextPull) {
  start();
  const auto row_id = pushed_and_pulled("Stale");
  pull_holding_its_first_page();
  fake_post("/_fake/clock", {{"advance_seconds", 2}});  // the revise moves modifiedtime past the cursor
  sql("UPDATE " + contacts() + " SET title = 'Local' WHERE _row_id = " + row_id);
  const auto stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_EQ(sql("SELECT title || '/' || _sync_state FROM " + contacts()), "Local/synced");
  store_first_page.open();
  join_pull();
  EXPECT_GE(pulled.updated, 1u) << "the stale page was not stored over the written-back row";
  // The next pull (a second pass of the same puller, as the daemon's next cycle).
  const auto next = pull();
  EXPECT_EQ(next.inserted, 0u);
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Local");
  EXPECT_EQ(remote(sql("SELECT vtiger_id FROM " + contacts()))["title"], "Local");
  expect_exactly_once(row_id, "Stale");
}

// (e') As (e), with the revise in the same second as the record's previous modifiedtime (the fake's clock
// frozen) and the stale page part of an overlap re-read that does not move the cursor: the keyset no longer
// reaches the record, so only a re-read of that second restores it. A pass that rewrote a row keeps
// re-reading the overlap window for the next cycles, as one that moved the cursor does.
TEST_F(push_interleave, StalePageInTheRecordsOwnSecondIsCorrectedByTheNextPull) {
  start();
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  fake_post("/_fake/clock", {{"set", now}});
  const auto row_id = pushed_and_pulled("Frozen");
  pull_holding_its_first_page();  // a new puller re-reads the overlap window once (as after start-up)
  sql("UPDATE " + contacts() + " SET title = 'Local' WHERE _row_id = " + row_id);
  const auto stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  store_first_page.open();
  join_pull();
  EXPECT_GE(pulled.updated, 1u) << "the stale page was not stored over the written-back row";
  EXPECT_FALSE(pulled.cursor_moved) << "the stale page was expected to leave the cursor where it was";
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Base")
      << "the stale page did not bring the old value back";
  const auto next = pull();
  EXPECT_EQ(next.inserted, 0u);
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Local");
  EXPECT_EQ(remote(sql("SELECT vtiger_id FROM " + contacts()))["title"], "Local");
  fake_post("/_fake/clock", {{"unfreeze", true}});
  expect_exactly_once(row_id, "Frozen");
}

// (f) The user updates the row while the create's write-back runs, and holds the row (the UPDATE done, its
// transaction not yet committed): the write-back waits for it, then must see the user's entry and keep the
// user's values, which the next entry sends. (Regression, found by tests/e2e/push_stress_test: the
// write-back used to overwrite the newer values with Vtiger's record and mark the row synced, so the user's
// update was lost on both sides.)
TEST_F(push_interleave, LocalUpdateHoldingTheRowDuringTheWriteBackIsNotLost) {
  start({}, user_holds_the_row_during_the_write_back([this](const std::string& row) {
          return "UPDATE " + contacts() + " SET title = 'Newer' WHERE _row_id = " + row;
        }));
  sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('Overtaken', 'Older')");
  const auto row_id = sql("SELECT _row_id FROM " + contacts());
  const auto stats = drain();
  releaser.join();
  EXPECT_TRUE(write_back_waited) << "the write-back never waited for the user's transaction";
  EXPECT_EQ(stats.pushed, 2u);  // the create, then the user's update as a revise
  EXPECT_EQ(requests("revise"), 1u);
  EXPECT_EQ(sql("SELECT title FROM " + contacts()), "Newer");
  EXPECT_EQ(remote(sql("SELECT vtiger_id FROM " + contacts()))["title"], "Newer");
  expect_exactly_once(row_id, "Overtaken");
}

// (g) As (f) with a DELETE: the user deletes the row while the create's write-back runs and holds it. The
// delete entry must carry the created record's id, so the record is deleted in Vtiger too. (Regression,
// found by the crash harness's soak profile, bug 7 of docs/reliability.md: the write-back copied the id to
// the row's later entries before it locked the row, a delete committed in between kept no id, was taken
// for "never reached Vtiger", and the pull brought the record back.)
TEST_F(push_interleave, LocalDeleteHoldingTheRowDuringTheWriteBackReachesVtiger) {
  start({}, user_holds_the_row_during_the_write_back([this](const std::string& row) {
          return "DELETE FROM " + contacts() + " WHERE _row_id = " + row;
        }));
  sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('Deleted', 'Soon')");
  const auto stats = drain();
  releaser.join();
  EXPECT_TRUE(write_back_waited) << "the write-back never waited for the user's transaction";
  EXPECT_EQ(requests("create"), 1u);
  EXPECT_EQ(requests("delete"), 1u);
  EXPECT_EQ(stats.pushed, 2u);  // the create, then the user's delete
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts()), "0");
  EXPECT_EQ(records_named("Deleted"), 0u) << "the local delete never reached Vtiger";
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE op = 'delete' AND vtiger_id IS NULL"),
            "0");
}

// After a push, the next pull finds the row unchanged: the write-back stores exactly what the pull would
// (Vtiger's `label`, which only create/revise/retrieve return, is not part of it).
TEST_F(push_interleave, NextPullAfterAPushRewritesNothing) {
  start();
  sql("INSERT INTO " + contacts() +
      " (firstname, lastname, title) SELECT 'F', 'Quiet' || g, 'T' FROM "
      "generate_series(1, 5) g");
  drain();
  sql("UPDATE " + contacts() + " SET title = 'T2' WHERE lastname IN ('Quiet1', 'Quiet2')");
  drain();
  const auto versions =
      sql("SELECT string_agg(_row_id || ':' || xmin::text, ',' ORDER BY _row_id) FROM " + contacts());
  make_puller();
  const auto first_pull = pull();
  EXPECT_EQ(first_pull.fetched, 5u);
  EXPECT_EQ(first_pull.inserted, 0u);
  EXPECT_EQ(first_pull.updated, 0u);
  EXPECT_EQ(first_pull.unchanged, 5u);
  EXPECT_EQ(sql("SELECT string_agg(_row_id || ':' || xmin::text, ',' ORDER BY _row_id) FROM " + contacts()),
            versions);
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_base::jsonb ? 'label'"), "0");
}

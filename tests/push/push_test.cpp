// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger).
// The push engine end to end: users' SQL on the mirror reaches the fake, rejected rows fail visibly while
// the rest goes on, nothing echoes, conflicts follow the policy, lost replies and crashes make no
// duplicates.
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <set>

#include "record_rows.hpp"
#include "push_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
namespace asio = boost::asio;
using nlohmann::json;

namespace {

class push : public vt::push_test {
 protected:
  std::string row(const std::string& expr, const std::string& where) {
    return sql("SELECT " + expr + " FROM " + contacts() + " WHERE " + where);
  }
  // Inserts one contact locally and pushes it; returns its vtiger_id.
  std::string pushed_contact(const std::string& lastname) {
    sql("INSERT INTO " + contacts() + " (firstname, lastname) VALUES ('F', '" + lastname + "')");
    drain();
    auto id = row("vtiger_id", "lastname = '" + lastname + "'");
    EXPECT_FALSE(id.empty());
    return id;
  }
  std::size_t dump_count_with_lastname_prefix(const std::string& prefix) {
    std::size_t n = 0;
    for (const auto& r : dump())
      if (r["lastname"].get<std::string>().rfind(prefix, 0) == 0) ++n;
    return n;
  }
  // The rows' physical versions: a rewrite of any row changes this.
  std::string row_versions() {
    return sql("SELECT coalesce(string_agg(_row_id || ':' || xmin::text, ',' ORDER BY _row_id), '') FROM " +
               contacts());
  }
};

}  // namespace

TEST_F(push, InsertUpdateDeleteReachVtiger) {
  start();
  const auto creates = requests("create");
  sql("INSERT INTO " + contacts() +
      " (firstname, lastname, email) VALUES ('Grace', 'Hopper', 'g@example.invalid')");
  auto stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_EQ(requests("create"), creates + 1);

  const auto id = row("vtiger_id", "lastname = 'Hopper'");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "synced");
  auto rec = remote(id);
  ASSERT_TRUE(rec.is_object()) << "no " << id << " at the fake";
  EXPECT_EQ(rec["lastname"], "Hopper");
  EXPECT_EQ(rec["email"], "g@example.invalid");
  EXPECT_EQ(rec["assigned_user_id"], "19x1");  // filled from the sync user's id
  // Server-side values were written back: numbering field, modifiedtime, and the agreed base.
  EXPECT_EQ(row("contact_no", "vtiger_id = '" + id + "'"), rec["contact_no"].get<std::string>());
  EXPECT_FALSE(rec["contact_no"].get<std::string>().empty());
  EXPECT_EQ(row("_sync_base::jsonb->>'modifiedtime'", "vtiger_id = '" + id + "'"),
            rec["modifiedtime"].get<std::string>());
  EXPECT_EQ(row("assigned_user_id", "vtiger_id = '" + id + "'"), "19x1");

  const auto revises = requests("revise");
  sql("UPDATE " + contacts() + " SET title = 'Rear Admiral' WHERE vtiger_id = '" + id + "'");
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "pending");
  stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_EQ(requests("revise"), revises + 1);
  EXPECT_EQ(remote(id)["title"], "Rear Admiral");
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "synced");

  sql("DELETE FROM " + contacts() + " WHERE vtiger_id = '" + id + "'");
  stats = drain();
  EXPECT_EQ(stats.pushed, 1u);
  EXPECT_TRUE(remote(id).is_null());
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
}

TEST_F(push, DefaultAssignedUserIsUsedWhenTheRowNamesNone) {
  sy::push_settings s;
  s.default_assigned_user_id = "19x5";
  start({}, s);
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Owned')");
  sql("INSERT INTO " + contacts() + " (lastname, assigned_user_id) VALUES ('Mine', '19x1')");
  drain();
  EXPECT_EQ(remote(row("vtiger_id", "lastname = 'Owned'"))["assigned_user_id"], "19x5");
  EXPECT_EQ(remote(row("vtiger_id", "lastname = 'Mine'"))["assigned_user_id"], "19x1");
}

TEST_F(push, QuickEditsOfOneRowBecomeOneRevise) {
  start();
  const auto id = pushed_contact("Quick");
  const auto revises = requests("revise");
  for (const auto& [col, val] :
       std::vector<std::pair<std::string, std::string>>{{"title", "A"},
                                                        {"department", "B"},
                                                        {"title", "C"},
                                                        {"phone", "123"},
                                                        {"email", "q@example.invalid"}}) {
    sql("UPDATE " + contacts() + " SET " + col + " = '" + val + "' WHERE vtiger_id = '" + id + "'");
  }
  const auto stats = drain();
  EXPECT_EQ(stats.coalesced, 4u);
  EXPECT_EQ(requests("revise"), revises + 1);
  const auto rec = remote(id);
  EXPECT_EQ(rec["title"], "C");
  EXPECT_EQ(rec["department"], "B");
  EXPECT_EQ(rec["phone"], "123");
  EXPECT_EQ(rec["email"], "q@example.invalid");
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "synced");
}

TEST_F(push, InsertThenDeleteBeforePushSendsNothing) {
  start();
  const auto creates = requests("create"), deletes = requests("delete");
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Ephemeral')");
  sql("DELETE FROM " + contacts() + " WHERE lastname = 'Ephemeral'");
  drain();
  EXPECT_EQ(requests("create"), creates);
  EXPECT_EQ(requests("delete"), deletes);
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
}

TEST_F(push, RejectedRowFailsWithVtigersMessageWhileTheOthersArrive) {
  start();
  sql("INSERT INTO " + contacts() +
      " (firstname, lastname) SELECT 'Good', 'Good' || g FROM generate_series(1, 50) g");
  sql("INSERT INTO " + contacts() + " (firstname, email) VALUES ('NoLastname', 'bad@example.invalid')");
  sql("INSERT INTO " + contacts() +
      " (firstname, lastname) SELECT 'Good', 'Good' || g FROM generate_series(51, 100) g");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(stats.pushed, 100u);
  EXPECT_EQ(dump_count_with_lastname_prefix("Good"), 100u);
  EXPECT_EQ(
      sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state = 'synced' AND vtiger_id IS NOT NULL"),
      "100");
  EXPECT_EQ(row("_sync_state", "firstname = 'NoLastname'"), "failed");
  const auto error = row("_sync_error", "firstname = 'NoLastname'");
  EXPECT_EQ(error.rfind("MANDATORY_FIELDS_MISSING: lastname", 0), 0u) << error;
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state = 'failed'"), "1");

  // Not retried by itself.
  const auto creates = requests("create");
  drain();
  EXPECT_EQ(requests("create"), creates);

  // Fixed by editing the row: the edit is pushed as a create of the whole row.
  sql("UPDATE " + contacts() + " SET lastname = 'Fixed' WHERE firstname = 'NoLastname'");
  drain();
  const auto id = row("vtiger_id", "firstname = 'NoLastname'");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(remote(id)["email"], "bad@example.invalid");
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "synced");
  // `vtsyncd retry` afterwards puts the old failed insert back: it must not create a second record.
  EXPECT_EQ(run(box->retry_failed("Contacts")), 1u);
  drain();
  EXPECT_EQ(requests("create"), creates + 1);
  EXPECT_EQ(dump().size(), 101u);
}

TEST_F(push, RetryAfterFailureSendsTheRowsCurrentValues) {
  start();
  sql("INSERT INTO " + contacts() + " (firstname) VALUES ('Later')");
  drain();
  ASSERT_EQ(row("_sync_state", "firstname = 'Later'"), "failed");
  // The user fixes the row, and `vtsyncd retry` puts the failed insert back: the insert goes out with the
  // row's current values (the fix folded in), as one create.
  sql("UPDATE " + contacts() + " SET lastname = 'Now' WHERE firstname = 'Later'");
  EXPECT_EQ(run(box->retry_failed()), 1u);
  drain();
  const auto id = row("vtiger_id", "firstname = 'Later'");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(remote(id)["lastname"], "Now");
  EXPECT_EQ(dump().size(), 1u);
}

TEST_F(push, RemoteRejectionOfAReviseFailsTheRow) {
  start();
  const auto id = pushed_contact("Doomed");
  fake_post("/_fake/delete", {{"id", id}});
  sql("UPDATE " + contacts() + " SET title = 'x' WHERE vtiger_id = '" + id + "'");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "failed");
  EXPECT_EQ(row("_sync_error", "vtiger_id = '" + id + "'").rfind("ACCESS_DENIED: ", 0), 0u);
}

// Regression (found by tests/crash): a session error that survives the client's one re-login (an expiry
// storm) is not Vtiger's verdict on the change. It used to mark the row failed with INVALID_SESSIONID, so a
// local insert never reached Vtiger; now the entry waits for the next drain like after any outage.
TEST_F(push, SessionErrorsAfterTheReloginLeaveTheChangePending) {
  start({"--fault", "create:invalid_session:every=1"});
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Stormy')");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_GE(stats.released, 1u);
  EXPECT_EQ(row("_sync_state", "lastname = 'Stormy'"), "pending");
  EXPECT_EQ(sql("SELECT state FROM " + state("outbox")), "pending");
  EXPECT_EQ(dump_count_with_lastname_prefix("Stormy"), 0u);
}

TEST_F(push, SessionErrorsOnReviseAndDeleteLeaveTheChangesPending) {
  start({"--fault", "revise:invalid_session:every=1", "--fault", "delete:invalid_session:every=1", "--fault",
         "retrieve:invalid_session:every=3"});
  const auto id = pushed_contact("Squall");
  const auto other = pushed_contact("Gale");
  sql("UPDATE " + contacts() + " SET title = 'x' WHERE vtiger_id = '" + id + "'");
  sql("DELETE FROM " + contacts() + " WHERE vtiger_id = '" + other + "'");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(drain().failed, 0u);
  EXPECT_EQ(row("_sync_state", "vtiger_id = '" + id + "'"), "pending");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state = 'failed'"), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state = 'pending'"), "2");
  EXPECT_TRUE(remote(other).is_object());
}

// Regression: two daemons with different postgres.schema share the database and the state schema. One must
// neither claim the other's changes (it would push them with the wrong table) nor, at its start-up, put the
// other's in-flight entries back to pending (a second create of the same row).
TEST_F(push, AStoreOfAnotherMirrorSchemaLeavesTheseEntriesAlone) {
  start();
  st::state_options other_options = options;
  other_options.mirror_schema = mirror_schema + "_other";
  st::outbox other{*conn, other_options};
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Mine')");
  const std::vector<st::mirror_table> tables{table};
  EXPECT_TRUE(run(other.claim(tables, 50)).entries.empty());
  EXPECT_EQ(run(other.count()).pending, 0);
  const auto claimed = run(box->claim(tables, 50));
  ASSERT_EQ(claimed.entries.size(), 1u);
  EXPECT_EQ(run(other.reset_in_flight()), 0u);
  EXPECT_EQ(sql("SELECT state FROM " + state("outbox")), "in_flight");
  EXPECT_EQ(run(box->reset_in_flight()), 1u);
}

TEST_F(push, DeleteOfARecordAlreadyDeletedInVtigerIsDone) {
  start();
  const auto id = pushed_contact("Gone");
  fake_post("/_fake/delete", {{"id", id}});
  sql("DELETE FROM " + contacts() + " WHERE vtiger_id = '" + id + "'");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.handled, 1u);
  EXPECT_EQ(sql("SELECT state FROM " + state("outbox") + " WHERE op = 'delete'"), "done");
}

// The issue asks for 1,000 local edits; 200 here keeps the suite fast (the path is the same per edit).
TEST_F(push, NoEchoAfterManyLocalEditsAndIdleCycles) {
  start();
  sql("INSERT INTO " + contacts() +
      " (firstname, lastname) SELECT 'E', 'Echo' || g FROM generate_series(1, 50) g");
  drain();
  for (int round = 0; round < 3; ++round) {
    // 50 rows x 3 rounds = 150 updates, 200 local edits with the inserts.
    sql("UPDATE " + contacts() + " SET title = 'T" + std::to_string(round) + "' || _row_id, mobile = '" +
        std::to_string(round) + "'");
    drain();
  }
  ASSERT_EQ(sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state = 'synced'"), "50");
  const auto creates = requests("create"), revises = requests("revise");
  const auto versions = row_versions();
  const auto outbox_rows = sql("SELECT count(*) FROM " + state("outbox"));

  for (int cycle = 0; cycle < 5; ++cycle) {
    // An idle pull cycle: every record as Vtiger has it, stored as the pull does (as `query` returns
    // records: without the `label` that the dump, shaped like retrieve, carries).
    const auto records = dump();
    std::vector<json> page(records.begin(), records.end());
    for (auto& r : page) r.erase("label");
    const auto result = run(mirror_db->store_page(table, vt::rows(table, page)));
    EXPECT_EQ(result.inserted, 0u);
    EXPECT_EQ(result.updated, 0u);
    EXPECT_EQ(result.unchanged, 50u);
    const auto stats = drain();
    EXPECT_EQ(stats.handled, 0u);
  }
  EXPECT_EQ(requests("create"), creates);
  EXPECT_EQ(requests("revise"), revises);
  EXPECT_EQ(row_versions(), versions);
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox")), outbox_rows);
}

namespace {

struct conflict_case {
  sy::conflict_policy policy;
  bool remote_later;  // the remote edit happens after the local one (newest_wins)
  std::string expected;
  std::string decision;
};

class push_conflict : public vt::push_test, public ::testing::WithParamInterface<conflict_case> {};

}  // namespace

TEST_P(push_conflict, SameFieldChangedOnBothSides) {
  const auto param = GetParam();
  sy::push_settings s;
  s.conflicts = param.policy;
  start({}, s);
  sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('Conflicted', 'Base')");
  drain();
  const auto id = sql("SELECT vtiger_id FROM " + contacts() + " WHERE lastname = 'Conflicted'");
  ASSERT_FALSE(id.empty());

  if (param.remote_later) {
    sql("UPDATE " + contacts() + " SET title = 'Local' WHERE vtiger_id = '" + id + "'");
    fake_post("/_fake/clock", {{"advance_seconds", 120}});  // the CRM's edit is clearly later
    fake_post("/_fake/edit", {{"id", id}, {"fields", {{"title", "Remote"}}}});
  } else {
    fake_post("/_fake/edit", {{"id", id}, {"fields", {{"title", "Remote"}}}});
    sql("UPDATE " + contacts() + " SET title = 'Local' WHERE vtiger_id = '" + id + "'");
  }
  const auto stats = drain();
  EXPECT_EQ(stats.conflicts, 1u);
  EXPECT_EQ(remote(id)["title"], param.expected);
  EXPECT_EQ(sql("SELECT title FROM " + contacts() + " WHERE vtiger_id = '" + id + "'"), param.expected);
  EXPECT_EQ(sql("SELECT _sync_state FROM " + contacts() + " WHERE vtiger_id = '" + id + "'"), "synced");
  EXPECT_EQ(
      sql("SELECT field || '|' || local_value || '|' || remote_value || '|' || decision || '|' || vtiger_id "
          "FROM " +
          state("conflicts")),
      "title|Local|Remote|" + param.decision + "|" + id);
}

INSTANTIATE_TEST_SUITE_P(
    policies, push_conflict,
    ::testing::Values(conflict_case{sy::conflict_policy::remote_wins, false, "Remote", "remote_wins"},
                      conflict_case{sy::conflict_policy::local_wins, false, "Local", "local_wins"},
                      conflict_case{sy::conflict_policy::newest_wins, false, "Local", "newest_wins:local"},
                      conflict_case{sy::conflict_policy::newest_wins, true, "Remote", "newest_wins:remote"}),
    [](const auto& name_info) {
      return std::string{sy::to_string(name_info.param.policy)} +
             (name_info.param.remote_later ? "_remote_later" : "_local_later");
    });

TEST_F(push, DifferentFieldsChangedOnBothSidesBothSurvive) {
  start();
  const auto id = pushed_contact("Merged");
  fake_post("/_fake/edit", {{"id", id}, {"fields", {{"title", "RemoteTitle"}}}});
  sql("UPDATE " + contacts() + " SET department = 'LocalDept' WHERE vtiger_id = '" + id + "'");
  const auto stats = drain();
  EXPECT_EQ(stats.conflicts, 0u);
  const auto rec = remote(id);
  EXPECT_EQ(rec["title"], "RemoteTitle");
  EXPECT_EQ(rec["department"], "LocalDept");
  EXPECT_EQ(sql("SELECT title || '|' || department FROM " + contacts() + " WHERE vtiger_id = '" + id + "'"),
            "RemoteTitle|LocalDept");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("conflicts")), "0");
}

namespace {

struct lost_reply_case {
  bool idempotency_field;
  bool crash;  // kill the engine right after some creates instead of dropping replies
};

class push_no_duplicates : public vt::push_test, public ::testing::WithParamInterface<lost_reply_case> {
 protected:
  std::set<std::string> remote_lastnames() {
    std::set<std::string> names;
    for (const auto& r : dump()) names.insert(r["lastname"].get<std::string>());
    return names;
  }
};

struct simulated_crash : std::runtime_error {
  simulated_crash() : std::runtime_error("simulated crash after create") {}
};

}  // namespace

// Regression (found by tests/crash): the process dies after Vtiger accepted a create and before the
// write-back, and the user deletes the row before the next start. The record used to stay in Vtiger with no
// mirror row (the pull then brought it back); now it is found by its idempotency key and deleted.
TEST_F(push, RowDeletedAfterAnUnconfirmedCreateDoesNotLeaveTheRecordInVtiger) {
  sy::push_settings s;
  s.idempotency_field = "cf_901";
  start({"--idempotency-field", "cf_901"}, s);
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Orphan')");
  auto crashing = s;
  crashing.after_create = [](const st::outbox_entry&) { throw simulated_crash{}; };
  make_pusher(crashing);
  EXPECT_THROW(drain(), simulated_crash);
  ASSERT_EQ(dump().size(), 1u);
  sql("DELETE FROM " + contacts() + " WHERE lastname = 'Orphan'");
  make_pusher(s);
  drain();
  EXPECT_EQ(dump().size(), 0u);
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
}

TEST_P(push_no_duplicates, EveryLocalInsertBecomesExactlyOneRecord) {
  const auto param = GetParam();
  std::vector<std::string> args;
  sy::push_settings s;
  if (param.idempotency_field) {
    args = {"--idempotency-field", "cf_901"};
    s.idempotency_field = "cf_901";
  }
  if (!param.crash) args.insert(args.end(), {"--fault", "create:drop_reply:every=10"});
  const int rows = 1000;
  start(args, s);

  sql("INSERT INTO " + contacts() + " (firstname, lastname) SELECT 'N', 'Dup' || g FROM generate_series(1, " +
      std::to_string(rows) + ") g");
  if (!param.crash) {
    // Lost replies: the engine keeps going (no backoff is needed: every lost create is found at once).
    for (int i = 0;
         i < 20 && sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state <> 'synced'") != "0"; ++i)
      drain();
    const auto faults = fake_get("/_fake/stats")["faults"];
    EXPECT_GE(faults.value("drop_reply", 0), rows / 10);
  } else {
    // The process dies right after every 7th create, before writing the id back; a new engine starts.
    int creates = 0, crashes = 0;
    for (int i = 0; i < 200; ++i) {
      auto settings = s;
      settings.after_create = [&creates](const st::outbox_entry&) {
        if (++creates % 7 == 0) throw simulated_crash{};
      };
      make_pusher(settings);
      try {
        drain();
        break;
      } catch (const simulated_crash&) {
        ++crashes;
      }
    }
    EXPECT_GE(crashes, rows / 7 - 1);
  }
  EXPECT_EQ(
      sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state = 'synced' AND vtiger_id IS NOT NULL"),
      std::to_string(rows));
  EXPECT_EQ(sql("SELECT count(DISTINCT vtiger_id) FROM " + contacts()), std::to_string(rows));
  const auto records = dump();
  EXPECT_EQ(records.size(), static_cast<std::size_t>(rows));
  EXPECT_EQ(remote_lastnames().size(), static_cast<std::size_t>(rows));
  if (param.idempotency_field) {
    std::set<std::string> keys;
    for (const auto& r : records) keys.insert(r.value("cf_901", std::string{}));
    EXPECT_EQ(keys.size(), static_cast<std::size_t>(rows));
    EXPECT_FALSE(keys.contains(""));
  }
}

INSTANTIATE_TEST_SUITE_P(modes, push_no_duplicates,
                         ::testing::Values(lost_reply_case{true, false}, lost_reply_case{false, false},
                                           lost_reply_case{true, true}, lost_reply_case{false, true}),
                         [](const auto& name_info) {
                           return std::string{name_info.param.idempotency_field ? "idempotency_field"
                                                                                : "value_lookup"} +
                                  (name_info.param.crash ? "_crash" : "_drop_reply");
                         });

TEST_F(push, RunReactsToNotifications) {
  sy::push_settings s;
  s.fallback_poll = std::chrono::minutes(10);  // only a notification can start a drain in this test
  start({}, s);
  bool synced = false;
  asio::co_spawn(io, engine->run(), [](std::exception_ptr e) {
    if (e) ADD_FAILURE() << "run() threw";
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer{io};
        timer.expires_after(std::chrono::milliseconds(300));  // run() has done its first (empty) drain
        co_await timer.async_wait(asio::use_awaitable);
        sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Notified')");
        for (int i = 0; i < 400 && !synced; ++i) {
          timer.expires_after(std::chrono::milliseconds(50));
          co_await timer.async_wait(asio::use_awaitable);
          synced = sql("SELECT _sync_state FROM " + contacts() + " WHERE lastname = 'Notified'") == "synced";
        }
        engine->stop();
      },
      asio::detached);
  io.restart();
  io.run();
  EXPECT_TRUE(synced);
  EXPECT_EQ(dump().size(), 1u);
}

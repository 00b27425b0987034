// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES).
// Capture of users' changes into the outbox (with a notification on the loop), and the push-side queries:
// claim, mark done / failed, release, reset, retry, conflicts.
#include <boost/asio/co_spawn.hpp>

#include <algorithm>
#include <set>

#include "outbox_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace asio = boost::asio;
using nlohmann::json;

namespace {

class outbox : public vt::outbox_storage_test {
 protected:
  std::vector<st::outbox_entry> claim(st::outbox& from, int limit = 10) {
    return run(from.claim(tables, limit)).entries;
  }

  // Waits for the capture trigger's notification for our table (other tests share the channel).
  void expect_notification(st::connection& listener) {
    const std::string ours = mirror_schema + ".contacts";
    for (int i = 0; i < 100; ++i) {
      auto n = run(listener.next_notification(std::chrono::seconds(10)));
      ASSERT_TRUE(n.has_value()) << "no notification for " << ours;
      if (n->channel == st::outbox_channel && n->payload == ours) return;
    }
    FAIL() << "no notification for " << ours;
  }

  json entry(const std::string& where) {
    const auto text = scalar("SELECT to_jsonb(o) FROM " + state("outbox") + " o WHERE " + where);
    return text.empty() ? json(nullptr) : json::parse(text);
  }
  std::string outbox_size() { return scalar("SELECT count(*) FROM " + state("outbox")); }
};

}  // namespace

TEST_F(outbox, EachUserChangeIsOneEntryAndANotification) {
  st::connection listener{io.get_executor(), connection_options()};
  run(listener.listen(std::string{st::outbox_channel}));
  EXPECT_EQ(outbox_size(), "0");

  scalar("INSERT INTO " + mirror("contacts") +
         " (firstname, lastname, donotcall, assigned_user_id) VALUES ('Grace', 'Hopper', true, '19x1')");
  expect_notification(listener);
  auto e = entry("op = 'insert'");
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e["state"], "pending");
  EXPECT_TRUE(e["vtiger_id"].is_null());
  EXPECT_EQ(e["new_values"]["lastname"], "Hopper");
  EXPECT_EQ(e["new_values"]["donotcall"], true);
  EXPECT_FALSE(e["new_values"].contains("_sync_state"));
  EXPECT_EQ(e["changed_columns"], json::array({"assigned_user_id", "donotcall", "firstname", "lastname"}));
  EXPECT_FALSE(e["idempotency_key"].get<std::string>().empty());
  EXPECT_EQ(e["module"], "Contacts");
  EXPECT_EQ(row("_sync_state", "lastname = 'Hopper'"), "pending");
  EXPECT_EQ(e["row_id"].dump(), row("_row_id", "lastname = 'Hopper'"));

  scalar("UPDATE " + mirror("contacts") + " SET title = 'CEO', lastname = lastname WHERE vtiger_id = '12x1'");
  expect_notification(listener);
  e = entry("op = 'update'");
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e["vtiger_id"], "12x1");
  EXPECT_EQ(e["changed_columns"], json::array({"title"}));
  EXPECT_EQ(e["old_values"], json({{"title", ""}}));
  EXPECT_EQ(e["new_values"], json({{"title", "CEO"}}));
  EXPECT_EQ(row("_sync_state", "vtiger_id = '12x1'"), "pending");

  scalar("DELETE FROM " + mirror("contacts") + " WHERE vtiger_id = '12x2'");
  expect_notification(listener);
  e = entry("op = 'delete'");
  ASSERT_TRUE(e.is_object());
  EXPECT_EQ(e["vtiger_id"], "12x2");
  EXPECT_EQ(e["old_values"]["lastname"], "Last2");

  EXPECT_EQ(outbox_size(), "3");
}

TEST_F(outbox, DaemonWritesAndInternalOnlyUpdatesAreNotCaptured) {
  auto records = vt::contact_records(1, 3);
  records[0]["title"] = "changed remotely";
  run(mirror_db->store_page(table, vt::rows(table, records)));
  run(mirror_db->apply_remote_deletes(table, std::vector<std::string>{"12x3"}, st::remote_delete::remove));
  // A user resetting the sync columns, or writing a value that is already there.
  scalar("UPDATE " + mirror("contacts") +
         " SET _sync_state = 'synced', _sync_error = 'x', _sync_base = '{}'");
  scalar("UPDATE " + mirror("contacts") + " SET lastname = lastname");
  EXPECT_EQ(outbox_size(), "0");
  EXPECT_EQ(row("count(*)", "_sync_state = 'pending'"), "0");
  // Marking a transaction as the daemon's is transaction-local.
  scalar("BEGIN; SELECT set_config('vtsync.origin', 'daemon', true); UPDATE " + mirror("contacts") +
         " SET title = 'quiet'; COMMIT");
  EXPECT_EQ(outbox_size(), "0");
  scalar("UPDATE " + mirror("contacts") + " SET title = 'loud' WHERE vtiger_id = '12x1'");
  EXPECT_EQ(outbox_size(), "1");
}

TEST_F(outbox, ClaimGivesEachRowsChangesInOrderAndMarkDoneWritesBack) {
  st::state_options kolkata = options;
  kolkata.vtiger_timezone = "Asia/Kolkata";
  st::outbox push{*conn, kolkata};
  scalar("INSERT INTO " + mirror("contacts") +
         " (lastname, donotcall, birthday, support_start_date, createdtime, assigned_user_id) VALUES "
         "('Lamarr', true, '1914-11-09', NULL, '2026-01-01 00:00:00+00', '19x1')");
  scalar("UPDATE " + mirror("contacts") + " SET title = 'Inventor' WHERE lastname = 'Lamarr'");

  const auto claimed = run(push.claim(tables, 10));
  ASSERT_EQ(claimed.entries.size(), 1u);  // the update made before the claim is folded into the insert
  EXPECT_EQ(claimed.coalesced, 1u);
  const auto& created = claimed.entries[0];
  EXPECT_EQ(created.op, st::outbox_op::insert);
  EXPECT_EQ(created.attempts, 1);
  // What the push sends for it: the row's values as Vtiger takes them, read with the claim.
  const auto& created_row = created.row;
  ASSERT_TRUE(created_row.has_value());
  const auto created_values = vtsync::record::to_vtiger_values(table, created_row->values);
  EXPECT_EQ(created_values["lastname"], "Lamarr");
  EXPECT_EQ(created_values["title"], "Inventor");
  EXPECT_EQ(created_values["donotcall"], "1");
  EXPECT_EQ(created_values["birthday"], "1914-11-09");
  EXPECT_EQ(created_values["createdtime"], "2026-01-01 05:30:00");  // in the server's zone
  EXPECT_EQ(created_values["support_start_date"], "");
  // The user changes the row while its create is in flight: that change waits for the create.
  scalar("UPDATE " + mirror("contacts") + " SET title = 'Actress' WHERE lastname = 'Lamarr'");
  EXPECT_TRUE(claim(push).empty());

  // Vtiger created it as 12x500. The user changed the row meanwhile, so the row keeps the local value.
  auto server = vt::contact_record(500);
  server["lastname"] = "Lamarr";
  server["title"] = "Inventor";
  run(push.mark_done(table, created, vt::written_back(table, server)));
  EXPECT_EQ(row("vtiger_id || '/' || title || '/' || _sync_state || '/' || (_sync_base::jsonb->>'title')",
                "lastname = 'Lamarr'"),
            "12x500/Actress/pending/Inventor");

  auto batch = claim(push);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].op, st::outbox_op::update);
  EXPECT_EQ(batch[0].vtiger_id, "12x500");
  EXPECT_EQ(vtsync::record::to_vtiger_values(table, batch[0].new_values), json({{"title", "Actress"}}));
  server["title"] = "Actress";
  server["modifiedtime"] = "2026-11-29 10:00:00";
  run(push.mark_done(table, batch[0], vt::written_back(table, server)));
  EXPECT_EQ(row("title || '/' || _sync_state || '/' || to_char(modifiedtime AT TIME ZONE 'UTC', 'HH24:MI')",
                "vtiger_id = '12x500'"),
            "Actress/synced/04:30");  // 10:00 in Kolkata
  const auto counts = run(push.count());
  EXPECT_EQ(counts.pending + counts.in_flight + counts.failed, 0);
  EXPECT_EQ(outbox_size(), "3");  // the daemon's write-back was not captured
}

TEST_F(outbox, MarkDoneMergesARowThePullAlreadyStored) {
  scalar("INSERT INTO " + mirror("contacts") + " (lastname, assigned_user_id) VALUES ('Noether', '19x1')");
  const auto local_row = row("_row_id", "lastname = 'Noether'");
  auto batch = claim(*box);
  ASSERT_EQ(batch.size(), 1u);
  auto server = vt::contact_record(700);
  server["lastname"] = "Noether";
  run(mirror_db->store_page(
      table, vt::rows(table, std::vector<json>{server})));  // the pull saw the new record first
  EXPECT_EQ(row("count(*)", "lastname = 'Noether'"), "2");
  run(box->mark_done(table, batch[0], vt::written_back(table, server)));
  EXPECT_EQ(row("count(*)", "lastname = 'Noether'"), "1");
  EXPECT_EQ(row("_row_id", "vtiger_id = '12x700'"), local_row);
}

TEST_F(outbox, FailuresAreRecordedAndCanBeRetried) {
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id = '12x1'");
  auto batch = claim(*box);
  ASSERT_EQ(batch.size(), 1u);
  run(box->mark_failed(batch[0], "MANDATORY_FIELDS_MISSING: lastname does not have a value"));
  EXPECT_EQ(row("_sync_state || ': ' || _sync_error", "vtiger_id = '12x1'"),
            "failed: MANDATORY_FIELDS_MISSING: lastname does not have a value");
  EXPECT_EQ(run(box->count("Contacts")).failed, 1);
  EXPECT_TRUE(claim(*box).empty());
  EXPECT_EQ(outbox_size(), "1");  // the daemon's marking was not captured

  EXPECT_EQ(run(box->retry_failed("Contacts")), 1u);
  batch = claim(*box);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].attempts, 2);

  run(box->release(batch[0], "HTTP 503"));
  EXPECT_EQ(run(box->count()).pending, 1);
  batch = claim(*box);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(run(box->reset_in_flight()), 1u);  // as at start-up after a crash
  batch = claim(*box);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].attempts, 4);
}

TEST_F(outbox, ConcurrentClaimersNeverShareAnEntry) {
  scalar("INSERT INTO " + mirror("contacts") +
         " (lastname, assigned_user_id) SELECT 'Bulk' || g, '19x1' FROM generate_series(1, 20) g");
  st::connection other{io.get_executor(), connection_options()};
  st::outbox second{other, options};
  std::vector<st::outbox_entry> a, b;
  asio::co_spawn(io, box->claim(tables, 15), [&](std::exception_ptr e, st::claimed_batch v) {
    ASSERT_FALSE(e);
    a = std::move(v.entries);
  });
  asio::co_spawn(io, second.claim(tables, 15), [&](std::exception_ptr e, st::claimed_batch v) {
    ASSERT_FALSE(e);
    b = std::move(v.entries);
  });
  io.restart();
  io.run();
  std::set<std::int64_t> ids;
  for (const auto& e : a) ids.insert(e.id);
  for (const auto& e : b) EXPECT_TRUE(ids.insert(e.id).second) << "entry " << e.id << " claimed twice";
  EXPECT_EQ(ids.size(), std::min<std::size_t>(20, a.size() + b.size()));
  EXPECT_GE(a.size() + b.size(), 15u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end(), [](auto& x, auto& y) { return x.id < y.id; }));
}

TEST_F(outbox, ConflictsAreLogged) {
  run(box->log_conflict({"Contacts", "12x1", "title", "local", "remote", "remote_wins"}));
  EXPECT_EQ(scalar("SELECT module || vtiger_id || field || local_value || remote_value || decision FROM " +
                   state("conflicts")),
            "Contacts12x1titlelocalremoteremote_wins");
}

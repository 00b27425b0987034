// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (for the mirror table's describe).
// The outbox as the push engine uses it: claims that fold later edits and read the row, server-zone times.
#include "record_rows.hpp"
#include "push_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
using nlohmann::json;

namespace {
class push_support : public vt::push_test {};
}  // namespace

TEST_F(push_support, CoalescingFoldsLaterUpdatesUpToADelete) {
  start();
  auto page =
      std::vector<json>{{{"id", "12x1"}, {"lastname", "One"}, {"title", "t0"}, {"assigned_user_id", "19x1"}}};
  run(mirror_db->store_page(table, vt::rows(table, page)));
  sql("UPDATE " + contacts() + " SET title = 't1'");
  sql("UPDATE " + contacts() + " SET department = 'd1'");
  sql("UPDATE " + contacts() + " SET title = 't2'");
  sql("DELETE FROM " + contacts());
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Other')");  // another row: untouched

  const std::vector<st::mirror_table> tables{table};
  auto batch = run(box->claim(tables, 10));
  auto& claimed = batch.entries;
  ASSERT_EQ(claimed.size(), 2u);  // one entry per row
  EXPECT_EQ(batch.coalesced, 2u);
  const auto& head = claimed[0];
  EXPECT_EQ(head.op, st::outbox_op::update);
  EXPECT_EQ(head.changed_columns, (std::vector<std::string>{"department", "title"}));
  EXPECT_EQ(head.old_values, json({{"title", "t0"}, {"department", nullptr}}));  // absent in the page: NULL
  EXPECT_EQ(head.new_values, json({{"title", "t2"}, {"department", "d1"}}));
  EXPECT_EQ(claimed[1].op, st::outbox_op::insert);
  EXPECT_EQ(sql("SELECT string_agg(op || ':' || state, ',' ORDER BY id) FROM " + state("outbox")),
            "update:in_flight,update:done,update:done,delete:pending,insert:in_flight");
  EXPECT_EQ(
      sql("SELECT changed_columns::text FROM " + state("outbox") + " WHERE id = " + std::to_string(head.id)),
      "{department,title}");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE error = 'coalesced into " +
                std::to_string(head.id) + "'"),
            "2");
  // The row's delete waits for the in-flight update; nothing else is left to claim or fold.
  const auto again = run(box->claim(tables, 10));
  EXPECT_TRUE(again.entries.empty());
  EXPECT_EQ(again.coalesced, 0u);
}

TEST_F(push_support, RowSnapshotAndServerTime) {
  start();
  sql("INSERT INTO " + contacts() +
      " (lastname, birthday, donotcall, modifiedtime) VALUES ('Snap', '1990-02-03', "
      "true, '2026-01-02 10:00:00+00')");
  const std::vector<st::mirror_table> tables{table};
  const auto batch = run(box->claim(tables, 10));
  ASSERT_EQ(batch.entries.size(), 1u);
  const auto& row = batch.entries[0].row;
  ASSERT_TRUE(row.has_value());
  EXPECT_FALSE(row->vtiger_id.has_value());
  EXPECT_TRUE(row->sync_base.is_null());
  EXPECT_EQ(row->sync_state, "pending");
  const auto values = vtsync::record::to_vtiger_values(table, row->values);
  EXPECT_EQ(values["lastname"], "Snap");
  EXPECT_EQ(values["birthday"], "1990-02-03");
  EXPECT_EQ(values["donotcall"], "1");
  EXPECT_EQ(values["modifiedtime"], "2026-01-02 10:00:00");
  EXPECT_EQ(values["title"], "");
  EXPECT_FALSE(values.contains("_sync_state"));
  // A row deleted before the claim has no snapshot.
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Gone')");
  sql("DELETE FROM " + contacts() + " WHERE lastname = 'Gone'");
  const auto gone = run(box->claim(tables, 10));
  ASSERT_EQ(gone.entries.size(), 1u);
  EXPECT_EQ(gone.entries[0].op, st::outbox_op::insert);
  EXPECT_FALSE(gone.entries[0].row.has_value());

  // The claim renders the change's commit time as Vtiger writes times: the server's zone, seconds
  // truncated (the push compares it with modifiedtime and looks for creates since it, without a round trip).
  const auto claim_at = [&](st::outbox& from, const std::string& created_at) {
    sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Timed')");
    sql("UPDATE " + state("outbox") + " SET created_at = '" + created_at + "' WHERE state = 'pending'");
    auto timed = run(from.claim(tables, 10));
    EXPECT_EQ(timed.entries.size(), 1u);
    sql("DELETE FROM " + contacts() + " WHERE lastname = 'Timed'");
    sql("UPDATE " + state("outbox") + " SET state = 'done' WHERE state <> 'done'");
    return timed.entries.empty() ? std::string{} : timed.entries[0].created_at_vtiger;
  };
  EXPECT_EQ(claim_at(*box, "2026-01-02 10:00:05.7+00"), "2026-01-02 10:00:05");
  st::state_options berlin = options;
  berlin.vtiger_timezone = "Europe/Berlin";
  st::outbox other{*conn, berlin};
  EXPECT_EQ(claim_at(other, "2026-07-01 10:00:00+00"), "2026-07-01 12:00:00");
  EXPECT_EQ(claim_at(other, "2026-01-01 23:30:00.999+00"), "2026-01-02 00:30:00");

  const std::vector<std::string> ids{"12x1", "12x2"};
  EXPECT_TRUE(run(box->held_vtiger_ids(table, ids)).empty());
  sql("UPDATE " + contacts() + " SET vtiger_id = '12x2'");
  EXPECT_EQ(run(box->held_vtiger_ids(table, ids)), (std::vector<std::string>{"12x2"}));
}

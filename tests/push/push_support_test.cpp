// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (for the mirror table's describe).
// The storage queries the push engine adds: coalescing, row snapshots, server-zone times.
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
  run(db->store_page(table, vt::rows(table, page)));
  sql("UPDATE " + contacts() + " SET title = 't1'");
  sql("UPDATE " + contacts() + " SET department = 'd1'");
  sql("UPDATE " + contacts() + " SET title = 't2'");
  sql("DELETE FROM " + contacts());
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Other')");  // another row: untouched

  auto claimed = run(db->claim(10));
  ASSERT_EQ(claimed.size(), 2u);  // one entry per row
  const auto folded = run(st::coalesce_pending(*db, claimed));
  EXPECT_EQ(folded, 2u);
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
  // Nothing more to fold the second time.
  EXPECT_EQ(run(st::coalesce_pending(*db, claimed)), 0u);
}

TEST_F(push_support, RowSnapshotAndServerTime) {
  start();
  sql("INSERT INTO " + contacts() +
      " (lastname, birthday, donotcall, modifiedtime) VALUES ('Snap', '1990-02-03', "
      "true, '2026-01-02 10:00:00+00')");
  const auto row_id = std::stoll(sql("SELECT _row_id FROM " + contacts()));
  const auto row = run(st::load_row(*db, table, row_id));
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
  EXPECT_FALSE(run(st::load_row(*db, table, row_id + 1000)).has_value());

  EXPECT_EQ(run(st::to_vtiger_time(*db, "2026-01-02 10:00:05.7+00", std::chrono::seconds{-300})),
            "2026-01-02 09:55:05");
  st::state_options berlin = options;
  berlin.vtiger_timezone = "Europe/Berlin";
  st::store other{*conn, berlin};
  EXPECT_EQ(run(st::to_vtiger_time(other, "2026-07-01 10:00:00+00")), "2026-07-01 12:00:00");

  const std::vector<std::string> ids{"12x1", "12x2"};
  EXPECT_TRUE(run(st::held_vtiger_ids(*db, table, ids)).empty());
  sql("UPDATE " + contacts() + " SET vtiger_id = '12x2'");
  EXPECT_EQ(run(st::held_vtiger_ids(*db, table, ids)), (std::vector<std::string>{"12x2"}));
}

// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES).
// What operators do with the outbox (outbox_control.cpp): list open entries, discard rejected changes
// under the push's locks, prune done entries past the retention.
#include <algorithm>

#include "outbox_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
using nlohmann::json;

namespace {

class outbox_control : public vt::outbox_storage_test {
 protected:
  // Claims everything open and marks it failed, as the push does when Vtiger rejects the changes.
  void reject_all() {
    for (auto& e : run(box->claim(tables, 100)).entries)
      run(box->mark_failed(e, "MANDATORY_FIELDS_MISSING: x"));
  }
  std::vector<st::failed_row> failed_of(const std::string& vtiger_id) {
    st::discard_selector which;
    which.vtiger_id = vtiger_id;
    return run(box->failed_rows(which));
  }
  std::string open_entries() {
    return scalar("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'");
  }
};

}  // namespace

TEST_F(outbox_control, DiscardClosesTheFailedAndLaterEntriesAndRestoresVtigersRecord) {
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id = '12x1'");
  reject_all();
  // Edited again after the rejection: a pending entry after the failed one.
  scalar("UPDATE " + mirror("contacts") + " SET title = 'Again' WHERE vtiger_id = '12x1'");
  const auto found = failed_of("12x1");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].ops, std::vector<std::string>{"update"});
  EXPECT_EQ(found[0].vtiger_id, "12x1");
  EXPECT_NE(found[0].error.find("MANDATORY_FIELDS_MISSING"), std::string::npos);

  auto remote = vt::contact_record(1);
  remote["lastname"] = "FromVtiger";
  const auto outcome = run(box->discard(table, found[0], vt::written_back(table, remote), false));
  EXPECT_EQ(outcome, st::discard_outcome::restored);
  EXPECT_EQ(row("lastname || '/' || coalesce(title, '') || '/' || _sync_state", "vtiger_id = '12x1'"),
            "FromVtiger//synced");
  EXPECT_EQ(row("coalesce(_sync_error, 'none')", "vtiger_id = '12x1'"), "none");
  EXPECT_EQ(open_entries(), "0");  // the failed one and the later pending one
  EXPECT_EQ(scalar("SELECT count(*) FROM " + state("outbox") + " WHERE error = 'discarded'"), "2");
  EXPECT_EQ(run(box->count()).failed, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + state("outbox")), "2");  // a daemon write: nothing captured
}

TEST_F(outbox_control, DiscardLeavesARowAloneWhileItIsPushedOrEditedAgain) {
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id = '12x2'");
  reject_all();
  auto found = failed_of("12x2");
  ASSERT_EQ(found.size(), 1u);
  // The user edits the row after discard found it: the newer change is not thrown away.
  scalar("UPDATE " + mirror("contacts") + " SET title = 'Newer' WHERE vtiger_id = '12x2'");
  EXPECT_EQ(run(box->discard(table, found[0], vt::written_back(table, vt::contact_record(2)), false)),
            st::discard_outcome::busy);
  EXPECT_EQ(row("title", "vtiger_id = '12x2'"), "Newer");
  // Found again, but the push has claimed the newer entry meanwhile (in flight): still left alone.
  found = failed_of("12x2");
  ASSERT_EQ(found.size(), 1u);
  const auto claimed = run(box->claim(tables, 10)).entries;
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(run(box->discard(table, found[0], vt::written_back(table, vt::contact_record(2)), false)),
            st::discard_outcome::busy);
  EXPECT_EQ(run(box->count()).failed, 1);
}

TEST_F(outbox_control, DiscardRemovesANeverCreatedRowAndBringsBackARejectedDelete) {
  scalar("INSERT INTO " + mirror("contacts") + " (firstname) VALUES ('NoLastname')");
  scalar("DELETE FROM " + mirror("contacts") + " WHERE vtiger_id = '12x3'");
  reject_all();
  st::discard_selector all;
  all.module = "Contacts";
  const auto found = run(box->failed_rows(all));
  ASSERT_EQ(found.size(), 2u);
  for (const auto& f : found) {
    const auto record = f.vtiger_id ? vt::written_back(table, vt::contact_record(3)) : std::nullopt;
    const auto outcome = run(box->discard(table, f, record, false));
    EXPECT_EQ(outcome, f.vtiger_id ? st::discard_outcome::restored : st::discard_outcome::removed);
  }
  EXPECT_EQ(row("count(*)", "firstname = 'NoLastname'"), "0");
  EXPECT_EQ(row("lastname || '/' || _sync_state", "vtiger_id = '12x3'"), "Last3/synced");
  EXPECT_EQ(open_entries(), "0");
}

TEST_F(outbox_control, DiscardOfARecordGoneFromVtigerDeletesOrMarksTheRow) {
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id IN ('12x1', '12x2')");
  reject_all();
  EXPECT_EQ(run(box->discard(table, failed_of("12x1")[0], std::nullopt, false)), st::discard_outcome::gone);
  EXPECT_EQ(row("count(*)", "vtiger_id = '12x1'"), "0");
  EXPECT_EQ(run(box->discard(table, failed_of("12x2")[0], std::nullopt, true)), st::discard_outcome::gone);
  EXPECT_EQ(row("_sync_state", "vtiger_id = '12x2'"), "deleted");
  EXPECT_EQ(open_entries(), "0");
}

TEST_F(outbox_control, ListsOpenEntriesWithTheirRows) {
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id = '12x1'");
  reject_all();
  scalar("INSERT INTO " + mirror("contacts") + " (lastname) VALUES ('Queued')");
  const auto open = run(box->list_open(tables, "Contacts", 10));
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].state, "failed");
  EXPECT_EQ(open[0].entry.vtiger_id, "12x1");
  EXPECT_NE(open[0].error.find("MANDATORY_FIELDS_MISSING"), std::string::npos);
  EXPECT_EQ(open[1].state, "pending");
  ASSERT_TRUE(open[1].entry.row.has_value());
  EXPECT_EQ(open[1].entry.row->values["lastname"], "Queued");
  EXPECT_TRUE(run(box->list_open(tables, "Accounts", 10)).empty());
  EXPECT_EQ(run(box->list_open(tables, "", 1)).size(), 1u);
}

TEST_F(outbox_control, PrunesDoneEntriesPastTheRetentionInBatchesAndKeepsFailedOnes) {
  for (int i = 0; i < 25; ++i)
    scalar("UPDATE " + mirror("contacts") + " SET title = 't" + std::to_string(i) +
           "' WHERE vtiger_id = '12x1'");
  scalar("UPDATE " + mirror("contacts") + " SET lastname = '' WHERE vtiger_id = '12x2'");
  // All 25 updates of 12x1 end done (one claimed, the others folded into it); 12x2's is rejected.
  auto batch = run(box->claim(tables, 10)).entries;
  for (auto& e : batch) {
    if (e.vtiger_id == "12x2")
      run(box->mark_failed(e, "MANDATORY_FIELDS_MISSING: x"));
    else
      run(box->mark_done(table, e, std::nullopt, e.vtiger_id));
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM " + state("outbox") + " WHERE state = 'done'"), "25");
  EXPECT_EQ(run(box->prune_done(std::chrono::hours{1}, 10)), 0u);  // all younger than the retention
  scalar("UPDATE " + state("outbox") + " SET updated_at = updated_at - interval '2 hours'");
  EXPECT_EQ(run(box->prune_done(std::chrono::hours{1}, 10)), 25u);  // three statements: 10, 10, 5
  EXPECT_EQ(scalar("SELECT string_agg(state, ',') FROM " + state("outbox")), "failed");
}

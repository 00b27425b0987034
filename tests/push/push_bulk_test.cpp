// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger).
// Bulk pushes (push.hpp, "Bulk pushes"): a 2,000-row UPDATE with edits made in Vtiger meanwhile comes out
// exact under every conflict policy while its conflict checks are read 100 records per query; one row's
// changes keep their commit order while the writes go out over four sessions; an Account and Contacts
// referring to it (`@accounts:<_row_id>`) inserted in one transaction are created in that order.
#include <set>

// clang-format off
#include "vtsync/sync/record/table.hpp"  // before the fixture, which uses it
#include "push_fixture.hpp"
// clang-format on

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
using nlohmann::json;

namespace {

constexpr int sessions = 4;

class push_bulk : public vt::push_test {
 protected:
  // The fixture's pusher, writing over `sessions` sessions, with Accounts beside Contacts when `accounts`.
  void start_bulk(sy::push_settings settings, bool accounts = false) {
    start({}, settings);
    std::map<std::string, st::mirror_table> tables{{table.module, table}};
    if (accounts) {
      auto describe = run(describe_module("Accounts"));
      accounts_table = vtsync::record::table_from_describe(mirror_schema, describe);
      run(st::ensure_mirror_table(*conn, accounts_table, state_schema));
      tables.emplace(accounts_table.module, accounts_table);
    }
    for (int i = 1; i < sessions; ++i) more.emplace_back(client->context());
    engine = std::make_unique<sy::pusher>(*client, *listener, *box, std::move(tables), std::move(settings));
    engine->add_sessions(more);
  }
  boost::asio::awaitable<json> describe_module(std::string module) {
    auto r = co_await client->describe(std::move(module));
    co_return r.value();
  }
  void TearDown() override {
    engine.reset();
    more.clear();
    push_test::TearDown();
  }
  // `n` contacts created locally and pushed: row i has lastname 'Bulk<i>'.
  void seed(int n) {
    sql("INSERT INTO " + contacts() +
        " (lastname, mailingcountry, title) SELECT 'Bulk' || i, 'Spain', 'Base' FROM generate_series(1, " +
        std::to_string(n) + ") i");
    drain();
    ASSERT_EQ(
        sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state = 'synced' AND vtiger_id IS NOT NULL"),
        std::to_string(n));
  }
  std::map<std::string, json> remote_by_id() {
    std::map<std::string, json> out;
    for (auto& r : dump()) out.emplace(r["id"].get<std::string>(), r);
    return out;
  }
  std::string accounts() { return st::quote_ident(mirror_schema) + ".accounts"; }

  std::vector<vtsync::vtiger::client> more;
  st::mirror_table accounts_table;
};

struct bulk_case {
  sy::conflict_policy policy;
  bool remote_later;  // the CRM's edits are clearly later than the local UPDATE (newest_wins)
  std::string conflicted_value;
  std::string decision;
};

class push_bulk_conflicts : public push_bulk, public ::testing::WithParamInterface<bulk_case> {};

}  // namespace

TEST_P(push_bulk_conflicts, TwoThousandRowUpdateIsExact) {
  const auto param = GetParam();
  sy::push_settings s;
  s.conflicts = param.policy;
  start_bulk(s);
  constexpr int rows = 2000;
  seed(rows);
  // Every 10th row: the same field changed in Vtiger (a conflict); every 7th (not 10th): another field
  // (merged); every 13th (neither): Vtiger already has the local value (nothing to decide).
  const auto ids = [&](const std::string& where) {
    std::vector<std::string> out;
    const auto list =
        sql("SELECT string_agg(vtiger_id, ',' ORDER BY _row_id) FROM " + contacts() + " WHERE " + where);
    for (std::size_t at = 0; at < list.size();) {
      const auto comma = list.find(',', at);
      out.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      at = comma == std::string::npos ? list.size() : comma + 1;
    }
    return out;
  };
  const auto row_no = "substr(lastname, 5)::int";
  const auto conflicted = ids(std::string{row_no} + " % 10 = 0");
  const auto merged = ids(std::string{row_no} + " % 10 <> 0 AND " + row_no + " % 7 = 0");
  const auto same =
      ids(std::string{row_no} + " % 10 <> 0 AND " + row_no + " % 7 <> 0 AND " + row_no + " % 13 = 0");

  const auto remote_edits = [&] {
    for (const auto& id : conflicted)
      fake_post("/_fake/edit", {{"id", id}, {"fields", {{"mailingcountry", "France"}}}});
    for (const auto& id : merged) fake_post("/_fake/edit", {{"id", id}, {"fields", {{"title", "Remote"}}}});
    for (const auto& id : same)
      fake_post("/_fake/edit", {{"id", id}, {"fields", {{"mailingcountry", "Germany"}}}});
  };
  if (!param.remote_later) remote_edits();
  sql("UPDATE " + contacts() + " SET mailingcountry = 'Germany'");
  if (param.remote_later) {
    fake_post("/_fake/clock", {{"advance_seconds", 120}});
    remote_edits();
  }

  const auto retrieves = requests("retrieve"), queries = requests("query"), revises = requests("revise");
  const auto stats = drain();
  EXPECT_EQ(stats.handled, static_cast<std::size_t>(rows));
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.conflicts, conflicted.size());
  // The conflict checks: one query per 100 updates, no retrieve.
  EXPECT_EQ(requests("retrieve"), retrieves);
  EXPECT_EQ(requests("query") - queries, static_cast<std::uint64_t>(rows / 100));
  // A revise for every row that had something to send.
  const bool local_sent_on_conflict = param.conflicted_value == "Germany";
  const auto expected_revises = rows - same.size() - (local_sent_on_conflict ? 0 : conflicted.size());
  EXPECT_EQ(requests("revise") - revises, expected_revises);

  const std::set<std::string> conflicted_set(conflicted.begin(), conflicted.end());
  const std::set<std::string> merged_set(merged.begin(), merged.end());
  const auto remote = remote_by_id();
  ASSERT_EQ(remote.size(), static_cast<std::size_t>(rows));
  std::size_t checked = 0;
  for (const auto& [id, record] : remote) {
    const std::string country = conflicted_set.contains(id) ? param.conflicted_value : "Germany";
    const std::string title = merged_set.contains(id) ? "Remote" : "Base";
    EXPECT_EQ(record["mailingcountry"], country) << id;
    EXPECT_EQ(record["title"], title) << id;
    checked += record["mailingcountry"] == country && record["title"] == title;
  }
  EXPECT_EQ(checked, static_cast<std::size_t>(rows));
  // The mirror holds what Vtiger holds, every row synced, nothing left in the outbox.
  std::string mismatches;
  const auto rows_now = sql(
      "SELECT string_agg(vtiger_id || '=' || mailingcountry || '/' || title || '/' || _sync_state, ',') FROM " +
      contacts());
  for (const auto& [id, record] : remote) {
    const auto want = id + "=" + record["mailingcountry"].get<std::string>() + "/" +
                      record["title"].get<std::string>() + "/synced";
    if (("," + rows_now + ",").find("," + want + ",") == std::string::npos) mismatches += want + " ";
  }
  EXPECT_EQ(mismatches, "");
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
  EXPECT_EQ(sql("SELECT count(*) || '|' || count(DISTINCT vtiger_id) || '|' || min(decision) || '|' || "
                "max(decision) || '|' || min(local_value) || '|' || min(remote_value) FROM " +
                state("conflicts")),
            std::to_string(conflicted.size()) + "|" + std::to_string(conflicted.size()) + "|" +
                param.decision + "|" + param.decision + "|Germany|France");
}

INSTANTIATE_TEST_SUITE_P(
    policies, push_bulk_conflicts,
    ::testing::Values(bulk_case{sy::conflict_policy::remote_wins, false, "France", "remote_wins"},
                      bulk_case{sy::conflict_policy::local_wins, false, "Germany", "local_wins"},
                      bulk_case{sy::conflict_policy::newest_wins, false, "Germany", "newest_wins:local"},
                      bulk_case{sy::conflict_policy::newest_wins, true, "France", "newest_wins:remote"}),
    [](const auto& name_info) {
      return std::string{sy::to_string(name_info.param.policy)} +
             (name_info.param.remote_later ? "_remote_later" : "");
    });

TEST_F(push_bulk, OneRowsChangesKeepCommitOrderOverSessions) {
  sy::push_settings s;
  // Which entry of which row Vtiger accepted, in the order it did.
  std::vector<std::pair<std::int64_t, std::int64_t>> accepted;
  s.after_accepted = [&](const st::outbox_entry& e) { accepted.emplace_back(e.row_id, e.id); };
  start_bulk(s);
  constexpr int rows = 300;
  seed(rows);
  accepted.clear();
  // Per row, in separate transactions: an update, another update of a second field, then (every third
  // row) a delete, then (every other remaining row) a third update.
  for (int i = 1; i <= rows; ++i) {
    const auto where = " WHERE lastname = 'Bulk" + std::to_string(i) + "'";
    sql("UPDATE " + contacts() + " SET title = 'First'" + where);
  }
  sql("UPDATE " + contacts() + " SET mailingcountry = 'Norway'");
  // Two batches' worth claimed at a time would fold these; a delete is never folded: it must come after.
  for (int i = 3; i <= rows; i += 3)
    sql("DELETE FROM " + contacts() + " WHERE lastname = 'Bulk" + std::to_string(i) + "'");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 0u);
  // Every session logged in (each on its first request) and took part.
  EXPECT_GE(fake_get("/_fake/stats")["logins"].get<std::uint64_t>(), static_cast<std::uint64_t>(sessions));
  // Accepted entries of one row come in increasing entry order.
  std::map<std::int64_t, std::int64_t> last;
  for (const auto& [row, entry] : accepted) {
    if (const auto l = last.find(row); l != last.end()) {
      EXPECT_LT(l->second, entry) << "row " << row;
    }
    last[row] = entry;
  }
  const auto remote = remote_by_id();
  EXPECT_EQ(remote.size(), static_cast<std::size_t>(rows - rows / 3));
  for (const auto& [id, r] : remote) {
    EXPECT_EQ(r["title"], "First") << id;
    EXPECT_EQ(r["mailingcountry"], "Norway") << id;
    EXPECT_NE(std::stoi(r["lastname"].get<std::string>().substr(4)) % 3, 0) << id;
  }
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts() +
                " WHERE _sync_state = 'synced' AND title = 'First' AND "
                "mailingcountry = 'Norway'"),
            std::to_string(rows - rows / 3));
  EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE state <> 'done'"), "0");
}

TEST_F(push_bulk, ContactsReferringToANewAccountAreCreatedAfterIt) {
  start_bulk({}, /*accounts=*/true);
  // One transaction: the account, and 12 contacts pointing at it by its _row_id.
  sql("WITH a AS (INSERT INTO " + accounts() +
      " (accountname) VALUES ('Bulk Account') RETURNING _row_id) INSERT INTO " + contacts() +
      " (lastname, account_id) SELECT 'Dep' || i, '@accounts:' || a._row_id FROM a, generate_series(1, 12) i");
  // And one pointing at a row that does not exist.
  sql("INSERT INTO " + contacts() + " (lastname, account_id) VALUES ('Dangling', '@accounts:999999')");
  // A drain pushes what it can; contacts whose account was created in the same batch wait for the next.
  drain();
  drain();
  const auto account_id = sql("SELECT vtiger_id FROM " + accounts() + " WHERE accountname = 'Bulk Account'");
  ASSERT_FALSE(account_id.empty());
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts() +
                " WHERE lastname LIKE 'Dep%' AND _sync_state = 'synced' "
                "AND account_id = '" +
                account_id + "' AND vtiger_id IS NOT NULL"),
            "12");
  std::size_t pointing = 0;
  for (const auto& r : dump())
    if (r["lastname"].get<std::string>().rfind("Dep", 0) == 0 && r["account_id"] == account_id) ++pointing;
  EXPECT_EQ(pointing, 12u);
  EXPECT_EQ(
      sql("SELECT _sync_state || '|' || _sync_error FROM " + contacts() + " WHERE lastname = 'Dangling'"),
      "failed|account_id: row 999999 of accounts does not exist");
  // The waiting creates were not counted as attempts (no look-up for an earlier create was needed).
  EXPECT_EQ(sql("SELECT max(attempts) FROM " + state("outbox") +
                " WHERE table_name = 'contacts' AND state = 'done'"),
            "1");
}

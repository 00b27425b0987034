// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. `vtsyncd discard` and `vtsyncd pending` against a
// running daemon over the fake: rejected changes given up (by id, row and module; a rejected insert, an
// update, a rejected delete, a record deleted in Vtiger meanwhile), the counts that drop, the log lines,
// no echo; and the listing of queued and rejected changes with what each would send.
#include <gtest/gtest.h>

#include <regex>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class control : public ::testing::Test {
 protected:
  explicit control(std::vector<std::string> fake_args = {}) : f{options(std::move(fake_args))} {}

  static vt::daemon_options options(std::vector<std::string> fake_args = {}) {
    vt::daemon_options o;
    o.fake_args = {"--seed", "Contacts=8"};
    for (auto& a : fake_args) o.fake_args.push_back(std::move(a));
    return o;
  }

  std::string contacts() const { return "\"" + f.schema() + "\".contacts"; }
  std::string sql(const std::string& text) { return vt::exec_scalar(conn.get(), text); }
  std::string ids(int k) {
    return sql("SELECT vtiger_id FROM " + contacts() + " ORDER BY _row_id OFFSET " + std::to_string(k) +
               " LIMIT 1");
  }
  std::string failed_rows() {
    return sql("SELECT count(*) FROM " + contacts() + " WHERE _sync_state = 'failed'");
  }
  std::string open_entries(const std::string& state) {
    return sql("SELECT count(*) FROM vtsync.outbox WHERE schema_name = '" + f.schema() + "' AND state = '" +
               state + "'");
  }
  std::string last_entry() {
    return sql("SELECT coalesce(max(id), 0) FROM vtsync.outbox WHERE schema_name = '" + f.schema() + "'");
  }
  json record_in_vtiger(const std::string& id) {
    for (const auto& r : vt::fake_dump(f.fake().port(), "Contacts"))
      if (r.value("id", "") == id) return r;
    return nullptr;
  }
  json status() {
    const auto r = f.vtsyncd({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json::parse(r.output.substr(r.output.find('{')));
  }
  // vtsync_outbox_failed{module="Contacts"} in the daemon's /metrics.
  std::string failed_metric() {
    const auto body = vt::http_request(f.health_port(), "GET", "/metrics").body;
    static const std::regex line{R"(vtsync_outbox_failed\{module="Contacts"\} ([0-9.]+))"};
    std::smatch m;
    return std::regex_search(body, m, line) ? m[1].str() : "absent";
  }

  vt::daemon_fixture f;
  vt::pg_conn_ptr conn = vt::connect_blocking();
};

}  // namespace

TEST_F(control, DiscardByIdRowAndModuleRestoresVtigersValuesWithoutAnEcho) {
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 8; }, vt::scaled(60s)))
      << f.daemon().log();
  const std::string updated = ids(0), edited_again = ids(1), deleted = ids(2), gone = ids(3);
  const std::string lastname = record_in_vtiger(updated)["lastname"];
  // Vtiger rejects: an insert without lastname, updates that empty it (mandatory).
  sql("INSERT INTO " + contacts() + " (firstname) VALUES ('NoLastname')");
  const std::string inserted_row =
      sql("SELECT _row_id FROM " + contacts() + " WHERE firstname = 'NoLastname'");
  sql("UPDATE " + contacts() + " SET lastname = '' WHERE vtiger_id IN ('" + updated + "', '" + edited_again +
      "', '" + gone + "')");
  // A delete Vtiger refused (the fake has no refusal for a delete: its entry is marked failed as the push
  // marks one, in the user's own transaction, so the push never sends it).
  sql("BEGIN; DELETE FROM " + contacts() + " WHERE vtiger_id = '" + deleted +
      "'; UPDATE vtsync.outbox SET "
      "state = 'failed', error = 'ACCESS_DENIED: refused for the test', attempts = 1 WHERE schema_name = '" +
      f.schema() + "' AND op = 'delete' AND vtiger_id = '" + deleted + "'; COMMIT");
  ASSERT_TRUE(vt::wait_until([&] { return failed_rows() == "4"; }, vt::scaled(60s))) << f.daemon().log();
  EXPECT_EQ(open_entries("failed"), "5");
  // Edited again after the rejection (a title, pushed on its own: the row stays rejected for its lastname).
  sql("UPDATE " + contacts() + " SET title = 'Again' WHERE vtiger_id = '" + edited_again + "'");
  ASSERT_TRUE(vt::wait_until(
      [&] { return open_entries("pending") == "0" && open_entries("in_flight") == "0"; }, vt::scaled(60s)));
  // Deleted in Vtiger meanwhile.
  vt::fake_post(f.fake().port(), "/_fake/delete", {{"id", gone}});
  ASSERT_TRUE(
      vt::wait_until([&] { return status()["modules"]["Contacts"]["failed"] == 5; }, vt::scaled(30s)));
  ASSERT_TRUE(vt::wait_until([&] { return failed_metric() == "5"; }, vt::scaled(30s)));
  const auto writes_before = vt::fake_stats(f.fake().port())["requests"];
  const std::string entries_before = last_entry();

  // By id: the update's row has Vtiger's values again.
  auto r = f.vtsyncd({"discard", "--id", updated});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("discard: Contacts " + updated), std::string::npos) << r.output;  // the log line
  EXPECT_NE(r.output.find("MANDATORY_FIELDS_MISSING"), std::string::npos) << r.output;
  EXPECT_EQ(sql("SELECT lastname || '/' || _sync_state || '/' || coalesce(_sync_error, '-') FROM " +
                contacts() + " WHERE vtiger_id = '" + updated + "'"),
            lastname + "/synced/-");
  // By row: the insert Vtiger never had is removed.
  r = f.vtsyncd({"discard", "--row", "contacts:" + inserted_row});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("never created"), std::string::npos) << r.output;
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts() + " WHERE firstname = 'NoLastname'"), "0");
  // By module: the rest. The refused delete's row comes back, the row of the record deleted in Vtiger goes,
  // and the row edited again is Vtiger's (whose title the push sent).
  r = f.vtsyncd({"discard", "--module", "Contacts"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("3 row(s) discarded"), std::string::npos) << r.output;
  EXPECT_EQ(sql("SELECT _sync_state FROM " + contacts() + " WHERE vtiger_id = '" + deleted + "'"), "synced");
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts() + " WHERE vtiger_id = '" + gone + "'"), "0");
  EXPECT_EQ(sql("SELECT title || '/' || _sync_state FROM " + contacts() + " WHERE vtiger_id = '" +
                edited_again + "'"),
            "Again/synced");
  EXPECT_TRUE(f.differences("Contacts").empty());  // the mirror is Vtiger's again
  EXPECT_EQ(failed_rows(), "0");
  EXPECT_EQ(open_entries("failed"), "0");
  // Logged like conflict decisions: one per row given up.
  EXPECT_EQ(sql("SELECT count(*) FROM vtsync.conflicts WHERE schema_name = '" + f.schema() +
                "' AND decision = 'discarded'"),
            "5");
  // The counts drop (status, /metrics), and nothing is left to discard.
  EXPECT_TRUE(
      vt::wait_until([&] { return status()["modules"]["Contacts"]["failed"] == 0; }, vt::scaled(30s)));
  EXPECT_TRUE(vt::wait_until([&] { return failed_metric() == "0"; }, vt::scaled(30s)));
  r = f.vtsyncd({"discard", "--module", "Contacts"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to discard"), std::string::npos) << r.output;
  // No echo: the discards' writes queued nothing, and a CRM edit pulled afterwards (a whole cycle) made no
  // write to Vtiger either.
  EXPECT_EQ(last_entry(), entries_before);
  const std::string probe = ids(4);
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", probe}, {"fields", {{"title", "Probe"}}}});
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return sql("SELECT title FROM " + contacts() + " WHERE vtiger_id = '" + probe + "'") == "Probe";
      },
      vt::scaled(30s)));
  const auto writes_after = vt::fake_stats(f.fake().port())["requests"];
  for (const char* op : {"create", "revise", "update", "delete"})
    EXPECT_EQ(writes_after.value(op, 0), writes_before.value(op, 0)) << op;
  EXPECT_EQ(last_entry(), entries_before);
}

TEST_F(control, DiscardRefusesBadArgumentsWithExit64) {
  const std::vector<std::vector<std::string>> bad = {
      {"discard"},
      {"discard", "--id", "12x1", "--module", "Contacts"},
      {"discard", "--id", "contacts"},
      {"discard", "--row", "contacts:abc"},
      {"discard", "--row", "nosuchtable:3"},
      {"discard", "--module", "Nope"},
  };
  for (const auto& args : bad) {
    const auto r = f.vtsyncd(args);
    EXPECT_EQ(r.exit_code, 64) << args.back() << ": " << r.output;
    EXPECT_NE(r.output.find("vtsyncd discard: "), std::string::npos) << r.output;
  }
}

// Every create answers HTTP 500 (a transient failure, nothing created): local inserts stay queued.
class pending_list : public control {
 protected:
  pending_list() : control({"--fault", "create:http500"}) {}
};

TEST_F(pending_list, ListsQueuedAndRejectedChangesWithWhatEachWouldSend) {
  const std::string contacts = this->contacts();
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 8; }, vt::scaled(60s)))
      << f.daemon().log();
  auto r = f.vtsyncd({"pending"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing pending"), std::string::npos) << r.output;

  const std::string rejected = sql("SELECT min(vtiger_id) FROM " + contacts);
  sql("UPDATE " + contacts + " SET lastname = '', title = 'Boss' WHERE vtiger_id = '" + rejected + "'");
  ASSERT_TRUE(vt::wait_until([&] { return failed_rows() == "1"; }, vt::scaled(60s))) << f.daemon().log();
  sql("INSERT INTO " + contacts + " (firstname, lastname) VALUES ('Queued', 'Insert')");

  r = f.vtsyncd({"pending", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto listed = json::parse(r.output.substr(r.output.find('{')))["changes"];
  ASSERT_EQ(listed.size(), 2u) << listed.dump(2);
  const auto& update = listed[0];
  EXPECT_EQ(update["module"], "Contacts");
  EXPECT_EQ(update["vtiger_id"], rejected);
  EXPECT_EQ(update["op"], "update");
  EXPECT_EQ(update["state"], "failed");
  EXPECT_EQ(update["fields"], json({{"lastname", ""}, {"title", "Boss"}}));  // the changed columns only
  EXPECT_NE(update["error"].get<std::string>().find("MANDATORY_FIELDS_MISSING"), std::string::npos);
  EXPECT_FALSE(update["since"].get<std::string>().empty());
  const auto& insert = listed[1];
  EXPECT_EQ(insert["op"], "insert");
  EXPECT_TRUE(insert["vtiger_id"].is_null());
  EXPECT_TRUE(insert["state"] == "pending" || insert["state"] == "in_flight") << insert.dump();
  EXPECT_EQ(insert["fields"]["firstname"], "Queued");
  EXPECT_EQ(insert["fields"]["lastname"], "Insert");
  EXPECT_FALSE(insert["fields"].contains("title"));       // empty: left out, as a create leaves it
  EXPECT_FALSE(insert["fields"].contains("contact_no"));  // not editable

  r = f.vtsyncd({"pending"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Contacts contacts:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(rejected + " update failed since "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(R"(would send: {"lastname":"","title":"Boss"})"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(not created) insert "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(R"("firstname":"Queued")"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error: MANDATORY_FIELDS_MISSING"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 change(s): "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" failed 1"), std::string::npos) << r.output;
  r = f.vtsyncd({"pending", "--module", "Contacts", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output.substr(r.output.find('{')))["changes"].size(), 2u);

  r = f.vtsyncd({"pending", "--module", "Nope"});
  EXPECT_EQ(r.exit_code, 64) << r.output;
}

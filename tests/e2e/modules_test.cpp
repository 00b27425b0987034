// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. The modules beyond Contacts and Accounts, one table
// row per module: each is mirrored exactly (against /_fake/dump), and a local UPDATE and INSERT reach
// Vtiger and come back confirmed. Then what two of them do differently: a Calendar insert becomes a Task
// (not an Event), and a new comment moves its parent's modifiedtime without an echo or a conflict.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct module_case {
  std::string module;
  std::vector<std::string> fake_args;  // seeds (other modules too, for the references)
  int seeded = 0;
  // The UPDATE: one column set to an SQL literal, and the value Vtiger then holds.
  std::string update_column, update_sql, update_in_vtiger;
  // The INSERT: columns and SQL values; "{contact}" is a seeded Contact's id.
  std::string insert_columns, insert_values;
};

std::ostream& operator<<(std::ostream& os, const module_case& c) { return os << c.module; }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string sql(vt::daemon_fixture& /*f*/, const std::string& query) {
  auto conn = vt::connect_blocking();
  return vt::exec_scalar(conn.get(), query);
}

std::string pending_changes(vt::daemon_fixture& f) {
  return sql(
      f, "SELECT count(*) FROM vtsync.outbox WHERE state <> 'done' AND schema_name = '" + f.schema() + "'");
}

json dump_record(vt::daemon_fixture& f, const std::string& module, const std::string& id) {
  for (const auto& r : vt::fake_dump(f.fake().port(), module)) {
    if (r["id"] == id) return r;
  }
  return nullptr;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

class ModuleE2e : public ::testing::TestWithParam<module_case> {};

}  // namespace

TEST_P(ModuleE2e, MirroredExactlyAndLocalChangesPushed) {
  const auto& c = GetParam();
  vt::daemon_options o;
  o.fake_args = c.fake_args;
  o.modules = {c.module};
  o.poll_interval = "1s";
  vt::daemon_fixture f{o};
  const std::string table = "\"" + f.schema() + "\"." + lower(c.module);
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows(c.module) == c.seeded; }, vt::scaled(30s)))
      << f.daemon().log();
  ASSERT_TRUE(vt::wait_until([&] { return f.differences(c.module).empty(); }, vt::scaled(10s)))
      << join(f.differences(c.module));

  // A local UPDATE: revised in Vtiger, the row synced again, nothing left queued.
  const auto dump = vt::fake_dump(f.fake().port(), c.module);
  const std::string edited = dump[3]["id"];
  sql(f, "UPDATE " + table + " SET " + c.update_column + " = " + c.update_sql + " WHERE vtiger_id = '" +
             edited + "'");
  ASSERT_TRUE(
      vt::wait_until([&] { return dump_record(f, c.module, edited)[c.update_column] == c.update_in_vtiger; },
                     vt::scaled(10s)))
      << dump_record(f, c.module, edited).dump() << "\n"
      << f.daemon().log();
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return pending_changes(f) == "0" &&
               sql(f, "SELECT _sync_state FROM " + table + " WHERE vtiger_id = '" + edited + "'") == "synced";
      },
      vt::scaled(10s)))
      << pending_changes(f) << " "
      << sql(f, "SELECT _sync_state || coalesce(_sync_error, '') FROM " + table + " WHERE vtiger_id = '" +
                    edited + "'");

  // A local INSERT: created in Vtiger, its id and Vtiger's values written back.
  std::string contact;
  if (c.insert_values.find("{contact}") != std::string::npos)
    contact = vt::fake_dump(f.fake().port(), "Contacts")[0]["id"];
  const std::string row =
      sql(f, "INSERT INTO " + table + " (" + c.insert_columns + ") VALUES (" +
                 replace_all(c.insert_values, "{contact}", contact) + ") RETURNING _row_id");
  std::string created;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        created = sql(f, "SELECT coalesce(vtiger_id, '') || '/' || _sync_state FROM " + table +
                             " WHERE _row_id = " + row);
        return created.ends_with("/synced");
      },
      vt::scaled(10s)))
      << created << "\n"
      << sql(f, "SELECT coalesce(_sync_error, '') FROM " + table + " WHERE _row_id = " + row);
  created.resize(created.find('/'));
  EXPECT_FALSE(dump_record(f, c.module, created).is_null())
      << created << " is not a " << c.module << " record";

  // Both sides agree, the new record included, and stay so over the next pull.
  ASSERT_TRUE(vt::wait_until([&] { return f.differences(c.module).empty(); }, vt::scaled(10s)))
      << join(f.differences(c.module));
  EXPECT_EQ(f.mirror_rows(c.module), c.seeded + 1);
  EXPECT_EQ(pending_changes(f), "0");
}

// Small seeds: the point is each module's describe, values and rules, not volume.
INSTANTIATE_TEST_SUITE_P(
    Modules, ModuleE2e,
    ::testing::Values(
        module_case{"Products",
                    {"--seed", "Products=40"},
                    40,
                    "unit_price",
                    "99.5",
                    "99.50000000",
                    "productname, unit_price, qtyinstock",
                    "'E2E Widget', 12.5, 7"},
        module_case{"Services",
                    {"--seed", "Services=40"},
                    40,
                    "description",
                    "'Two hours on site'",
                    "Two hours on site",
                    "servicename, unit_price",
                    "'E2E Installation', 150"},
        module_case{"Vendors",
                    {"--seed", "Vendors=40"},
                    40,
                    "city",
                    "'Zürich'",
                    "Zürich",
                    "vendorname, email",
                    "'E2E Supplies', 'sales@example.invalid'"},
        module_case{"PriceBooks",
                    {"--seed", "PriceBooks=20"},
                    20,
                    "description",
                    "'Spring list'",
                    "Spring list",
                    "bookname, currency_id",
                    "'E2E Prices', '21x1'"},
        module_case{"Potentials",
                    {"--seed", "Accounts=10", "--seed", "Potentials=40"},
                    40,
                    "closingdate",
                    "'2027-03-31'",
                    "2027-03-31",
                    "potentialname, closingdate, sales_stage",
                    "'E2E Deal', '2027-01-31', 'Prospecting'"},
        module_case{"Leads",
                    {"--seed", "Leads=40"},
                    40,
                    "company",
                    "'Ærø Shipping'",
                    "Ærø Shipping",
                    "lastname, company",
                    "'Newlead', 'E2E Ltd'"},
        module_case{"HelpDesk",
                    {"--seed", "HelpDesk=40"},
                    40,
                    "ticketstatus",
                    "'Closed'",
                    "Closed",
                    "ticket_title, ticketstatus, ticketpriorities",
                    "'E2E cannot log in', 'Open', 'High'"},
        module_case{"Campaigns",
                    {"--seed", "Campaigns=20"},
                    20,
                    "expectedrevenue",
                    "2500",
                    "2500.00000000",
                    "campaignname, closingdate",
                    "'E2E Launch', '2027-02-01'"},
        module_case{"Documents",
                    {"--seed", "Documents=20"},
                    20,
                    "notecontent",
                    "'See the spec.'",
                    "See the spec.",
                    "notes_title, filelocationtype, filename",
                    "'E2E spec', 'E', 'https://example.com/spec.pdf'"},
        module_case{"Calendar",
                    {"--seed", "Calendar=30"},
                    30,
                    "time_start",
                    "'16:45'",
                    "16:45",
                    "subject, date_start, time_start, due_date, taskstatus",
                    "'E2E task', '2026-12-10', '14:30', '2026-12-11', 'Not Started'"},
        module_case{"Events",
                    {"--seed", "Events=30"},
                    30,
                    "date_start",
                    "'2027-01-15'",
                    "2027-01-15",
                    "subject, date_start, time_start, due_date, time_end, duration_hours, eventstatus, "
                    "activitytype",
                    "'E2E meeting', '2026-12-10', '09:00', '2026-12-10', '10:30', 1, 'Planned', 'Meeting'"},
        module_case{"ModComments",
                    {"--seed", "Contacts=10", "--seed", "ModComments=30"},
                    30,
                    "commentcontent",
                    "'Edited & <b>kept</b>'",
                    "Edited & <b>kept</b>",
                    "commentcontent, related_to",
                    "'First comment', '{contact}'"}),
    [](const ::testing::TestParamInfo<module_case>& p) { return p.param.module; });

// A multipicklist column (text[]) reaches Vtiger whole, as "A |##| B": a real 8.2 keeps only the first
// value of a JSON array (recordings 423/424; the fake does the same), on create and on update alike.
TEST(MultipicklistE2e, EveryValueReachesVtiger) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Campaigns=3"};
  o.modules = {"Campaigns"};
  o.start_daemon = false;
  vt::daemon_fixture f{o};
  vt::fake_post(
      f.fake().port(), "/_fake/add-field",
      {{"module", "Campaigns"},
       {"field",
        {{"name", "cf_bf_channels"},
         {"label", "Channels"},
         {"mandatory", false},
         {"type",
          {{"name", "multipicklist"},
           {"picklistValues", json::array({{{"label", "Email"}, {"value", "Email"}},
                                           {{"label", "Phone"}, {"value", "Phone"}},
                                           {{"label", "Social Media"}, {"value", "Social Media"}}})}}},
         {"nullable", true},
         {"editable", true},
         {"default", ""}}}});
  f.start_daemon();
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Campaigns") == 3; }, vt::scaled(30s)))
      << f.daemon().log();
  const std::string table = "\"" + f.schema() + "\".campaigns";
  const std::string row = sql(f, "INSERT INTO " + table +
                                     " (campaignname, closingdate, cf_bf_channels) VALUES ('Both', "
                                     "'2027-02-01', '{Email,\"Social Media\"}') RETURNING _row_id");
  std::string id;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        id = sql(f, "SELECT coalesce(vtiger_id, '') FROM " + table + " WHERE _row_id = " + row);
        return !id.empty();
      },
      vt::scaled(10s)))
      << f.daemon().log();
  EXPECT_EQ(dump_record(f, "Campaigns", id)["cf_bf_channels"], "Email |##| Social Media");
  sql(f, "UPDATE " + table + " SET cf_bf_channels = '{Phone,Email,\"Social Media\"}' WHERE _row_id = " + row);
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return dump_record(f, "Campaigns", id)["cf_bf_channels"] == "Phone |##| Email |##| Social Media";
      },
      vt::scaled(10s)))
      << dump_record(f, "Campaigns", id).dump() << f.daemon().log();
  ASSERT_TRUE(vt::wait_until([&] { return f.differences("Campaigns").empty(); }, vt::scaled(10s)))
      << join(f.differences("Campaigns"));
  EXPECT_EQ(sql(f, "SELECT array_length(cf_bf_channels, 1) || ' ' || _sync_state FROM " + table +
                       " WHERE _row_id = " + row),
            "3 synced");
}

// A row inserted into vtiger.calendar naming no activitytype arrives as a Task (9x id, listed by Calendar),
// not as an Event under an id Calendar would refuse.
TEST(CalendarE2e, AnInsertWithoutActivityTypeBecomesATask) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Calendar=5", "--seed", "Events=5"};
  o.modules = {"Calendar", "Events"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Calendar") == 5 && f.mirror_rows("Events") == 5; },
                             vt::scaled(30s)))
      << f.daemon().log();
  const std::string row =
      sql(f, "INSERT INTO \"" + f.schema() +
                 "\".calendar (subject, date_start, time_start, due_date, taskstatus) VALUES ('Call back', "
                 "'2026-12-10', '14:30', '2026-12-11', 'Not Started') RETURNING _row_id");
  std::string id;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        id = sql(
            f, "SELECT coalesce(vtiger_id, '') FROM \"" + f.schema() + "\".calendar WHERE _row_id = " + row);
        return !id.empty();
      },
      vt::scaled(10s)))
      << f.daemon().log();
  EXPECT_TRUE(id.starts_with("9x")) << id;
  const auto task = dump_record(f, "Calendar", id);
  ASSERT_FALSE(task.is_null()) << id << " is not a task";
  EXPECT_EQ(task["activitytype"], "Task");
  EXPECT_EQ(task["time_start"], "14:30");  // as sent: no zone conversion either way
  EXPECT_EQ(sql(f, "SELECT activitytype || ' ' || time_start || ' ' || date_start FROM \"" + f.schema() +
                       "\".calendar WHERE _row_id = " + row),
            "Task 14:30 2026-12-10");
  // Still a task after the next pulls of both modules: in calendar, not in events.
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.differences("Calendar").empty() && f.differences("Events").empty(); }, vt::scaled(10s)))
      << join(f.differences("Calendar")) << join(f.differences("Events"));
  EXPECT_EQ(f.mirror_rows("Calendar"), 6);
  EXPECT_EQ(f.mirror_rows("Events"), 5);
}

// A comment created from SQL moves its Contact's modifiedtime and modifiedby in Vtiger. The pull brings
// the Contact's new values; that is Vtiger's change, not a local one: nothing is pushed back, no conflict.
TEST(ModCommentsE2e, ACommentMovesItsParentWithoutEchoOrConflict) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=20", "--seed", "ModComments=5"};
  o.modules = {"Contacts", "ModComments"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.mirror_rows("Contacts") == 20 && f.mirror_rows("ModComments") == 5; }, vt::scaled(30s)))
      << f.daemon().log();
  const std::string parent = vt::fake_dump(f.fake().port(), "Contacts")[7]["id"];
  const std::string before = dump_record(f, "Contacts", parent)["modifiedtime"];
  vt::fake_post(f.fake().port(), "/_fake/clock", {{"advance_seconds", 5}});  // a later second than the seeds
  const auto stats_before = vt::fake_stats(f.fake().port())["requests"];

  sql(f, "INSERT INTO \"" + f.schema() +
             "\".modcomments (commentcontent, related_to) VALUES ('Called, will buy', '" + parent + "')");
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("ModComments") == 6; }, vt::scaled(10s)))
      << f.daemon().log();
  const auto moved = dump_record(f, "Contacts", parent);
  ASSERT_NE(moved["modifiedtime"], before) << "the fake did not move the parent";
  // The Contact row follows Vtiger: new modifiedtime, synced, nothing queued for it.
  ASSERT_TRUE(vt::wait_until([&] { return f.differences("Contacts").empty(); }, vt::scaled(10s)))
      << join(f.differences("Contacts"));
  EXPECT_EQ(
      sql(f, "SELECT _sync_state FROM \"" + f.schema() + "\".contacts WHERE vtiger_id = '" + parent + "'"),
      "synced");
  EXPECT_EQ(pending_changes(f), "0");
  EXPECT_TRUE(f.differences("ModComments").empty()) << join(f.differences("ModComments"));
  // Two more poll cycles (each queries both modules): still no revise or update, no conflict logged.
  const auto queries = vt::fake_stats(f.fake().port())["requests"].value("query", 0ULL);
  ASSERT_TRUE(vt::wait_until(
      [&] { return vt::fake_stats(f.fake().port())["requests"].value("query", 0ULL) >= queries + 4; },
      vt::scaled(10s)));
  const auto stats_after = vt::fake_stats(f.fake().port())["requests"];
  EXPECT_EQ(stats_after.value("revise", 0ULL), stats_before.value("revise", 0ULL)) << stats_after.dump();
  EXPECT_EQ(stats_after.value("update", 0ULL), stats_before.value("update", 0ULL)) << stats_after.dump();
  EXPECT_EQ(stats_after.value("create", 0ULL), stats_before.value("create", 0ULL) + 1) << stats_after.dump();
  EXPECT_EQ(f.daemon().log().find("push: conflict on"), std::string::npos) << f.daemon().log();
}

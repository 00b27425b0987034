// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. Per-module scope ([modules.<Module>], issue 19):
// a pull-only table refuses local writes (and stops refusing once two-way again); field lists shape the
// columns, the queries Vtiger receives and what is pushed; a filter limits the mirror, with records that
// stop matching, local inserts that do not match and deletions; a filter Vtiger refuses is exit 78.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// What PostgreSQL answers to `sql`: "" when it succeeded, else "<SQLSTATE> <message with detail and hint>".
std::string sql_refusal(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(conn, sql.c_str()), &PQclear};
  const auto status = PQresultStatus(r.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return "";
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string{state != nullptr ? state : "?"} + " " + PQresultErrorMessage(r.get());
}

std::string scalar(const std::string& sql) {
  auto conn = vt::connect_blocking();
  return vt::exec_scalar(conn.get(), sql);
}

// The mirror table's columns that hold Vtiger fields (not vtiger_id nor the internal _ ones).
std::set<std::string> field_columns(const std::string& schema, const std::string& table) {
  auto conn = vt::connect_blocking();
  const auto list = vt::exec_scalar(
      conn.get(),
      "SELECT string_agg(column_name, ',') FROM information_schema.columns WHERE table_schema = '" + schema +
          "' AND table_name = '" + table +
          "' AND column_name <> 'vtiger_id' AND column_name NOT LIKE '\\_%'");
  std::set<std::string> out;
  std::stringstream ss(list);
  for (std::string c; std::getline(ss, c, ',');) out.insert(c);
  return out;
}

// The query texts the fake received that read `module`'s records (not the push's `WHERE id IN` reads).
std::vector<std::string> pull_queries(unsigned short port, const std::string& module) {
  std::vector<std::string> out;
  const auto stats = vt::fake_stats(port);
  for (const auto& q : stats["queries"]) {
    const auto text = q.get<std::string>();
    if (text.find(" FROM " + module) != std::string::npos && text.find(" IN (") == std::string::npos)
      out.push_back(text);
  }
  return out;
}

// The column list of a SELECT ("*", "count(*)", "id, modifiedtime", ...).
std::string selected(const std::string& query) {
  const auto from = query.find(" FROM ");
  return query.substr(7, from - 7);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void rewrite(const std::string& path, const std::string& from, const std::string& to) {
  auto text = read_file(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  std::ofstream(path) << text;
}

bool row_exists(vt::daemon_fixture& f, const std::string& where) {
  return scalar("SELECT count(*) FROM \"" + f.schema() + "\".contacts WHERE " + where) != "0";
}

json record_in_fake(vt::daemon_fixture& f, const std::string& field, const std::string& value) {
  for (const auto& r : vt::fake_dump(f.fake().port(), "Contacts")) {
    if (r.value(field, json{}) == value) return r;
  }
  return json{};
}

}  // namespace

TEST(Scope, PullOnlyTableRefusesLocalWritesUntilTwoWayAgain) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=40"};
  o.extra_sync = "\n[modules.Contacts]\ndirection = \"pull_only\"\n";
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 40; }, 30s)) << f.daemon().log();
  const std::string table = "\"" + f.schema() + "\".contacts";
  const auto id = scalar("SELECT vtiger_id FROM " + table + " ORDER BY _row_id LIMIT 1");

  auto conn = vt::connect_blocking();
  for (const auto& [op, sql] : std::vector<std::pair<std::string, std::string>>{
           {"INSERT", "INSERT INTO " + table + " (lastname) VALUES ('Local')"},
           {"UPDATE", "UPDATE " + table + " SET lastname = 'Changed' WHERE vtiger_id = '" + id + "'"},
           {"DELETE", "DELETE FROM " + table + " WHERE vtiger_id = '" + id + "'"},
           {"TRUNCATE", "TRUNCATE " + table}}) {
    const auto refusal = sql_refusal(conn.get(), sql);
    EXPECT_EQ(refusal.rfind("42501 ", 0), 0U) << op << ": " << refusal;
    EXPECT_NE(refusal.find(f.schema() + ".contacts is pull-only: " + op + " is refused"), std::string::npos)
        << refusal;
    EXPECT_NE(refusal.find("modules.Contacts.direction = \"pull_only\""), std::string::npos) << refusal;
  }
  // Nothing queued, nothing changed.
  EXPECT_EQ(scalar("SELECT count(*) FROM vtsync.outbox WHERE schema_name = '" + f.schema() + "'"), "0");
  EXPECT_EQ(f.mirror_rows("Contacts"), 40);
  // The daemon's own writes go on: an edit in Vtiger reaches the table.
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", id}, {"fields", {{"lastname", "Edited In CRM"}}}});
  ASSERT_TRUE(vt::wait_until([&] { return row_exists(f, "lastname = 'Edited In CRM'"); }, 15s))
      << f.daemon().log();

  // Two-way again (the table removed from the file), after a restart: local changes are pushed.
  ASSERT_EQ(f.daemon().stop(), 0);
  rewrite(f.config_path(), "direction = \"pull_only\"", "direction = \"two_way\"");
  f.start_daemon();
  f.daemon().wait_for_log("module=Contacts cycle=");
  vt::exec_scalar(conn.get(),
                  "UPDATE " + table + " SET lastname = 'Changed Here' WHERE vtiger_id = '" + id + "'");
  ASSERT_TRUE(vt::wait_until([&] { return !record_in_fake(f, "lastname", "Changed Here").is_null(); }, 15s))
      << f.daemon().log();
}

TEST(Scope, FieldListNarrowsColumnsQueriesAndCreates) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=150"};
  const std::set<std::string> fields{"firstname", "lastname", "email", "title", "assigned_user_id"};
  o.extra_sync =
      "\n[modules.Contacts]\nfields = [\"firstname\", \"lastname\", \"email\", \"title\", "
      "\"assigned_user_id\"]\n";
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 150; }, 30s)) << f.daemon().log();
  EXPECT_EQ(field_columns(f.schema(), "contacts"), fields);

  // Every query that read Contacts' records named those fields (plus modifiedtime for the cursor), or only
  // ids and counts; none asked for `*`.
  const auto first = pull_queries(f.fake().port(), "Contacts");
  ASSERT_FALSE(first.empty());
  bool narrow_page = false;
  for (const auto& q : first) {
    const auto cols = selected(q);
    EXPECT_NE(cols, "*") << q;
    if (cols == "count(*)" || cols == "id" || cols == "id, modifiedtime") continue;
    std::set<std::string> named;
    std::stringstream ss(cols);
    for (std::string c; std::getline(ss, c, ',');) named.insert(c.substr(c.find_first_not_of(' ')));
    auto expected = fields;
    expected.insert("modifiedtime");
    EXPECT_EQ(named, expected) << q;
    narrow_page = true;
  }
  EXPECT_TRUE(narrow_page);

  // A local insert is created with the columns the table has (and the default owner); what comes back
  // fills the row.
  vt::exec_scalar(vt::connect_blocking().get(), "INSERT INTO \"" + f.schema() +
                                                    "\".contacts (firstname, lastname, title) VALUES "
                                                    "('Ada', 'Scoped Insert', 'Countess')");
  ASSERT_TRUE(vt::wait_until(
      [&] { return row_exists(f, "lastname = 'Scoped Insert' AND _sync_state = 'synced'"); }, 15s))
      << f.daemon().log();
  const auto created = record_in_fake(f, "lastname", "Scoped Insert");
  EXPECT_EQ(created.value("title", ""), "Countess");
  EXPECT_EQ(created.value("assigned_user_id", ""), "19x1");
}

TEST(Scope, ExcludedMandatoryFieldFailsTheCreateWithVtigersError) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=10"};
  o.extra_sync = "\n[modules.Contacts]\nexclude_fields = [\"lastname\", \"description\"]\n";
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 10; }, 30s)) << f.daemon().log();
  const auto columns = field_columns(f.schema(), "contacts");
  EXPECT_EQ(columns.count("lastname"), 0U);
  EXPECT_EQ(columns.count("description"), 0U);
  EXPECT_EQ(columns.count("firstname"), 1U);
  vt::exec_scalar(vt::connect_blocking().get(),
                  "INSERT INTO \"" + f.schema() + "\".contacts (firstname) VALUES ('Nameless')");
  ASSERT_TRUE(
      vt::wait_until([&] { return row_exists(f, "firstname = 'Nameless' AND _sync_state = 'failed'"); }, 15s))
      << f.daemon().log();
  const auto error =
      scalar("SELECT _sync_error FROM \"" + f.schema() + "\".contacts WHERE firstname = 'Nameless'");
  EXPECT_EQ(error.rfind("MANDATORY_FIELDS_MISSING: ", 0), 0U) << error;
  EXPECT_NE(error.find("lastname"), std::string::npos) << error;
  EXPECT_TRUE(record_in_fake(f, "firstname", "Nameless").is_null());
}

TEST(Scope, ColumnOfAWiderSettingIsKeptButNeitherWrittenNorPushed) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=20"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 20; }, 30s)) << f.daemon().log();
  const std::string table = "\"" + f.schema() + "\".contacts";
  const auto titles = scalar("SELECT count(title) FROM " + table);
  ASSERT_EQ(f.daemon().stop(), 0);
  // Narrowed: title is no longer a field of the mirror.
  rewrite(f.config_path(), "\n[health]", "\n[modules.Contacts]\nexclude_fields = [\"title\"]\n\n[health]");
  f.start_daemon();
  f.daemon().wait_for_log("field title is outside modules.Contacts's fields: its column is kept");
  EXPECT_EQ(field_columns(f.schema(), "contacts").count("title"), 1U);
  EXPECT_EQ(scalar("SELECT count(title) FROM " + table), titles);  // its data is still there

  // A CRM edit of both fields: the kept column is not written.
  const auto a = scalar("SELECT vtiger_id FROM " + table + " ORDER BY _row_id LIMIT 1");
  const auto old_title =
      scalar("SELECT coalesce(title, '') FROM " + table + " WHERE vtiger_id = '" + a + "'");
  vt::fake_post(f.fake().port(), "/_fake/edit",
                {{"id", a}, {"fields", {{"title", "Remote Title"}, {"lastname", "Remote Edit"}}}});
  ASSERT_TRUE(vt::wait_until([&] { return row_exists(f, "lastname = 'Remote Edit'"); }, 15s))
      << f.daemon().log();
  EXPECT_EQ(scalar("SELECT coalesce(title, '') FROM " + table + " WHERE vtiger_id = '" + a + "'"), old_title);

  // A local edit of both: only the mirrored field is sent.
  const auto b = scalar("SELECT vtiger_id FROM " + table + " ORDER BY _row_id OFFSET 1 LIMIT 1");
  vt::exec_scalar(vt::connect_blocking().get(), "UPDATE " + table +
                                                    " SET title = 'Local Title', firstname = 'Local First' "
                                                    "WHERE vtiger_id = '" +
                                                    b + "'");
  ASSERT_TRUE(vt::wait_until([&] { return !record_in_fake(f, "firstname", "Local First").is_null(); }, 15s))
      << f.daemon().log();
  const auto sent = record_in_fake(f, "firstname", "Local First");
  EXPECT_EQ(sent.value("id", ""), b);
  EXPECT_NE(sent.value("title", json{}), json("Local Title"));
}

namespace {

const std::string berlin_or_paris = "mailingcity = 'Berlin' OR mailingcity = 'Paris'";

std::set<std::string> matching_ids(vt::daemon_fixture& f) {
  std::set<std::string> out;
  for (const auto& r : vt::fake_dump(f.fake().port(), "Contacts")) {
    const auto city = r.value("mailingcity", json{});
    if (city == "Berlin" || city == "Paris") out.insert(r["id"].get<std::string>());
  }
  return out;
}

std::set<std::string> mirrored_ids(vt::daemon_fixture& f) {
  if (f.mirror_rows("Contacts") < 0) return {};  // not created yet
  auto conn = vt::connect_blocking();
  const auto list = vt::exec_scalar(conn.get(), "SELECT string_agg(vtiger_id, ',') FROM \"" + f.schema() +
                                                    "\".contacts WHERE vtiger_id IS NOT NULL AND _sync_state "
                                                    "<> 'deleted'");
  std::set<std::string> out;
  std::stringstream ss(list);
  for (std::string id; std::getline(ss, id, ',');) out.insert(id);
  return out;
}

std::string state_of(vt::daemon_fixture& f, const std::string& id) {
  return scalar("SELECT coalesce(max(_sync_state), 'absent') FROM \"" + f.schema() +
                "\".contacts WHERE vtiger_id = '" + id + "'");
}

}  // namespace

TEST(Scope, FilterLimitsTheMirrorAndWhatStopsMatchingLeavesIt) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=400"};
  o.extra_sync = "\n[modules.Contacts]\nfilter = \"" + berlin_or_paris + "\"\n";
  vt::daemon_fixture f{o};
  const auto expected = matching_ids(f);
  ASSERT_GT(expected.size(), 40U);
  ASSERT_LT(expected.size(), 300U);
  ASSERT_TRUE(vt::wait_until([&] { return mirrored_ids(f) == expected; }, 30s)) << f.daemon().log();
  // Every query that read Contacts carried the filter, the deletion counts included.
  bool counted = false;
  for (const auto& q : pull_queries(f.fake().port(), "Contacts")) {
    EXPECT_NE(q.find("mailingcity = 'Berlin'"), std::string::npos) << q;
    EXPECT_NE(q.find("mailingcity = 'Paris'"), std::string::npos) << q;
    counted = counted || q.rfind("SELECT count(*)", 0) == 0;
  }
  EXPECT_TRUE(counted);

  auto it = expected.begin();
  const std::string moved = *it++, deleted = *it++;
  std::string joined;
  for (const auto& r : vt::fake_dump(f.fake().port(), "Contacts")) {
    if (r.value("mailingcity", json{}) == "Oslo") {
      joined = r["id"];
      break;
    }
  }
  ASSERT_FALSE(joined.empty());
  // Stops matching (edited in Vtiger), starts matching, deleted.
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", moved}, {"fields", {{"mailingcity", "Oslo"}}}});
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", joined}, {"fields", {{"mailingcity", "Paris"}}}});
  vt::fake_post(f.fake().port(), "/_fake/delete", {{"id", deleted}});
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return state_of(f, moved) == "absent" && state_of(f, deleted) == "absent" &&
               state_of(f, joined) == "synced";
      },
      20s))
      << f.daemon().log();
  f.daemon().wait_for_log("record " + moved + " no longer matches modules.Contacts.filter");

  // Local inserts: a matching one stays; one that does not match is created in Vtiger, then leaves.
  auto conn = vt::connect_blocking();
  vt::exec_scalar(conn.get(), "INSERT INTO \"" + f.schema() +
                                  "\".contacts (lastname, mailingcity) VALUES ('In Scope', 'Paris'), "
                                  "('Out Of Scope', 'Oslo')");
  ASSERT_TRUE(vt::wait_until([&] { return !record_in_fake(f, "lastname", "Out Of Scope").is_null(); }, 15s))
      << f.daemon().log();
  const std::string outside = record_in_fake(f, "lastname", "Out Of Scope")["id"];
  ASSERT_TRUE(vt::wait_until([&] { return state_of(f, outside) == "absent"; }, 20s)) << f.daemon().log();
  EXPECT_TRUE(row_exists(f, "lastname = 'In Scope' AND _sync_state = 'synced' AND vtiger_id IS NOT NULL"));
  EXPECT_EQ(mirrored_ids(f), matching_ids(f));
}

TEST(Scope, UnderMarkARecordThatStopsMatchingIsKeptAsDeleted) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=200"};
  o.extra_sync = "\n[modules.Contacts]\non_remote_delete = \"mark\"\nfilter = \"" + berlin_or_paris + "\"\n";
  vt::daemon_fixture f{o};
  const auto expected = matching_ids(f);
  ASSERT_TRUE(vt::wait_until([&] { return mirrored_ids(f) == expected; }, 30s)) << f.daemon().log();
  const auto moved = *expected.begin();
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", moved}, {"fields", {{"mailingcity", "Oslo"}}}});
  ASSERT_TRUE(vt::wait_until([&] { return state_of(f, moved) == "deleted"; }, 20s)) << f.daemon().log();
  // Matching again brings it back.
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", moved}, {"fields", {{"mailingcity", "Berlin"}}}});
  ASSERT_TRUE(vt::wait_until([&] { return state_of(f, moved) == "synced"; }, 20s)) << f.daemon().log();
}

TEST(Scope, FilterVtigerRefusesIsAConfigurationError) {
  vt::daemon_options o;
  o.start_daemon = false;
  o.extra_sync = "\n[modules.Contacts]\nfilter = \"nosuchfield = 'x'\"\n";
  vt::daemon_fixture f{o};
  for (const char* command : {"run", "check"}) {
    const auto r = f.vtsyncd({command}, 30s);
    EXPECT_EQ(r.exit_code, 78) << command << ": " << r.output;
    EXPECT_NE(r.output.find(f.config_path() + ":modules.Contacts.filter: Vtiger refuses it: ACCESS_DENIED"),
              std::string::npos)
        << command << ": " << r.output;
  }
}

// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. What is mirrored and how it changes while the daemon
// runs (issue 19): Users and Groups mirrored read-only and without secrets; a field added in Vtiger
// becoming a column within sync.describe_interval, or at once when a pulled record brings it, its values
// pulled and pushed; a module added to the configuration starting on SIGHUP, a removed one stopping.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string scalar(const std::string& sql) {
  auto conn = vt::connect_blocking();
  return vt::exec_scalar(conn.get(), sql);
}

// The error PostgreSQL gives `sql`, "" when it succeeds.
std::string error_of(const std::string& sql) {
  try {
    (void)scalar(sql);
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

bool has_column(const std::string& schema, const std::string& table, const std::string& column) {
  return scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = '" + schema +
                "' AND table_name = '" + table + "' AND column_name = '" + column + "'") == "1";
}

json custom_field(const std::string& name) {
  return {{"name", name},      {"label", "Region"}, {"mandatory", false}, {"type", {{"name", "string"}}},
          {"isunique", false}, {"nullable", true},  {"editable", true},   {"default", ""}};
}

// The value of `field` of record `id` in the fake's dump of `module`.
std::string fake_value(unsigned short port, const std::string& module, const std::string& id,
                       const std::string& field) {
  for (const auto& r : vt::fake_dump(port, module)) {
    if (r.value("id", "") == id) return r.value(field, std::string{});
  }
  return "<no record>";
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST(MirroredScope, UsersAndGroupsAreMirroredReadOnlyWithoutSecrets) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=40"};
  o.modules = {"Contacts", "Users", "Groups"};
  vt::daemon_fixture f{o};
  const auto& s = f.schema();
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return f.mirror_rows("Users") == 2 && f.mirror_rows("Groups") == 3 && f.mirror_rows("Contacts") == 40;
      },
      vt::scaled(30s)))
      << f.daemon().log();

  // Describe offers the access key and the password hashes (recording 213): none is a column.
  for (const auto* secret : {"accesskey", "user_password", "confirm_password"})
    EXPECT_FALSE(has_column(s, "users", secret)) << secret;
  EXPECT_TRUE(has_column(s, "users", "user_name"));
  EXPECT_EQ(
      scalar("SELECT user_name || ' ' || is_admin::text FROM \"" + s + "\".users WHERE vtiger_id = '19x1'"),
      "admin true");
  EXPECT_EQ(scalar("SELECT groupname FROM \"" + s + "\".groups WHERE vtiger_id = '20x3'"), "Marketing Group");
  // Owners join to names (the seeded contacts are owned by 19x1, 19x5 and 20x2).
  EXPECT_EQ(
      scalar(
          "SELECT count(*) FROM \"" + s + "\".contacts c LEFT JOIN \"" + s +
          "\".users u ON u.vtiger_id = c.assigned_user_id LEFT JOIN \"" + s +
          "\".groups g ON g.vtiger_id = c.assigned_user_id WHERE u.vtiger_id IS NULL AND g.vtiger_id IS NULL"),
      "0");
  // No secret value anywhere: not the sync user's access key, in no table of the mirror or state schema.
  const std::string leaks = scalar(
      "SELECT count(*) FROM (SELECT u::text AS t FROM \"" + s +
      "\".users u UNION ALL SELECT g::text FROM \"" + s +
      "\".groups g UNION ALL SELECT o::text FROM vtsync.outbox o) x WHERE t LIKE '%e2e-ACCESS-KEY%' OR t ILIKE "
      "'%accesskey%' OR t ILIKE '%user_password%'");
  EXPECT_EQ(leaks, "0");

  // Local writes are refused, naming the table, and nothing is queued for a push.
  for (const std::string& sql :
       {"INSERT INTO \"" + s + "\".users (user_name, last_name) VALUES ('mallory', 'M')",
        "UPDATE \"" + s + "\".users SET title = 'Boss' WHERE vtiger_id = '19x5'",
        "DELETE FROM \"" + s + "\".groups WHERE vtiger_id = '20x4'", "TRUNCATE \"" + s + "\".groups"}) {
    const auto e = error_of(sql);
    EXPECT_NE(e.find(s + "."), std::string::npos) << e;
    EXPECT_NE(e.find("is a read-only mirror"), std::string::npos) << sql << ": " << e;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM vtsync.outbox WHERE schema_name = '" + s + "'"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM \"" + s + "\".groups"), "3");

  // Changes in Vtiger arrive: an edited user, a deleted group (no modifiedtime: each cycle reads them whole).
  vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", "19x5"}, {"fields", {{"title", "Head of Sales"}}}});
  vt::fake_post(f.fake().port(), "/_fake/delete", {{"id", "20x4"}});
  EXPECT_TRUE(vt::wait_until(
      [&] {
        return scalar("SELECT title FROM \"" + s + "\".users WHERE vtiger_id = '19x5'") == "Head of Sales";
      },
      vt::scaled(5s)))
      << f.daemon().log();
  EXPECT_TRUE(vt::wait_until([&] { return f.mirror_rows("Groups") == 2; }, vt::scaled(5s)));
  const auto log = f.daemon().log();
  EXPECT_EQ(log.find("e2e-ACCESS-KEY"), std::string::npos);
  // Every cycle reads Users whole; only the first load and the edit are news in the log.
  std::size_t news = 0;
  for (auto at = log.find("module=Users cycle="); at != std::string::npos;
       at = log.find("module=Users cycle=", at + 1))
    news += log.compare(log.find(' ', log.find("cycle=", at)) + 1, 8, "fetched=") == 0 ? 1 : 0;
  EXPECT_EQ(news, 2U) << log;
}

// A field added in Vtiger becomes a column within sync.describe_interval, with nothing brought by a record;
// its values are then pulled, and a local change of it is pushed like any other field.
TEST(SchemaChanges, AFieldAddedInVtigerBecomesAColumnWithinTheDescribeInterval) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=30"};
  o.extra_sync = "describe_interval = \"3s\"\n";
  vt::daemon_fixture f{o};
  const auto& s = f.schema();
  const auto port = f.fake().port();
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 30; }, vt::scaled(30s)));
  ASSERT_FALSE(has_column(s, "contacts", "cf_900"));

  const auto added = std::chrono::steady_clock::now();
  vt::fake_post(port, "/_fake/add-field", {{"module", "Contacts"}, {"field", custom_field("cf_900")}});
  ASSERT_TRUE(vt::wait_until([&] { return has_column(s, "contacts", "cf_900"); }, vt::scaled(8s)))
      << f.daemon().log();
  std::printf("column cf_900 added %.1f s after the field (describe_interval 3 s, poll 1 s)\n",
              seconds_since(added));
  EXPECT_EQ(scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"" + s +
                   "\".contacts'::regclass AND attname = 'cf_900'"),
            "text");
  EXPECT_EQ(scalar("SELECT count(*) FROM \"" + s + "\".contacts WHERE cf_900 IS NOT NULL"), "0");

  // Pulled: a CRM user fills it in.
  const std::string id = vt::fake_dump(port, "Contacts")[3]["id"];
  vt::fake_post(port, "/_fake/edit", {{"id", id}, {"fields", {{"cf_900", "North"}}}});
  EXPECT_TRUE(vt::wait_until(
      [&] {
        return scalar("SELECT cf_900 FROM \"" + s + "\".contacts WHERE vtiger_id = '" + id + "'") == "North";
      },
      vt::scaled(5s)));
  // Pushed: a local change of it goes to Vtiger.
  scalar("UPDATE \"" + s + "\".contacts SET cf_900 = 'South' WHERE vtiger_id = '" + id + "'");
  EXPECT_TRUE(
      vt::wait_until([&] { return fake_value(port, "Contacts", id, "cf_900") == "South"; }, vt::scaled(10s)))
      << f.daemon().log();
  EXPECT_TRUE(vt::wait_until(
      [&] {
        return scalar("SELECT _sync_state FROM \"" + s + "\".contacts WHERE vtiger_id = '" + id + "'") ==
               "synced";
      },
      vt::scaled(10s)));
  EXPECT_NE(f.daemon().log().find("new Vtiger field cf_900: column added"), std::string::npos);
}

// With a describe interval far away, a record that brings an unknown field makes the column at once: the
// page is stored with its value in the same pass.
TEST(SchemaChanges, ARecordBringingAnUnknownFieldAddsTheColumnAtOnce) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=30"};
  o.extra_sync = "describe_interval = \"1h\"\n";
  vt::daemon_fixture f{o};
  const auto& s = f.schema();
  const auto port = f.fake().port();
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 30; }, vt::scaled(30s)));
  vt::fake_post(port, "/_fake/add-field", {{"module", "Contacts"}, {"field", custom_field("cf_901")}});
  const std::string id = vt::fake_dump(port, "Contacts")[7]["id"];
  const auto edited = std::chrono::steady_clock::now();
  vt::fake_post(port, "/_fake/edit", {{"id", id}, {"fields", {{"cf_901", "East"}}}});
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return has_column(s, "contacts", "cf_901") &&
               scalar("SELECT cf_901 FROM \"" + s + "\".contacts WHERE vtiger_id = '" + id + "'") == "East";
      },
      vt::scaled(5s)))
      << f.daemon().log();
  std::printf("column cf_901 and its value stored %.1f s after the edit (describe_interval 1 h)\n",
              seconds_since(edited));
  const auto log = f.daemon().log();
  EXPECT_NE(log.find("a page brings 1 field(s) the mirror lacks (cf_901...)"), std::string::npos) << log;
  EXPECT_NE(log.find("new Vtiger field cf_901: column added"), std::string::npos);
}

TEST(SchemaChanges, AModuleAddedOnSighupStartsSyncingAndARemovedOneStops) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=20", "--seed", "Accounts=25"};
  vt::daemon_fixture f{o};
  const auto& s = f.schema();
  const auto port = f.fake().port();
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 20; }, vt::scaled(30s)));
  EXPECT_EQ(scalar("SELECT to_regclass('\"" + s + "\".accounts') IS NULL"), "t");

  auto rewrite = [&](std::vector<std::string> modules) {
    vt::config_params p;
    p.vtiger_url = f.fake().url();
    p.schema = s;
    p.modules = std::move(modules);
    p.extra_sync = "poll_interval = \"1s\"\n";
    ASSERT_EQ(vt::write_config(f.dir(), p), f.config_path());
    f.daemon().signal(SIGHUP);
  };
  rewrite({"Contacts", "Accounts"});
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Accounts") == 25; }, vt::scaled(15s)))
      << f.daemon().log();
  EXPECT_NE(f.daemon().log().find("module=Accounts added to sync.modules: starting its pull"),
            std::string::npos);
  // It is pushed too: a local change of an account reaches Vtiger.
  const std::string account = vt::fake_dump(port, "Accounts")[0]["id"];
  scalar("UPDATE \"" + s + "\".accounts SET website = 'https://example.org/new' WHERE vtiger_id = '" +
         account + "'");
  EXPECT_TRUE(vt::wait_until(
      [&] { return fake_value(port, "Accounts", account, "website") == "https://example.org/new"; },
      vt::scaled(10s)))
      << f.daemon().log();

  // Contacts removed: its loop ends (the log says so), its table stays; a contact edited in Vtiger then is
  // not brought, while an account edited after it is.
  rewrite({"Accounts"});
  f.daemon().wait_for_log("module=Contacts left sync.modules: no longer pulled", vt::scaled(10s));
  const std::string contact = vt::fake_dump(port, "Contacts")[0]["id"];
  vt::fake_post(port, "/_fake/edit", {{"id", contact}, {"fields", {{"title", "Not mirrored"}}}});
  vt::fake_post(port, "/_fake/edit",
                {{"id", account}, {"fields", {{"website", "https://example.org/later"}}}});
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return scalar("SELECT website FROM \"" + s + "\".accounts WHERE vtiger_id = '" + account + "'") ==
               "https://example.org/later";
      },
      vt::scaled(10s)));
  EXPECT_NE(
      scalar("SELECT coalesce(title, '') FROM \"" + s + "\".contacts WHERE vtiger_id = '" + contact + "'"),
      "Not mirrored");
  EXPECT_EQ(f.mirror_rows("Contacts"), 20);
  // /readyz stays ready without the removed module.
  const auto ready = vt::http_request(f.health_port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
}

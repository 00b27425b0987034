// Needs: build/vtsyncd, build/fake-vtiger (no PostgreSQL: configs point at an unused one where needed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "e2e_support.hpp"
#include "test_env.hpp"

namespace vt = vtsync::test;

namespace {

const std::string key = "e2e-ACCESS-KEY-7f3a9c";

vt::config_params params_for(const vt::fake_vtiger& fake) {
  vt::config_params p;
  p.vtiger_url = fake.url();
  p.access_key = key;
  p.conninfo = "postgresql://nobody@127.0.0.1:1/none";
  return p;
}

}  // namespace

TEST(CliE2e, VersionAndHelp) {
  const auto version = vt::run_vtsyncd({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_FALSE(version.output.empty());
  const auto help = vt::run_vtsyncd({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.output;
  for (const char* word : {"check", "call", "sync.poll_interval", "Exit codes"}) {
    EXPECT_NE(help.output.find(word), std::string::npos) << word;
  }
}

TEST(CliE2e, CallListtypesAgainstTheFake) {
  vt::fake_vtiger fake({"--access-key", key});
  vt::temp_dir dir;
  const auto config = vt::write_config(dir, params_for(fake));
  const auto r = vt::run_vtsyncd({"call", "listtypes", "--config", config});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto body = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const auto& types = body.at("types");
  EXPECT_NE(std::find(types.begin(), types.end(), "Contacts"), types.end()) << r.output;
}

TEST(CliE2e, CallQueryAgainstTheFake) {
  vt::fake_vtiger fake({"--access-key", key, "--seed", "Contacts=20"});
  vt::temp_dir dir;
  const auto config = vt::write_config(dir, params_for(fake));
  const auto r =
      vt::run_vtsyncd({"call", "query", "query=SELECT * FROM Contacts LIMIT 5;", "--config", config});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  ASSERT_EQ(rows.size(), 5U);
  EXPECT_TRUE(rows[0].contains("lastname"));
  EXPECT_EQ(rows[0].at("id").get<std::string>().rfind("12x", 0), 0U);
}

TEST(CliE2e, CallRejectedOperationPrintsVtigerError) {
  vt::fake_vtiger fake({"--access-key", key});
  vt::temp_dir dir;
  const auto config = vt::write_config(dir, params_for(fake));
  const auto r = vt::run_vtsyncd({"call", "retrieve", "id=12x999999", "--config", config});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("ACCESS_DENIED"), std::string::npos) << r.output;
}

TEST(CliE2e, WrongAccessKeyIsAConfigurationProblemAndLeaksNothing) {
  vt::fake_vtiger fake({"--access-key", key});
  vt::temp_dir dir;
  auto p = params_for(fake);
  p.access_key = "WRONG-KEY-d41d8c";
  const auto config = vt::write_config(dir, p);
  const auto r = vt::run_vtsyncd({"call", "listtypes", "--config", config});
  EXPECT_EQ(r.exit_code, 78) << r.output;
  EXPECT_EQ(r.output.find("WRONG-KEY-d41d8c"), std::string::npos) << r.output;
}

TEST(CliE2e, CheckReportsEachSide) {
  vt::fake_vtiger fake({"--access-key", key});
  vt::temp_dir dir;
  auto p = params_for(fake);
  p.conninfo = vt::postgres_conninfo();
  const auto good = vt::run_vtsyncd({"check", "--config", vt::write_config(dir, p)});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.output.find("vtiger: ok"), std::string::npos) << good.output;
  EXPECT_NE(good.output.find("postgres: ok"), std::string::npos) << good.output;

  p.conninfo = "postgresql://nobody:SECRET-PW-91@127.0.0.1:1/none";
  const auto bad_pg = vt::run_vtsyncd({"check", "--config", vt::write_config(dir, p)});
  EXPECT_EQ(bad_pg.exit_code, 69) << bad_pg.output;
  EXPECT_NE(bad_pg.output.find("postgres:"), std::string::npos);
  EXPECT_EQ(bad_pg.output.find("SECRET-PW-91"), std::string::npos) << bad_pg.output;
}

// The table of bad configurations, through the real binary: exit 78 and the key named.
TEST(CliE2e, BadConfigurationsExit78NamingTheKey) {
  vt::temp_dir dir;
  const std::string good =
      "[vtiger]\nurl = \"http://127.0.0.1:1\"\nusername = \"admin\"\naccess_key = \"" + key +
      "\"\n[postgres]\nconninfo = \"host=127.0.0.1\"\n[sync]\nmodules = [\"Contacts\"]\n";
  struct bad {
    std::string body;
    std::string needle;
  };
  const std::vector<bad> cases = {
      {"<none>", "cannot read"},
      {"[vtiger\n", "invalid TOML"},
      {good + "colour = \"red\"\n", "sync.colour: unknown key"},
      {good + "max_in_flight_requests = \"four\"\n", "sync.max_in_flight_requests: expected an integer"},
      {good + "poll_interval = \"soon\"\n", "sync.poll_interval:"},
      {"[vtiger]\nurl = \"http://127.0.0.1:1\"\nusername = \"admin\"\naccess_key_file = \"/nonexistent\"\n"
       "[postgres]\nconninfo = \"host=x\"\n[sync]\nmodules = [\"Contacts\"]\n",
       "vtiger.access_key_file: cannot read"},
      {"[vtiger]\nurl = \"not a url\"\nusername = \"admin\"\naccess_key = \"k\"\n[postgres]\nconninfo = \"h\"\n"
       "[sync]\nmodules = [\"Contacts\"]\n",
       "vtiger.url:"},
      {"[vtiger]\nurl = \"http://h\"\nusername = \"admin\"\naccess_key = \"k\"\n[postgres]\nconninfo = \"h\"\n"
       "[sync]\nmodules = []\n",
       "sync.modules:"},
  };
  for (const auto& c : cases) {
    const std::string path =
        c.body == "<none>" ? (dir.path() / "missing.toml").string() : dir.write("bad.toml", c.body);
    for (const char* command : {"check", "call"}) {
      std::vector<std::string> args = {command, "--config", path};
      if (std::string{command} == "call") args.insert(args.begin() + 1, "listtypes");
      const auto r = vt::run_vtsyncd(args);
      EXPECT_EQ(r.exit_code, 78) << command << " " << c.needle << ": " << r.output;
      EXPECT_NE(r.output.find(path + ":"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find(c.needle), std::string::npos) << r.output;
      EXPECT_EQ(r.output.find(key), std::string::npos) << "access key leaked: " << r.output;
    }
  }
}

// Found by tests/e2e/security_test.cpp: after any error (here: nothing listens) `vtsyncd backfill` logged
// it and then waited for SIGTERM, because its signal_set kept the event loop alive. It must exit 69.
TEST(CliE2e, BackfillThatCannotReachVtigerExitsInsteadOfHanging) {
  vt::temp_dir dir;
  vt::config_params p;
  p.vtiger_url = "http://127.0.0.1:1";
  p.access_key = key;
  p.schema = vt::unique_schema("cli_unreachable");
  const auto r = vt::run_vtsyncd({"backfill", "--config", vt::write_config(dir, p)},
                                 vt::scaled(std::chrono::seconds{90}));
  EXPECT_EQ(r.exit_code, 69) << r.output;
  EXPECT_NE(r.output.find("backfill failed"), std::string::npos) << r.output;
}

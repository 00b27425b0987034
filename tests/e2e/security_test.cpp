// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd, the openssl command line tool (a throwaway
// certificate). Security as an operator meets it, through the real binaries: TLS verification by the
// daemon's commands, no secret in any command output or log, hostile Vtiger data stored verbatim without
// injecting anything, and a health endpoint that serves nothing that writes.
// (tests/client/client_tls_secrets_test.cpp covers the client API; service_test.cpp the daemon's logs,
// /metrics and /status; this file adds what only the commands show.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"
#include "test_env.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;
using vtsync::test::self_signed;

namespace {

const std::string key = "e2e-SECURITY-KEY-5b1e77";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void drop_schema(const std::string& schema) {
  auto conn = vt::connect_blocking();
  vt::exec_scalar(conn.get(), "DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
}

// What must never be shown: the key itself, a login digest (md5 hex), a session name (the fake's are 13+
// hex digits), or the parameters that carry them.
std::string secret_problems(const std::string& what, const std::string& text) {
  static const std::regex hex_run{"[0-9a-f]{13,}"};
  std::smatch m;
  if (text.find(key) != std::string::npos) return "the access key in " + what;
  for (const std::string param : {"accessKey=", "sessionName="}) {
    // Redacted as "***" in trace lines; any other value after the name is a leak.
    for (auto at = text.find(param); at != std::string::npos; at = text.find(param, at + 1))
      if (text.compare(at + param.size(), 3, "***") != 0) return "a " + param + " value in " + what;
  }
  if (std::regex_search(text, m, hex_run))
    return "a digest or session name (" + m.str() + ") in " + what + ":\n" + text;
  return {};
}

}  // namespace

TEST(SecurityE2e, CommandsRefuseAnUnverifiableCertificateAndWorkWithCaFileOrALoudOptOut) {
  self_signed tls;
  vt::fake_vtiger fake(
      {"--tls-cert", tls.cert, "--tls-key", tls.key, "--access-key", key, "--seed", "Contacts=5"});
  vt::temp_dir dir;
  vt::config_params p;
  p.vtiger_url = "https://127.0.0.1:" + std::to_string(fake.port());
  p.access_key = key;
  p.schema = vt::unique_schema("sec_tls");

  // No ca_file: the self-signed certificate is refused, clearly, and nothing is synced.
  const auto config = vt::write_config(dir, p);
  const auto check = vt::run_vtsyncd({"check", "--config", config}, vt::scaled(60s));
  EXPECT_EQ(check.exit_code, 69) << check.output;
  EXPECT_NE(check.output.find("vtiger: "), std::string::npos) << check.output;
  EXPECT_NE(lower(check.output).find("certificate"), std::string::npos) << check.output;
  // 69 within the timeout (run_vtsyncd's -1 would be a hang: it used to wait for SIGTERM after the error).
  const auto refused = vt::run_vtsyncd({"backfill", "--config", config}, vt::scaled(60s));
  EXPECT_EQ(refused.exit_code, 69) << refused.output;
  EXPECT_NE(lower(refused.output).find("certificate"), std::string::npos) << refused.output;

  // ca_file = the certificate: both work.
  p.extra_vtiger = "ca_file = \"" + tls.cert + "\"\n";
  const auto trusted = vt::write_config(dir, p);
  const auto ok = vt::run_vtsyncd({"check", "--config", trusted}, vt::scaled(60s));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("vtiger: ok"), std::string::npos) << ok.output;
  const auto backfill = vt::run_vtsyncd({"backfill", "--config", trusted}, vt::scaled(120s));
  EXPECT_EQ(backfill.exit_code, 0) << backfill.output;
  {
    auto conn = vt::connect_blocking();
    EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT count(*) FROM \"" + p.schema + "\".contacts"), "5");
  }

  // verify_tls = false: works, with a loud warning line.
  p.extra_vtiger = "verify_tls = false\n";
  const auto unchecked = vt::write_config(dir, p);
  const auto loud = vt::run_vtsyncd({"backfill", "--config", unchecked}, vt::scaled(120s));
  EXPECT_EQ(loud.exit_code, 0) << loud.output;
  EXPECT_NE(loud.output.find("verification is DISABLED"), std::string::npos) << loud.output;
  EXPECT_NE(lower(loud.output).find("warn"), std::string::npos) << loud.output;
  const auto loud_check = vt::run_vtsyncd({"check", "--config", unchecked}, vt::scaled(60s));
  EXPECT_EQ(loud_check.exit_code, 0) << loud_check.output;
  drop_schema(p.schema);
}

TEST(SecurityE2e, NoSecretInTheOutputOfAnyCommandOrAFailingLogin) {
  vt::fake_vtiger fake({"--access-key", key, "--seed", "Contacts=30"});
  vt::temp_dir dir;
  vt::config_params p;
  p.vtiger_url = fake.url();
  p.access_key = key;
  p.schema = vt::unique_schema("sec_secrets");
  p.log = "level = \"trace\"\n";  // the most talkative level: still nothing secret
  const auto config = vt::write_config(dir, p);

  std::vector<std::pair<std::string, vt::run_result>> runs;
  runs.emplace_back("check", vt::run_vtsyncd({"check", "--config", config}, vt::scaled(60s)));
  runs.emplace_back("backfill", vt::run_vtsyncd({"backfill", "--config", config}, vt::scaled(120s)));
  runs.emplace_back("status", vt::run_vtsyncd({"status", "--config", config}, vt::scaled(60s)));
  runs.emplace_back("status --json",
                    vt::run_vtsyncd({"status", "--json", "--config", config}, vt::scaled(60s)));
  runs.emplace_back("call listtypes",
                    vt::run_vtsyncd({"call", "listtypes", "--config", config}, vt::scaled(60s)));
  runs.emplace_back("call query",
                    vt::run_vtsyncd({"call", "query", "query=SELECT id, lastname FROM Contacts LIMIT 3;",
                                     "--config", config},
                                    vt::scaled(60s)));
  for (const auto& [what, r] : runs) EXPECT_EQ(r.exit_code, 0) << what << ":\n" << r.output;
  // A rejected call and a failing login (the key of the file is wrong): errors name no secret either.
  runs.emplace_back(
      "call retrieve (refused)",
      vt::run_vtsyncd({"call", "retrieve", "id=12x999999", "--config", config}, vt::scaled(60s)));
  vt::config_params wrong = p;
  wrong.access_key = key + "-WRONG";
  const auto wrong_config = vt::write_config(dir, wrong);
  const auto failed_login = vt::run_vtsyncd({"check", "--config", wrong_config}, vt::scaled(60s));
  EXPECT_EQ(failed_login.exit_code, 69) << failed_login.output;
  runs.emplace_back("check with a wrong key", failed_login);
  runs.emplace_back("call with a wrong key",
                    vt::run_vtsyncd({"call", "listtypes", "--config", wrong_config}, vt::scaled(60s)));
  runs.emplace_back("backfill with a wrong key",
                    vt::run_vtsyncd({"backfill", "--config", wrong_config}, vt::scaled(60s)));
  for (const auto& [what, r] : runs) EXPECT_EQ(secret_problems(what, r.output), "") << r.output;
  // The fake did see logins (so there were digests and session names to leak).
  EXPECT_GT(vt::fake_stats(fake.port()).value("logins", 0), 3);
  drop_schema(p.schema);
}

TEST(SecurityE2e, HostileValuesFromVtigerAreStoredVerbatimAndInjectNothing) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=3"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 3; }, vt::scaled(60s)))
      << f.daemon().log();
  const auto id = vt::fake_dump(f.fake().port(), "Contacts")[0]["id"].get<std::string>();
  const std::string table = "\"" + f.schema() + "\".contacts";

  const std::string injection = "Robert'); DROP TABLE " + table + "; --";
  const std::string controls =
      "semi;colon \"double\" 'single' \\back\\slash \x01\x07\x1b\x7f\r\n\ttab $$ $1 %s";
  std::string megabyte;
  while (megabyte.size() < 1024 * 1024) megabyte += "ab;'\"\\ ";
  // Not fake_post: the fake answers with raw control characters in strings, as real Vtiger does, which a
  // strict JSON parser refuses (the daemon's client escapes them first).
  const json edit = {{"id", id},
                     {"fields", {{"lastname", injection}, {"firstname", controls}, {"title", megabyte}}}};
  ASSERT_EQ(vt::http_request(f.fake().port(), "POST", "/_fake/edit", edit.dump(), "application/json").status,
            200);

  auto conn = vt::connect_blocking();
  const auto where = " FROM " + table + " WHERE vtiger_id = '" + id + "'";
  ASSERT_TRUE(vt::wait_until(
      [&] { return vt::exec_scalar(conn.get(), "SELECT lastname" + where) == injection; }, vt::scaled(60s)))
      << f.daemon().log().substr(0, 20000);
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT firstname" + where), controls);
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT octet_length(title)" + where),
            std::to_string(megabyte.size()));
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT title" + where), megabyte);
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT count(*) FROM " + table), "3");
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT _sync_state" + where), "synced");

  // The daemon's own write was not pushed back, and it keeps running and serving.
  EXPECT_EQ(vt::http_request(f.health_port(), "GET", "/healthz").status, 200);
  const auto stats = vt::fake_stats(f.fake().port());
  EXPECT_EQ(stats["requests"].value("revise", 0) + stats["requests"].value("update", 0), 0) << stats.dump();
}

TEST(SecurityE2e, TheHealthEndpointIsLoopbackAndReadOnly) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=1"};
  vt::daemon_fixture f{o};
  EXPECT_NE(f.daemon().log().find("health endpoint listening on 127.0.0.1:"), std::string::npos)
      << f.daemon().log();
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/status", "/", "/ui.js", "/ui/recent.json"}) {
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
      const auto r = vt::http_request(f.health_port(), method, path, "x=1");
      EXPECT_EQ(r.status, 405) << method << " " << path;
    }
  }
  // GET / is the operator page (read-only); nothing else answers.
  for (const char* path :
       {"/admin", "/status/../metrics", "/webservice.php", "/_fake/stats", "/ui/../status", "/index.html"})
    EXPECT_EQ(vt::http_request(f.health_port(), "GET", path).status, 404) << path;
  EXPECT_EQ(vt::http_request(f.health_port(), "GET", "/healthz").status, 200);
}

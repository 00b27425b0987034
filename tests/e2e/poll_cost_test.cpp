// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. What polls cost the CRM (issue 17), on the fake's
// vtiger-8.2 cost model: 60,300 records in all modules make an idle poll take ~85 ms, over the 50 ms at
// which the daemon warns (log and /status) and `vtsyncd check` says what Vtiger's administrator can do;
// /metrics has every request's duration per operation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

vt::daemon_options costly_crm(bool start_daemon) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=300", "--seed", "Accounts=60000", "--cost-model", "vtiger-8.2"};
  o.extra_sync = "deletion_scan_interval = \"1h\"\n";
  o.start_daemon = start_daemon;
  return o;
}

}  // namespace

TEST(PollCost, SlowIdlePollIsWarnedInTheLogAndStatusWithTheAdvice) {
  vt::daemon_fixture f{costly_crm(true)};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 300; }, 60s)) << f.daemon().log();
  json contacts;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        contacts =
            json::parse(vt::http_request(f.health_port(), "GET", "/status").body)["modules"]["Contacts"];
        return contacts["warning"].is_string();
      },
      30s))
      << contacts.dump();
  EXPECT_GT(contacts["idle_poll_ms"].get<double>(), 50.0);
  const std::string warning = contacts["warning"];
  EXPECT_NE(warning.find("an idle poll of Contacts took"), std::string::npos) << warning;
  EXPECT_NE(warning.find("CREATE INDEX"), std::string::npos) << warning;
  EXPECT_NE(f.daemon().log().find("an idle poll of Contacts took"), std::string::npos);

  const auto metrics = vt::http_request(f.health_port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("# TYPE vtsync_api_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(metrics.find("vtsync_api_request_duration_seconds_count{operation=\"query\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("vtsync_api_request_duration_seconds_count{operation=\"login\"}"),
            std::string::npos);
}

TEST(PollCost, CheckTimesOneIdlePollPerModuleAndGivesTheAdvice) {
  vt::daemon_fixture f{costly_crm(false)};
  const auto r = f.vtsyncd({"check"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("idle poll Contacts: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(slow)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CREATE INDEX"), std::string::npos) << r.output;
}

// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. The daemon as an operator sees it: readiness,
// metrics, SIGTERM in the middle of a backfill, SIGHUP with a broken file, no secret anywhere.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <regex>
#include <thread>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

double metric_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Every sample belongs to a family with HELP and TYPE; counters end in _total.
std::string prometheus_problems(const std::string& text) {
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::istringstream in(text);
  std::string line;
  static const std::regex sample{R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)"};
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      helps.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      types[name] = line.substr(line.find(' ', 7) + 1);
      continue;
    }
    if (line.empty()) continue;
    std::smatch m;
    if (!std::regex_match(line, m, sample)) return "bad sample line: " + line;
    std::string family = m[1].str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s{suffix};
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          types.count(family.substr(0, family.size() - s.size())) &&
          types[family.substr(0, family.size() - s.size())] == "histogram") {
        family = family.substr(0, family.size() - s.size());
      }
    }
    if (!types.count(family) || !helps.count(family)) return "no HELP/TYPE for " + family;
    if (types[family] == "counter" && family.size() > 6 && family.substr(family.size() - 6) != "_total") {
      return "counter without _total: " + family;
    }
  }
  return {};
}

}  // namespace

TEST(ServiceE2e, ReadinessMetricsStatusAndNoSecrets) {
  vt::daemon_options o;
  // The first queries are slow, so /readyz can be seen saying 503 before the first cycle ends.
  o.fake_args = {"--seed", "Contacts=400", "--fault", "query:delay=1500:every=1"};
  vt::daemon_fixture f{o};
  const auto early = vt::http_request(f.health_port(), "GET", "/readyz");
  EXPECT_EQ(early.status, 503) << early.body;
  EXPECT_NE(json::parse(early.body).value("reason", ""), "");
  EXPECT_EQ(vt::http_request(f.health_port(), "GET", "/healthz").status, 200);
  ASSERT_TRUE(
      vt::wait_until([&] { return vt::http_request(f.health_port(), "GET", "/readyz").status == 200; }, 60s))
      << f.daemon().log();

  const auto metrics = vt::http_request(f.health_port(), "GET", "/metrics").body;
  EXPECT_EQ(prometheus_problems(metrics), "");
  EXPECT_EQ(metric_value(metrics, "vtsync_records_pulled_total{module=\"Contacts\"}"), 400) << metrics;
  EXPECT_GT(metric_value(metrics, "vtsync_api_requests_total{operation=\"query\"}"), 0) << metrics;
  EXPECT_GT(metric_value(metrics, "vtsync_last_success_timestamp_seconds{module=\"Contacts\"}"), 1e9)
      << metrics;

  vt::fake_post(
      f.fake().port(), "/_fake/edit",
      {{"id", vt::fake_dump(f.fake().port(), "Contacts")[0]["id"]}, {"fields", {{"title", "Moved"}}}});
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return metric_value(vt::http_request(f.health_port(), "GET", "/metrics").body,
                            "vtsync_records_pulled_total{module=\"Contacts\"}") == 401;
      },
      20s));

  const auto status = json::parse(vt::http_request(f.health_port(), "GET", "/status").body);
  EXPECT_TRUE(status["modules"].contains("Contacts")) << status.dump();
  const auto cli_status = f.vtsyncd({"status", "--json"});
  ASSERT_EQ(cli_status.exit_code, 0) << cli_status.output;
  EXPECT_NE(cli_status.output.find("\"Contacts\""), std::string::npos);

  f.daemon().stop(SIGTERM);
  const std::string key = "e2e-ACCESS-KEY-7f3a9c";
  for (const auto& [what, text] :
       std::vector<std::pair<std::string, std::string>>{{"log", f.daemon().log()},
                                                        {"metrics", metrics},
                                                        {"status", status.dump()},
                                                        {"status cli", cli_status.output}}) {
    EXPECT_EQ(text.find(key), std::string::npos) << "access key in " << what;
    EXPECT_EQ(text.find("accessKey="), std::string::npos) << "login body in " << what;
    EXPECT_EQ(text.find("sessionName="), std::string::npos) << "session name in " << what;
  }
}

TEST(ServiceE2e, SigtermInTheMiddleOfABackfillStopsFastWithAConsistentCursor) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=30000", "--latency-ms", "5"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") > 1000; }, 60s)) << f.daemon().log();
  const auto t0 = std::chrono::steady_clock::now();
  const int code = f.daemon().stop(SIGTERM, vt::scaled(5s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(code, 0) << f.daemon().log();
  EXPECT_LT(took, vt::scaled(5s));
  const long rows = f.mirror_rows("Contacts");
  ASSERT_LT(rows, 30000) << "the backfill finished before SIGTERM; nothing was tested";
  // Consistent: the first load of a module goes by id (sync/engine/pull.hpp), one range per session, its
  // progress stored with each page; the mirror holds exactly the records of that progress.
  auto conn = vt::connect_blocking();
  const auto progress = vt::exec_scalar(
      conn.get(),
      "SELECT string_agg(lower_id || ' ' || upper_id || ' ' || coalesce(last_id_done, -1) || ' ' || "
      "done::int, ',' ORDER BY range_no) FROM vtsync.backfill_ranges WHERE schema_name = '" +
          f.schema() + "' AND module = 'Contacts'");
  struct range {
    long long lower, upper, done_through;
    int done;
  };
  std::vector<range> ranges;
  std::istringstream in{progress};
  for (std::string item; std::getline(in, item, ',');) {
    range r{};
    std::istringstream{item} >> r.lower >> r.upper >> r.done_through >> r.done;
    ranges.push_back(r);
  }
  ASSERT_FALSE(ranges.empty()) << "no id ranges stored for the interrupted first load";
  // Every record of that progress is in the mirror; the only others are the newest ones, which the poll of
  // the cursor (set to the newest modifiedtime when the load was planned) may bring in the same cycle.
  const auto mirror_ids =
      vt::exec_scalar(conn.get(), "SELECT string_agg(vtiger_id, ',') FROM \"" + f.schema() + "\".contacts");
  std::set<std::string> in_mirror;
  std::istringstream ids{mirror_ids};
  for (std::string id; std::getline(ids, id, ',');) in_mirror.insert(id);
  const auto cursor_time =
      vt::exec_scalar(conn.get(), "SELECT modifiedtime FROM vtsync.cursors WHERE schema_name = '" +
                                      f.schema() + "' AND module = 'Contacts'");
  const auto dump = vt::fake_dump(f.fake().port(), "Contacts");
  const auto number = [](const std::string& id) { return std::stoll(id.substr(id.find('x') + 1)); };
  long covered = 0, newest_outside = 0;
  std::string newest_time;
  for (const auto& r : dump) newest_time = std::max(newest_time, r["modifiedtime"].get<std::string>());
  for (const auto& r : dump) {
    const std::string id = r["id"];
    const auto n = number(id);
    bool in_progress = false;
    for (const auto& g : ranges)
      in_progress |= n >= g.lower && n <= g.upper && (g.done == 1 || n <= g.done_through);
    if (in_progress) {
      ++covered;
      EXPECT_TRUE(in_mirror.contains(id)) << id << " is within the stored progress but not in the mirror";
    } else if (in_mirror.contains(id)) {
      ++newest_outside;
      EXPECT_EQ(r["modifiedtime"].get<std::string>().substr(0, 13), newest_time.substr(0, 13))
          << id << " is in the mirror, outside the stored progress, and not among the newest records";
    }
  }
  EXPECT_EQ(rows, covered + newest_outside) << "ranges " << progress << ", cursor " << cursor_time;
  // And a restart finishes the load exactly.
  f.start_daemon();
  EXPECT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 30000; }, 120s)) << f.daemon().log();
  EXPECT_EQ(f.mirror_rows("Contacts"), 30000);
}

TEST(ServiceE2e, SighupWithABrokenFileKeepsRunning) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=50"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 50; }, 30s));
  std::ofstream(f.config_path()) << "[vtiger\nthis is not TOML\n";
  f.daemon().signal(SIGHUP);
  ASSERT_TRUE(
      vt::wait_until([&] { return f.daemon().log().find("reload refused") != std::string::npos; }, 10s))
      << f.daemon().log();
  EXPECT_TRUE(f.daemon().running());
  EXPECT_EQ(vt::http_request(f.health_port(), "GET", "/healthz").status, 200);
  vt::fake_post(f.fake().port(), "/_fake/edit",
                {{"id", vt::fake_dump(f.fake().port(), "Contacts")[3]["id"]},
                 {"fields", {{"title", "Still syncing"}}}});
  EXPECT_TRUE(vt::wait_until([&] { return f.differences("Contacts").empty(); }, 10s));
  EXPECT_EQ(f.daemon().stop(SIGTERM), 0);
}

// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. The alerting kit (contrib/) asks only for metrics
// the daemon exports: every vtsync_* name in the Grafana dashboard's queries and in the alert rules is a
// series of a running daemon's GET /metrics.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "daemon_fixture.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The series names /metrics declares (# TYPE lines; a histogram's _bucket, _sum and _count too).
std::set<std::string> exported_names(const std::string& metrics) {
  std::set<std::string> out;
  std::istringstream in{metrics};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words{line};
    std::string hash, kind, name, type;
    if (!(words >> hash >> kind >> name >> type) || hash != "#" || kind != "TYPE") continue;
    out.insert(name);
    if (type == "histogram") out.insert({name + "_bucket", name + "_sum", name + "_count"});
  }
  return out;
}

std::set<std::string> vtsync_names(const std::string& expr) {
  static const std::regex name{R"(\bvtsync_[a-zA-Z0-9_]+)"};
  std::set<std::string> out;
  for (std::sregex_iterator it{expr.begin(), expr.end(), name}, end; it != end; ++it) out.insert(it->str());
  return out;
}

void collect_exprs(const json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (key == "expr" && value.is_string()) out.push_back(value.get<std::string>());
      collect_exprs(value, out);
    }
  } else if (j.is_array()) {
    for (const auto& value : j) collect_exprs(value, out);
  }
}

}  // namespace

TEST(alerting_kit, UsesOnlyMetricsTheDaemonExports) {
  vt::daemon_fixture f{vt::daemon_options{}};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") >= 0; }, vt::scaled(60s)))
      << f.daemon().log();
  const auto exported = exported_names(vt::http_request(f.health_port(), "GET", "/metrics").body);
  ASSERT_TRUE(exported.count("vtsync_records_pulled_total")) << "no metrics read";

  const std::string contrib = std::string{VTSYNC_SOURCE_DIR} + "/contrib/";
  std::vector<std::string> exprs;
  collect_exprs(json::parse(read_file(contrib + "grafana/vtsync-dashboard.json")), exprs);
  ASSERT_GE(exprs.size(), 8u);
  std::set<std::string> used;
  for (const auto& e : exprs) {
    const auto names = vtsync_names(e);
    EXPECT_FALSE(names.empty()) << "a dashboard query on no vtsync metric: " << e;
    used.insert(names.begin(), names.end());
  }
  // The rules: every `expr:` line of the YAML.
  std::istringstream rules{read_file(contrib + "prometheus/vtsync-alerts.yml")};
  std::string line;
  int rule_exprs = 0;
  while (std::getline(rules, line)) {
    if (line.find("expr:") == std::string::npos) continue;
    ++rule_exprs;
    for (const auto& n : vtsync_names(line)) used.insert(n);
  }
  EXPECT_GE(rule_exprs, 5);
  for (const auto& n : used) EXPECT_TRUE(exported.count(n)) << n << " is not in the daemon's /metrics";
  // Every metric the daemon exports has a place on the dashboard or in a rule.
  for (const auto& n : exported) {
    if (n.ends_with("_sum") || n.ends_with("_count") || exported.count(n + "_bucket"))
      continue;  // histograms
    EXPECT_TRUE(used.count(n)) << n << " is exported but neither charted nor alerted on";
  }
}

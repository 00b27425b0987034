// Needs: nothing (unit). Reads the units as they will be installed (build/systemd/*.service); the
// systemd_units_verify test runs systemd-analyze on a copy that points at the built binary.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// section -> key -> values (a key may repeat)
using unit_file = std::map<std::string, std::multimap<std::string, std::string>>;

unit_file read_unit(const std::string& name) {
  std::ifstream in(std::string(VTSYNC_INSTALL_UNIT_DIR) + "/" + name);
  if (!in) throw std::runtime_error("cannot read " + name);
  unit_file unit;
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) throw std::runtime_error(name + ": not key=value: " + line);
    unit[section].emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return unit;
}

std::string one(const unit_file& unit, const std::string& section, const std::string& key) {
  auto s = unit.find(section);
  if (s == unit.end()) return "<no section " + section + ">";
  auto [first, last] = s->second.equal_range(key);
  if (first == last) return "<unset>";
  if (std::next(first) != last) return "<repeated>";
  return first->second;
}

const std::string bindir = VTSYNC_INSTALL_FULL_BINDIR;
const std::string confdir = VTSYNC_UNIT_CONFIG_DIR;

TEST(systemd_units, daemon_unit_is_a_notify_service_with_watchdog) {
  auto unit = read_unit("vtsyncd.service");
  EXPECT_EQ(one(unit, "Service", "Type"), "notify");
  EXPECT_EQ(one(unit, "Service", "NotifyAccess"), "main");
  EXPECT_EQ(one(unit, "Service", "ExecStart"), bindir + "/vtsyncd run --config " + confdir + "/vtsync.toml");
  EXPECT_EQ(one(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
  EXPECT_EQ(one(unit, "Service", "WatchdogSec"), "30s");
  EXPECT_EQ(one(unit, "Service", "Restart"), "on-failure");
  EXPECT_EQ(one(unit, "Service", "RestartSec"), "5s");
  EXPECT_EQ(one(unit, "Service", "TimeoutStopSec"), "30s");
  EXPECT_EQ(one(unit, "Service", "LoadCredential"), "vtiger-access-key:" + confdir + "/vtiger-access-key");
  EXPECT_EQ(one(unit, "Install", "WantedBy"), "multi-user.target");
}

TEST(systemd_units, backfill_unit_is_a_oneshot) {
  auto unit = read_unit("vtsyncd-backfill.service");
  EXPECT_EQ(one(unit, "Service", "Type"), "oneshot");
  EXPECT_EQ(one(unit, "Service", "ExecStart"),
            bindir + "/vtsyncd backfill --config " + confdir + "/vtsync.toml");
  EXPECT_EQ(one(unit, "Service", "LoadCredential"), "vtiger-access-key:" + confdir + "/vtiger-access-key");
}

TEST(systemd_units, both_units_carry_the_full_sandbox) {
  const std::map<std::string, std::string> required{
      {"DynamicUser", "yes"},
      {"UMask", "0077"},
      {"NoNewPrivileges", "yes"},
      {"CapabilityBoundingSet", ""},
      {"AmbientCapabilities", ""},
      {"ProtectSystem", "strict"},
      {"ProtectHome", "yes"},
      {"PrivateTmp", "yes"},
      {"PrivateDevices", "yes"},
      {"ProtectKernelTunables", "yes"},
      {"ProtectKernelModules", "yes"},
      {"ProtectKernelLogs", "yes"},
      {"ProtectControlGroups", "yes"},
      {"ProtectClock", "yes"},
      {"ProtectHostname", "yes"},
      {"RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
      {"RestrictNamespaces", "yes"},
      {"RestrictRealtime", "yes"},
      {"RestrictSUIDSGID", "yes"},
      {"LockPersonality", "yes"},
      {"MemoryDenyWriteExecute", "yes"},
      {"SystemCallFilter", "@system-service"},
      {"SystemCallArchitectures", "native"},
  };
  for (const char* name : {"vtsyncd.service", "vtsyncd-backfill.service"}) {
    auto unit = read_unit(name);
    for (const auto& [key, value] : required)
      EXPECT_EQ(one(unit, "Service", key), value) << name << " " << key;
  }
}

}  // namespace

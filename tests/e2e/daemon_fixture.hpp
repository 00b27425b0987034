#pragma once
// A running `vtsyncd run` against a fake Vtiger and the test PostgreSQL, for end-to-end tests.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "e2e_support.hpp"
#include "test_env.hpp"

namespace vtsync::test {

// Polls `done` every 50 ms until it answers true; false on timeout.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

struct daemon_options {
  std::vector<std::string> fake_args;
  std::vector<std::string> modules = {"Contacts"};
  std::string poll_interval = "1s";
  std::string extra_sync;  // more [sync] lines
  bool start_daemon = true;
};

class daemon_fixture {
 public:
  explicit daemon_fixture(daemon_options options);
  ~daemon_fixture();

  fake_vtiger& fake() { return *fake_; }
  const std::string& schema() const { return schema_; }
  const std::string& config_path() const { return config_; }
  temp_dir& dir() { return dir_; }
  child_process& daemon() { return *daemon_; }
  unsigned short health_port() const { return health_port_; }

  void start_daemon();
  // Row count of the module's mirror table (rows with a vtiger_id).
  long mirror_rows(const std::string& module);
  std::vector<std::string> differences(const std::string& module);
  // Runs a vtsyncd subcommand with this fixture's config.
  run_result vtsyncd(std::vector<std::string> args,
                     std::chrono::milliseconds timeout = std::chrono::seconds{120});

 private:
  daemon_options options_;
  temp_dir dir_;
  std::unique_ptr<fake_vtiger> fake_;
  std::string schema_;
  std::string config_;
  std::unique_ptr<child_process> daemon_;
  unsigned short health_port_ = 0;
};

}  // namespace vtsync::test

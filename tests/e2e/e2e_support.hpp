#pragma once
// Helpers for end-to-end tests: temp dirs, generated configs, running vtsyncd to completion.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace vtsync::test {

class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

struct config_params {
  std::string vtiger_url;
  std::string access_key = "e2e-ACCESS-KEY-7f3a9c";  // recognisable, so leak checks can search for it
  std::string conninfo;                              // "" = VTSYNC_TEST_POSTGRES
  std::string schema = "vtiger";
  std::vector<std::string> modules = {"Contacts"};
  std::string extra_sync;    // appended to [sync]
  std::string extra_vtiger;  // appended to [vtiger]
  std::string health_listen = "127.0.0.1:0";
  std::string log = "level = \"debug\"\n";
};

// A TOML config for vtsyncd; the access key goes to a key file next to it.
std::string write_config(const temp_dir& dir, const config_params& p);

struct run_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// How much slower than a plain build this run is allowed to be (VTSYNC_TEST_TIME_SCALE, e.g. 3 under
// AddressSanitizer): deadlines that a test asserts on are multiplied by it.
[[nodiscard]] double time_scale();
[[nodiscard]] std::chrono::milliseconds scaled(std::chrono::milliseconds d);

// Runs build/vtsyncd with `args` to completion (killed after `timeout`).
run_result run_vtsyncd(const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = std::chrono::seconds{60},
                       const std::vector<std::string>& extra_env = {});

}  // namespace vtsync::test

#include "daemon_fixture.hpp"

#include <regex>
#include <thread>

#include "mirror_compare.hpp"

namespace vtsync::test {

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return done();
}

daemon_fixture::daemon_fixture(daemon_options options) : options_(std::move(options)) {
  auto args = options_.fake_args;
  args.insert(args.end(), {"--access-key", "e2e-ACCESS-KEY-7f3a9c"});
  fake_ = std::make_unique<fake_vtiger>(args);
  schema_ = unique_schema("e2e");
  config_params p;
  p.vtiger_url = fake_->url();
  p.schema = schema_;
  p.modules = options_.modules;
  p.extra_sync = "poll_interval = \"" + options_.poll_interval + "\"\n" + options_.extra_sync;
  config_ = write_config(dir_, p);
  if (options_.start_daemon) start_daemon();
}

daemon_fixture::~daemon_fixture() {
  if (daemon_) daemon_->stop(15, std::chrono::seconds{10});
  try {
    auto conn = connect_blocking();
    exec_scalar(conn.get(), "DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
  } catch (...) {
  }
}

void daemon_fixture::start_daemon() {
  daemon_ = std::make_unique<child_process>(binary_path("vtsyncd"),
                                            std::vector<std::string>{"run", "--config", config_});
  daemon_->wait_for_log("health endpoint listening on ");
  static const std::regex port_re{R"(health endpoint listening on [0-9.]+:(\d+))"};
  std::smatch m;
  const auto log = daemon_->log();
  if (std::regex_search(log, m, port_re)) health_port_ = static_cast<unsigned short>(std::stoi(m[1].str()));
}

long daemon_fixture::mirror_rows(const std::string& module) {
  auto conn = connect_blocking();
  std::string table = module;
  for (auto& c : table) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  try {
    return std::stol(
        exec_scalar(conn.get(), "SELECT count(*) FROM \"" + schema_ + "\".\"" + table +
                                    "\" WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted'"));
  } catch (const std::exception&) {
    return -1;  // not created yet
  }
}

std::vector<std::string> daemon_fixture::differences(const std::string& module) {
  auto conn = connect_blocking();
  std::string table = module;
  for (auto& c : table) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return mirror_differences(conn.get(), schema_, table, fake_dump(fake_->port(), module));
}

run_result daemon_fixture::vtsyncd(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  args.insert(args.end(), {"--config", config_});
  return run_vtsyncd(args, scaled(timeout));
}

}  // namespace vtsync::test

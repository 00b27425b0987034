#include "e2e_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "child_process.hpp"
#include "test_env.hpp"

namespace vtsync::test {

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/vtsync-e2e-XXXXXX";
  path_ = ::mkdtemp(tmpl);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string temp_dir::write(const std::string& name, const std::string& text) const {
  const auto p = path_ / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string write_config(const temp_dir& dir, const config_params& p) {
  const auto key_file = dir.write("access-key", p.access_key + "\n");
  std::string modules;
  for (const auto& m : p.modules) modules += (modules.empty() ? "\"" : ", \"") + m + "\"";
  const std::string conninfo = p.conninfo.empty() ? postgres_conninfo() : p.conninfo;
  std::string text = "[vtiger]\nurl = \"" + p.vtiger_url + "\"\nusername = \"admin\"\naccess_key_file = \"" +
                     key_file + "\"\n" + p.extra_vtiger + "\n[postgres]\nconninfo = \"" + conninfo +
                     "\"\nschema = \"" + p.schema + "\"\n\n[sync]\nmodules = [" + modules + "]\n" +
                     p.extra_sync + "\n[health]\nlisten = \"" + p.health_listen + "\"\n\n[log]\n" + p.log;
  return dir.write("vtsync.toml", text);
}

double time_scale() {
  const char* v = std::getenv("VTSYNC_TEST_TIME_SCALE");
  const double scale = v != nullptr ? std::atof(v) : 1.0;
  return scale >= 1.0 ? scale : 1.0;
}

std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  return std::chrono::milliseconds{static_cast<long>(static_cast<double>(d.count()) * time_scale())};
}

run_result run_vtsyncd(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                       const std::vector<std::string>& extra_env) {
  child_process proc(binary_path("vtsyncd"), args, extra_env);
  run_result r;
  r.exit_code = proc.wait_exit(timeout);
  if (r.exit_code < 0) proc.stop(9);
  r.output = proc.log();
  return r;
}

}  // namespace vtsync::test

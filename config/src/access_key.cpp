// Secrets and the environment: resolve_access_key (access_key.hpp) and config::environment.
#include "access_key.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "reading.hpp"

extern char** environ;  // NOLINT: POSIX

namespace vtsync::config {

environment environment::from_process() {
  environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv{*e};
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env.vars.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::optional<std::string> environment::get(const std::string& name) const {
  const auto it = vars.find(name);
  if (it == vars.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

namespace detail {

namespace {

std::string read_secret_file(const std::string& path, const origin& at) {
  std::ifstream in(path, std::ios::binary);
  if (!in) at.fail("cannot read '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' '))
    value.pop_back();
  if (value.empty()) at.fail("the file '" + path + "' is empty");
  return value;
}

}  // namespace

void resolve_access_key(vtiger_settings& v, const std::string& credential, const char* env_name,
                        const environment& env, const std::string& path, const std::string& where) {
  const std::string key = where + ".access_key_file";
  const origin at{path, key};
  if (const auto env_key = env_name != nullptr ? env.get(env_name) : std::nullopt) {
    v.access_key = *env_key;
  } else if (!v.access_key.empty()) {
    return;
  } else if (!v.access_key_file.empty()) {
    v.access_key = read_secret_file(v.access_key_file, at);
  } else if (auto dir = env.get("CREDENTIALS_DIRECTORY");
             dir && std::filesystem::exists(*dir + "/" + credential)) {
    v.access_key = read_secret_file(*dir + "/" + credential, at);
  } else {
    const auto beside = std::filesystem::path{path}.parent_path() / credential;
    std::error_code ec;
    if (!std::filesystem::exists(beside, ec)) {
      at.fail("missing: no access key (set access_key_file, or provide $CREDENTIALS_DIRECTORY/" + credential +
              ", or the file " + beside.string() +
              (env_name != nullptr ? std::string{", or "} + env_name : std::string{}) + ")");
    }
    v.access_key = read_secret_file(beside.string(), at);
  }
}

}  // namespace detail

}  // namespace vtsync::config

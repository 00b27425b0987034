#include "commands.hpp"

#include "service_identity.hpp"

#include <iostream>

namespace vtsync::daemon {

std::optional<config::settings> load_or_report(const common_options& opts) {
  try {
    auto s = config::load(opts.config_path);
    if (!opts.log_level.empty()) s.log.level = opts.log_level;
    become_service_user();  // root: the service's identity, once the config and the key are read
    return s;
  } catch (const config::config_error& e) {
    std::cerr << e.what() << '\n';
    return std::nullopt;
  }
}

std::optional<config::settings> load_quietly(const common_options& opts) {
  auto s = load_or_report(opts);
  if (!s) return s;
  if (opts.log_level.empty()) s->log.level = "warn";
  setup_logging(s->log);
  return s;
}

}  // namespace vtsync::daemon

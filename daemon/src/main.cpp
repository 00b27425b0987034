// vtsyncd: keeps a PostgreSQL mirror of Vtiger CRM modules in two-way sync. A thin main over the
// subcommands; see `vtsyncd --help`.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "commands.hpp"
#include "vtsync/config/config.hpp"
#include "vtsync/daemon/version.hpp"

namespace vd = vtsync::daemon;

namespace {

std::string keys_footer() {
  std::string out = "\nConfiguration keys (TOML, see README.md):\n";
  for (const auto& k : vtsync::config::key_table()) {
    out += "  " + k.name;
    out += std::string(k.name.size() < 32 ? 32 - k.name.size() : 1, ' ');
    out += k.required ? "required" : (k.default_text.empty() ? "-" : k.default_text);
    out += '\n';
  }
  out += "\nExit codes: 0 ok, 64 usage, 69 unreachable, 70 internal error, 75 try again, 78 bad configuration.\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vtsyncd keeps Vtiger CRM modules and PostgreSQL mirror tables in two-way sync.\n"
               "Start with `vtsyncd check`, then `vtsyncd run` (or the systemd unit vtsyncd.service)."};
  app.set_version_flag("--version", std::string{vd::version()});
  app.footer(keys_footer());
  app.require_subcommand(1);

  vd::common_options common;
  auto add_common = [&common](CLI::App* sub) {
    sub->add_option("--config,-c", common.config_path, "Configuration file")->capture_default_str();
    sub->add_option("--log-level", common.log_level, "Override log.level (trace, debug, info, warn, error)");
  };

  auto* check = app.add_subcommand("check", "Validate the configuration, log in to Vtiger and reach PostgreSQL; "
                                            "print problems one per line (exit 0 good, 78 config, 69 unreachable)");
  add_common(check);

  std::string operation;
  std::vector<std::string> assignments;
  std::string method;
  auto* call = app.add_subcommand(
      "call", "Call any web-service operation (also custom ones) and print its JSON result, e.g.\n"
              "  vtsyncd call query query=\"SELECT * FROM Contacts LIMIT 5;\"");
  add_common(call);
  call->add_option("operation", operation, "Operation name (listtypes, describe, query, retrieve, ...)")->required();
  call->add_option("params", assignments, "Parameters as name=value");
  call->add_option("--method", method, "HTTP method (GET or POST); default: POST for create, update, revise, "
                                       "delete, logout, login; GET otherwise")
      ->check(CLI::IsMember({"GET", "POST"}));

  auto* sample = app.add_subcommand("config-sample", "Print a sample configuration with every key");
  auto* reference = app.add_subcommand("config-reference", "Print the configuration reference (Markdown)");
  sample->group("Documentation");
  reference->group("Documentation");

  CLI11_PARSE(app, argc, argv);

  try {
    if (*check) return vd::run_check(common);
    if (*call) return vd::run_call(common, operation, assignments, method);
    if (*sample) {
      std::cout << vtsync::config::render_sample_toml();
      return vd::exit_ok;
    }
    if (*reference) {
      std::cout << vtsync::config::render_reference_markdown();
      return vd::exit_ok;
    }
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd: " << e.what() << '\n';
    return vd::exit_software;
  }
  return vd::exit_usage;
}

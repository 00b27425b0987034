// vtsyncd: keeps a PostgreSQL mirror of Vtiger CRM modules in two-way sync. A thin main over the
// subcommands; see `vtsyncd --help`.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "commands.hpp"
#include "runtime.hpp"
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
  out +=
      "\nExit codes: 0 ok, 64 usage, 69 unreachable, 70 internal error, 75 try again, 78 bad configuration.\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vtsyncd keeps Vtiger CRM modules and PostgreSQL mirror tables in two-way sync.\n"
      "Start with `vtsyncd check`, then `vtsyncd run` (or the systemd unit vtsyncd.service)."};
  app.set_version_flag("--version", std::string{vd::version()});
  app.footer(keys_footer());
  app.require_subcommand(1);

  vd::common_options common;
  auto add_common = [&common](CLI::App* sub) {
    sub->add_option("--config,-c", common.config_path, "Configuration file")->capture_default_str();
    sub->add_option("--log-level", common.log_level, "Override log.level (trace, debug, info, warn, error)");
  };

  auto* run = app.add_subcommand("run",
                                 "Run the daemon: pull, push, health endpoint, systemd notify, until "
                                 "SIGTERM/SIGINT (SIGHUP reloads the configuration)");
  add_common(run);

  std::vector<std::string> backfill_modules;
  int parallel = 0;
  std::string since;
  auto* backfill = app.add_subcommand(
      "backfill",
      "Load the modules into the mirror once, then exit (0 when every module completed; killed or "
      "interrupted, it resumes where it stopped next time)");
  add_common(backfill);
  backfill->add_option("--module,-m", backfill_modules,
                       "Only this module (repeatable); default: sync.modules");
  backfill
      ->add_option("--parallel,-p", parallel,
                   "Vtiger sessions fetching id ranges at once (default: sync.backfill_parallel)")
      ->check(CLI::Range(1, 32));
  backfill->add_option("--since", since,
                       "Only records modified at or after this Vtiger time (YYYY-MM-DD HH:MM:SS)");

  bool status_json = false;
  auto* status = app.add_subcommand("status",
                                    "Per module: cursor, last success, lag, pending and failed local "
                                    "changes (from PostgreSQL; works while the daemon runs)");
  add_common(status);
  status->add_flag("--json", status_json, "Print JSON (the same as the daemon's /status)");

  std::string resync_id;
  auto* resync = app.add_subcommand("resync", "Re-pull one record from Vtiger now");
  add_common(resync);
  resync->add_option("--id", resync_id, "Web-service id, e.g. 12x87")->required();

  std::string retry_module;
  auto* retry = app.add_subcommand("retry",
                                   "Queue local changes that Vtiger rejected (_sync_state = 'failed') "
                                   "for another push");
  add_common(retry);
  retry->add_option("--module,-m", retry_module, "Only this module");

  std::string discard_id, discard_row, discard_module;
  auto* discard = app.add_subcommand(
      "discard",
      "Give up local changes that Vtiger rejected: the row returns to Vtiger's values (a rejected insert's "
      "row is removed). Exactly one of --id, --row, --module");
  add_common(discard);
  discard->add_option("--id", discard_id, "The record's web-service id, e.g. 12x87");
  discard->add_option("--row", discard_row, "A mirror row as TABLE:ROW_ID, e.g. contacts:17 (_row_id)");
  discard->add_option("--module,-m", discard_module, "Every rejected change of this module");

  std::string pending_module;
  bool pending_json = false;
  int pending_limit = 1000;
  auto* pending = app.add_subcommand(
      "pending", "List local changes queued or rejected, and the fields each would send to Vtiger");
  add_common(pending);
  pending->add_option("--module,-m", pending_module, "Only this module");
  pending->add_flag("--json", pending_json, "Print JSON");
  pending->add_option("--limit", pending_limit, "At most this many changes, oldest first (default 1000)")
      ->check(CLI::Range(1, 1'000'000));

  auto* check = app.add_subcommand("check",
                                   "Validate the configuration, log in to Vtiger and reach PostgreSQL; "
                                   "print problems one per line (exit 0 good, 78 config, 69 unreachable)");
  add_common(check);

  std::string operation;
  std::vector<std::string> assignments;
  std::string method;
  auto* call =
      app.add_subcommand("call",
                         "Call any web-service operation (also custom ones) and print its JSON result, e.g.\n"
                         "  vtsyncd call query query=\"SELECT * FROM Contacts LIMIT 5;\"");
  add_common(call);
  call->add_option("operation", operation, "Operation name (listtypes, describe, query, retrieve, ...)")
      ->required();
  call->add_option("params", assignments, "Parameters as name=value");
  call->add_option("--method", method,
                   "HTTP method (GET or POST); default: POST for create, update, revise, "
                   "delete, logout, login; GET otherwise")
      ->check(CLI::IsMember({"GET", "POST"}));

  auto* sample = app.add_subcommand("config-sample", "Print a sample configuration with every key");
  auto* reference = app.add_subcommand("config-reference", "Print the configuration reference (Markdown)");
  sample->group("Documentation");
  reference->group("Documentation");

  CLI11_PARSE(app, argc, argv);

  try {
    if (*run) return vd::run_daemon(common);
    if (*backfill) return vd::run_backfill(common, backfill_modules, parallel, since);
    if (*status) return vd::run_status(common, status_json);
    if (*resync) return vd::run_resync(common, resync_id);
    if (*retry) return vd::run_retry(common, retry_module);
    if (*discard) return vd::run_discard(common, discard_id, discard_row, discard_module);
    if (*pending) return vd::run_pending(common, pending_module, pending_json, pending_limit);
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

// vtsyncd check: is this configuration good, and are both sides reachable?
#include <libpq-fe.h>

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "commands.hpp"
#include "poll_cost.hpp"
#include "vtsync/storage/conninfo.hpp"

namespace vtsync::daemon {

namespace {

// One short-lived, blocking connection is fine here: check runs no event loop and exits right after.
std::string postgres_problem(const config::settings& s) {
  const char* keys[] = {"dbname", "connect_timeout", nullptr};
  const char* values[] = {s.postgres.conninfo.c_str(), "10", nullptr};
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn{PQconnectdbParams(keys, values, 1), &PQfinish};
  if (!conn) return "out of memory";
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn.get());
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return msg;
  }
  return {};
}

}  // namespace

int run_check(const common_options& opts) {
  const auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  std::cout << "config: " << settings->source_file << ": ok (" << settings->sync.modules.size()
            << " modules)\n";
  int status = exit_ok;
  if (const auto problem = postgres_problem(*settings); !problem.empty()) {
    std::cout << "postgres: " << storage::scrub_conninfo(settings->postgres.conninfo) << ": " << problem
              << '\n';
    status = exit_unavailable;
  } else {
    std::cout << "postgres: ok\n";
  }
  const auto vtiger = check_vtiger(*settings);
  if (!vtiger.problem.empty() && vtiger.polls.empty()) {
    std::cout << "vtiger: " << settings->vtiger.url << ": " << vtiger.problem << '\n';
    return exit_unavailable;
  }
  std::cout << "vtiger: ok (logged in as " << settings->vtiger.username << ")\n";
  for (const auto& refused : vtiger.refused_filters) std::cout << refused << '\n';
  if (!vtiger.refused_filters.empty()) status = exit_config;
  // What each poll costs the CRM (poll_cost.hpp): the same advice as the daemon's warning when slow.
  bool slow = false;
  for (const auto& poll : vtiger.polls) {
    const auto ms = std::chrono::duration<double, std::milli>(poll.took).count();
    if (!poll.problem.empty()) {
      std::cout << "idle poll " << poll.module << ": " << poll.problem << '\n';  // a warning, not a failure
    } else {
      slow = slow || poll.took > slow_idle_poll;
      std::cout << "idle poll " << poll.module << ": " << fmt::format("{:.1f}", ms) << " ms"
                << (poll.took > slow_idle_poll ? " (slow)" : " (ok)") << '\n';
    }
  }
  if (slow) {
    std::cout << "note: an idle poll over " << slow_idle_poll.count() << " ms costs Vtiger's database that "
              << "much every sync.poll_interval, per module. " << slow_poll_advice() << '\n';
  }
  if (!vtiger.problem.empty()) {
    std::cout << "vtiger: " << settings->vtiger.url << ": " << vtiger.problem << '\n';
    status = exit_unavailable;
  }
  return status;
}

}  // namespace vtsync::daemon

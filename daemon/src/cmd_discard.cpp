// vtsyncd discard: give up local changes Vtiger rejected; each row returns to Vtiger's values
// (sync/engine/discard.hpp). Safe while the daemon runs.
#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "run_on_loop.hpp"
#include "runtime.hpp"
#include "vtsync/sync/engine/discard.hpp"

namespace vtsync::daemon {

namespace asio = boost::asio;

namespace {

bool is_vtiger_id(const std::string& id) {
  const auto x = id.find('x');
  if (x == std::string::npos || x == 0 || x + 1 >= id.size()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c == 'x' || (c >= '0' && c <= '9'); }) &&
         id.find('x', x + 1) == std::string::npos;
}

// The selector of the command line, or "" and `problem` set.
std::optional<storage::discard_selector> selector_of(const config::settings& s, const std::string& id,
                                                     const std::string& row, const std::string& module,
                                                     std::string& problem) {
  const int given = int{!id.empty()} + int{!row.empty()} + int{!module.empty()};
  if (given != 1) {
    problem = "give exactly one of --id 12x87, --row TABLE:ROW_ID, --module M";
    return std::nullopt;
  }
  storage::discard_selector which;
  if (!id.empty()) {
    if (!is_vtiger_id(id)) {
      problem = "'" + id + "' is not a Vtiger id like 12x87";
      return std::nullopt;
    }
    which.vtiger_id = id;
  } else if (!module.empty()) {
    if (std::find(s.sync.modules.begin(), s.sync.modules.end(), module) == s.sync.modules.end()) {
      problem = "module " + module + " is not in sync.modules";
      return std::nullopt;
    }
    which.module = module;
  } else {
    const auto colon = row.rfind(':');
    std::string table = colon == std::string::npos ? std::string{} : row.substr(0, colon);
    const std::string number = colon == std::string::npos ? std::string{} : row.substr(colon + 1);
    // "vtiger.contacts:17" names the schema too: it must be postgres.schema.
    if (const auto dot = table.find('.'); dot != std::string::npos) {
      if (table.substr(0, dot) != s.postgres.schema)
        table.clear();
      else
        table = table.substr(dot + 1);
    }
    const bool numeric =
        !number.empty() && number.size() < 19 &&
        std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool known = std::any_of(s.sync.modules.begin(), s.sync.modules.end(),
                                   [&](const std::string& m) { return storage::table_name_for(m) == table; });
    if (!numeric || !known) {
      problem = "'" + row + "' is not TABLE:ROW_ID of a mirror table (e.g. contacts:17, the row's _row_id)";
      return std::nullopt;
    }
    which.table = table;
    which.row_id = std::stoll(number);
  }
  return which;
}

}  // namespace

int run_discard(const common_options& opts, const std::string& id, const std::string& row,
                const std::string& module) {
  auto settings = load_or_report(opts);
  if (!settings) return exit_config;
  setup_logging(settings->log);  // each row given up is logged (info), as the daemon logs a conflict
  std::string problem;
  const auto which = selector_of(*settings, id, row, module, problem);
  if (!which) {
    std::cerr << "vtsyncd discard: " << problem << '\n';
    return exit_usage;
  }
  asio::io_context io{1};
  try {
    const auto rows = run_on_loop<std::vector<sync::discarded_row>>(
        io, [&]() -> asio::awaitable<std::vector<sync::discarded_row>> {
          auto ex = co_await asio::this_coro::executor;
          vtiger::client client{make_vtiger_context(ex, *settings, nullptr)};
          auto db = co_await open_db(ex, *settings, true);
          const auto tables = co_await mirror_tables_of(client, db, *settings);
          const bool mark = settings->sync.on_remote_delete == config::remote_delete_policy::mark;
          auto done = co_await sync::discard_changes(client, *db.outbox, tables, *which, mark);
          co_await db.outbox->notify("discard");  // a running daemon refreshes what it shows
          co_await client.logout();
          db.conn->close();
          co_return done;
        });
    if (rows.empty()) {
      std::cout << "nothing to discard: no rejected change matches\n";
      return exit_ok;
    }
    std::size_t given_up = 0, busy = 0;
    for (const auto& d : rows) {
      std::string ops;
      for (const auto& op : d.row.ops) ops += (ops.empty() ? "" : ",") + op;
      std::cout << d.row.module << ' ' << d.row.vtiger_id.value_or("(not created)") << " row " << d.row.table
                << ':' << d.row.row_id << " (" << ops << "): ";
      if (!d.note.empty()) {
        std::cout << "left alone, " << d.note << '\n';
        ++busy;
        continue;
      }
      ++given_up;
      switch (d.outcome) {
        case storage::discard_outcome::restored:
          std::cout << "discarded, the row has Vtiger's values again\n";
          break;
        case storage::discard_outcome::removed:
          std::cout << "discarded, the row was never created in Vtiger and is removed\n";
          break;
        default:
          std::cout << "discarded, Vtiger no longer has the record: the row is "
                    << (settings->sync.on_remote_delete == config::remote_delete_policy::mark
                            ? "marked deleted"
                            : "removed")
                    << '\n';
          break;
      }
    }
    std::cout << given_up << " row(s) discarded";
    if (busy > 0) std::cout << ", " << busy << " left alone (run discard again)";
    std::cout << '\n';
    return busy > 0 ? exit_tempfail : exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "vtsyncd discard: " << e.what() << '\n';
    return exit_unavailable;
  }
}

}  // namespace vtsync::daemon

// Bulk push: N local INSERTs, then one UPDATE of all N rows, each pushed to the fake by the push engine.
//
//   build/bench/bench_push_bulk [--rows N] [--sessions K] [--latency-ms MS] [--conninfo CONNINFO]
//   (conninfo defaults to $VTSYNC_TEST_POSTGRES; the fake, started here with --latency-ms, is
//   build/fake-vtiger)
//
// For each phase it prints one line:
//   <phase> rows=N seconds=S rows_per_s=R writes=W other_calls_per_change=C cpu_ms_per_change=X
// seconds: from the start of pusher::drain() to its end, with the whole change already committed (time to
// drain the queue); other_calls_per_change: every web-service request of the phase that is not the write
// itself (create/revise/delete), logins included, per change; cpu_ms_per_change: user + system CPU of this
// process (the engine, its libpq and HTTP client; not PostgreSQL, not the fake) during the drain, per change.
// The pusher writes over K sessions (sync.max_in_flight_requests in the daemon).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "child_process.hpp"
#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace asio = boost::asio;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
using nlohmann::json;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::map<std::string, std::uint64_t> fake_requests(unsigned short port) {
  const auto res = vtsync::test::http_request(port, "GET", "/_fake/stats");
  std::map<std::string, std::uint64_t> out;
  const auto stats = json::parse(res.body);
  for (const auto& [op, n] : stats["requests"].items()) out[op] = n.get<std::uint64_t>();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rows = 10'000;
  int sessions = 4;
  int latency_ms = 50;
  std::string conninfo = std::getenv("VTSYNC_TEST_POSTGRES") ? std::getenv("VTSYNC_TEST_POSTGRES") : "";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") rows = std::stoi(argv[i + 1]);
    if (a == "--sessions") sessions = std::stoi(argv[i + 1]);
    if (a == "--latency-ms") latency_ms = std::stoi(argv[i + 1]);
    if (a == "--conninfo") conninfo = argv[i + 1];
  }
  if (conninfo.empty()) {
    std::cerr << "set VTSYNC_TEST_POSTGRES or pass --conninfo\n";
    return 2;
  }

  vtsync::test::fake_vtiger fake{{"--latency-ms", std::to_string(latency_ms)}};
  asio::io_context io;
  const auto suffix = std::to_string(::getpid());
  st::state_options options;
  options.state_schema = "bench_bulk_state_" + suffix;
  options.mirror_schema = "bench_bulk_mirror_" + suffix;
  st::connection_options co;
  co.conninfo = conninfo;
  co.call_timeout = std::chrono::seconds{120};
  st::connection conn{io.get_executor(), co}, listener{io.get_executor(), co}, editor{io.get_executor(), co};
  st::outbox box{conn, options};
  vtsync::vtiger::client_options vo;
  vo.url = fake.url();
  vo.username = "admin";
  vo.access_key = "fakeAdminKey0001";
  vtsync::vtiger::client client{io.get_executor(), vo};
  std::vector<vtsync::vtiger::client> more;
  for (int i = 1; i < sessions; ++i) more.emplace_back(client.context());
  int status = 0;

  auto main_task = [&]() -> asio::awaitable<void> {
    co_await st::migrate(conn, options.state_schema);
    const std::string create_schema = "CREATE SCHEMA " + st::quote_ident(options.mirror_schema);
    co_await editor.execute(create_schema);
    const std::string module = "Contacts";
    auto describe = co_await client.describe(module);
    const auto table = vtsync::record::table_from_describe(options.mirror_schema, describe.value());
    co_await st::ensure_mirror_table(conn, table, options.state_schema);
    const std::string target = table.qualified_name();
    std::map<std::string, st::mirror_table> tables{{table.module, table}};
    sy::pusher engine{client, listener, box, tables, sy::push_settings{}};
    engine.add_sessions(more);

    const auto phase = [&](const std::string& name, const std::string& change) -> asio::awaitable<void> {
      co_await editor.execute(change);
      const auto before = fake_requests(fake.port());
      const auto cpu0 = cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      const auto stats = co_await engine.drain();
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
      const auto cpu = cpu_seconds() - cpu0;
      const auto after = fake_requests(fake.port());
      std::uint64_t writes = 0, other = 0;
      for (const auto& [op, n] : after) {
        const auto d = n - (before.contains(op) ? before.at(op) : 0);
        (op == "create" || op == "revise" || op == "delete" ? writes : other) += d;
      }
      const auto counts = co_await box.count();
      if (stats.handled != static_cast<std::size_t>(rows) ||
          counts.pending + counts.in_flight + counts.failed != 0)
        throw std::runtime_error(name + ": " + std::to_string(stats.handled) + " of " + std::to_string(rows) +
                                 " changes finished, " + std::to_string(counts.failed) + " failed");
      std::printf(
          "%s rows=%d seconds=%.2f rows_per_s=%.1f writes=%llu other_calls_per_change=%.4f "
          "cpu_ms_per_change=%.3f\n",
          name.c_str(), rows, took.count(), rows / took.count(), static_cast<unsigned long long>(writes),
          static_cast<double>(other) / rows, cpu * 1000.0 / rows);
      std::fflush(stdout);
    };
    const std::string insert =
        "INSERT INTO " + target +
        " (firstname, lastname, mailingcountry) SELECT 'Bench', 'Row' || g, 'Spain' FROM "
        "generate_series(1, " +
        std::to_string(rows) + ") g";
    const std::string insert_phase = "insert", update_phase = "update";
    co_await phase(insert_phase, insert);
    const std::string update = "UPDATE " + target + " SET mailingcountry = 'Germany'";
    co_await phase(update_phase, update);
    const std::string drop = "DROP SCHEMA " + st::quote_ident(options.mirror_schema) +
                             " CASCADE; DROP SCHEMA " + st::quote_ident(options.state_schema) + " CASCADE";
    co_await editor.execute(drop);
  };
  asio::co_spawn(io, main_task(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "bench failed: " << ex.what() << "\n";
      status = 1;
    }
  });
  io.run();
  return status;
}

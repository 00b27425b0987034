// Push latency: from a local UPDATE on a mirror row to Vtiger (the fake) having applied the revise.
//
//   build/bench_push_latency [--edits N] [--rate R] [--conninfo CONNINFO] [--fake PATH]
//   (conninfo defaults to $VTSYNC_TEST_POSTGRES; the fake defaults to build/fake-vtiger next to this binary)
//
// What is measured: t0 is taken just before the UPDATE is sent (autocommit, so it includes the commit);
// t1 is when the pusher reports the revise pushed (push_observer::on_pushed), which happens after Vtiger
// answered the revise and the write-back (mark_done) committed. t1 - t0 is therefore an upper bound of
// "commit -> the fake received the revise": it also holds the fake's answer and our write-back. The pusher
// runs its real loop (pusher::run: LISTEN/NOTIFY, fallback poll 5 s) on the same io_context as the edits;
// edits go round-robin over 20 rows at R edits/s, each a single-column UPDATE.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "child_process.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/storage/columns.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace asio = boost::asio;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int edits = 300;
  double rate = 10;
  std::string conninfo = std::getenv("VTSYNC_TEST_POSTGRES") ? std::getenv("VTSYNC_TEST_POSTGRES") : "";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--edits") edits = std::stoi(argv[i + 1]);
    if (a == "--rate") rate = std::stod(argv[i + 1]);
    if (a == "--conninfo") conninfo = argv[i + 1];
  }
  if (conninfo.empty()) {
    std::cerr << "set VTSYNC_TEST_POSTGRES or pass --conninfo\n";
    return 2;
  }

  vtsync::test::fake_vtiger fake;
  asio::io_context io;
  const auto suffix = std::to_string(::getpid());
  st::state_options options;
  options.state_schema = "bench_push_state_" + suffix;
  options.mirror_schema = "bench_push_mirror_" + suffix;
  st::connection_options co;
  co.conninfo = conninfo;
  st::connection conn{io.get_executor(), co}, listener{io.get_executor(), co}, editor{io.get_executor(), co};
  st::outbox box{conn, options};
  vtsync::vtiger::client_options vo;
  vo.url = fake.url();
  vo.username = "admin";
  vo.access_key = "fakeAdminKey0001";
  vtsync::vtiger::client client{io.get_executor(), vo};

  std::vector<double> latencies_ms;
  std::vector<clock_type::time_point> sent;
  std::size_t received = 0;
  int status = 0;

  auto main_task = [&]() -> asio::awaitable<void> {
    co_await st::migrate(conn, options.state_schema);
    // Statements and arguments are bound to names before co_await (GCC 12 destroys temporaries of a
    // co_await expression twice).
    const std::string create_schema = "CREATE SCHEMA " + st::quote_ident(options.mirror_schema);
    co_await editor.execute(create_schema);
    const std::string module = "Contacts";
    auto describe = co_await client.describe(module);
    const auto table = vtsync::record::table_from_describe(options.mirror_schema, describe.value());
    co_await st::ensure_mirror_table(conn, table, options.state_schema);
    const std::string target = table.qualified_name();

    sy::push_observer observer;
    observer.on_pushed = [&](std::string_view, std::string_view op) {
      if (op != "revise") return;
      if (received < sent.size())
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(clock_type::now() - sent[received]).count());
      ++received;
    };
    sy::push_settings settings;
    std::map<std::string, st::mirror_table> tables{{table.module, table}};
    sy::pusher engine{client, listener, box, tables, settings, observer};
    asio::co_spawn(io, engine.run(), asio::detached);

    const std::string insert =
        "INSERT INTO " + target +
        " (firstname, lastname) SELECT 'Bench', 'Row' || g FROM generate_series(1, 20) g";
    co_await editor.execute(insert);
    const std::string count_synced = "SELECT count(*) FROM " + target + " WHERE _sync_state = 'synced'";
    asio::steady_timer timer{io};
    for (int i = 0; i < 200; ++i) {  // wait for the creates
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::use_awaitable);
      auto r = co_await editor.execute(count_synced);
      if (r.value(0, 0) == "20") break;
    }
    const auto period =
        std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(1.0 / rate));
    auto next = clock_type::now();
    for (int i = 0; i < edits; ++i) {
      next += period;
      const std::string sql = "UPDATE " + target + " SET title = 'edit " + std::to_string(i) +
                              "' WHERE _row_id = (SELECT min(_row_id) FROM " + target + ") + " +
                              std::to_string(i % 20);
      sent.push_back(clock_type::now());
      co_await editor.execute(sql);
      timer.expires_at(next);
      co_await timer.async_wait(asio::use_awaitable);
    }
    for (int i = 0; i < 100 && received < sent.size(); ++i) {
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::use_awaitable);
    }
    engine.stop();
    timer.expires_after(std::chrono::milliseconds(400));  // run() notices stop() within 250 ms
    co_await timer.async_wait(asio::use_awaitable);
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
  if (status != 0) return status;

  if (latencies_ms.size() != sent.size()) {
    std::cerr << "only " << latencies_ms.size() << " of " << sent.size() << " edits were pushed\n";
    return 1;
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size() - 1) + 0.5);
    return latencies_ms[std::min(idx, latencies_ms.size() - 1)];
  };
  std::printf("push latency, local UPDATE -> revise applied and written back (%zu edits at %.1f/s):\n",
              latencies_ms.size(), rate);
  std::printf("  p50 %.1f ms   p99 %.1f ms   max %.1f ms\n", pct(0.50), pct(0.99), latencies_ms.back());
  return 0;
}

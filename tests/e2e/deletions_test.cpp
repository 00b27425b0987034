// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. Remote deletions on stock Vtiger 8 (`sync` answers
// HTTP 500) found by range counts, with the rest of the traffic going on; a record the mirror lacks
// repaired; and the deletion work never holding a pull back, even an id scan on a slow server.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

// Whether the mirror still shows `id` (a row not marked deleted).
bool in_mirror(vt::daemon_fixture& f, const std::string& id) {
  auto conn = vt::connect_blocking();
  return vt::exec_scalar(conn.get(), "SELECT count(*) FROM \"" + f.schema() +
                                         "\".contacts WHERE vtiger_id = '" + id +
                                         "' AND _sync_state <> 'deleted'") != "0";
}

long long ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

// Two poll intervals of 1 s (the mirror's counts are index-only scans: the whole search fits in a cycle).
const auto two_intervals = 2000ms;

}  // namespace

TEST(Deletions, ReachTheMirrorWithinTwoPollIntervalsUnderTraffic) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=3000", "--expire-sessions-every", "40"};
  o.poll_interval = "1s";  // everything else as configured by default
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 3000; }, 60s)) << f.daemon().log();
  auto dump = vt::fake_dump(f.fake().port(), "Contacts");
  std::vector<std::string> ids;
  for (const auto& r : dump) ids.push_back(r["id"]);
  std::mt19937 rng{20261206};
  std::shuffle(ids.begin(), ids.end(), rng);

  // Edits in Vtiger and creates in the mirror (pushed to Vtiger) all along.
  std::atomic<bool> stop{false};
  std::atomic<int> edits{0}, creates{0};
  std::thread traffic([&] {
    auto conn = vt::connect_blocking();
    for (int i = 0; !stop; ++i) {
      vt::fake_post(f.fake().port(), "/_fake/edit",
                    {{"id", ids[1000 + i % 1000]}, {"fields", {{"title", "Edit " + std::to_string(i)}}}});
      ++edits;
      if (i % 4 == 0) {
        vt::exec_scalar(conn.get(), "INSERT INTO \"" + f.schema() +
                                        "\".contacts (firstname, lastname) VALUES ('New', 'N" +
                                        std::to_string(i) + "')");
        ++creates;
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  std::vector<long long> latencies;
  std::uniform_int_distribution<int> phase(0, 1000);
  for (int d = 0; d < 12; ++d) {
    const std::string id = ids[d];
    vt::fake_post(f.fake().port(), "/_fake/delete", {{"id", id}});
    const auto t0 = std::chrono::steady_clock::now();
    const bool gone = vt::wait_until([&] { return !in_mirror(f, id); }, vt::scaled(two_intervals));
    latencies.push_back(ms_since(t0));
    EXPECT_TRUE(gone) << "record " << id << " still in the mirror after " << latencies.back() << " ms";
    std::this_thread::sleep_for(std::chrono::milliseconds{phase(rng)});  // deletions at every phase
  }
  stop = true;
  traffic.join();
  std::sort(latencies.begin(), latencies.end());
  std::printf("deletion latency: median %lld ms, max %lld ms (%d edits, %d creates meanwhile)\n",
              latencies[latencies.size() / 2], latencies.back(), edits.load(), creates.load());
  ASSERT_TRUE(vt::wait_until([&] { return f.differences("Contacts").empty(); }, vt::scaled(10s)))
      << join(f.differences("Contacts"));
  EXPECT_EQ(f.mirror_rows("Contacts"), 3000 - 12 + creates.load());
  const auto log = f.daemon().log();
  EXPECT_NE(log.find("deletions come from range counts"), std::string::npos) << log;
  EXPECT_EQ(log.find("id scan complete"), std::string::npos) << "no full id scan was needed";
}

TEST(Deletions, IdleCyclesCostOneCountEach) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=2000"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 2000; }, 30s));
  std::this_thread::sleep_for(6s);  // the re-read window after the initial load
  const auto requests = [&] { return vt::fake_stats(f.fake().port())["requests"]; };
  const auto before = requests();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(5s);
  const auto after = requests();
  const double cycles = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto used = after.value("query", 0ULL) - before.value("query", 0ULL);
  // One modifiedtime page and one count(*) per cycle; nothing else.
  EXPECT_GE(used, 6U);
  EXPECT_LE(static_cast<double>(used), 2 * (cycles + 1)) << after.dump();
  EXPECT_EQ(after.value("retrieve", 0ULL), before.value("retrieve", 0ULL));
}

TEST(Deletions, ARecordMissingFromTheMirrorIsStoredAgain) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=500"};
  vt::daemon_fixture f{o};
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 500; }, 30s));
  const auto dump = vt::fake_dump(f.fake().port(), "Contacts");
  const std::string lost = dump[123]["id"];
  // Gone from the mirror without the user's DELETE being captured (as the daemon's own writes are): the
  // pull will never bring it back, its modifiedtime is behind the cursor.
  auto conn = vt::connect_blocking();
  vt::exec_scalar(conn.get(), "SELECT set_config('vtsync.origin', 'daemon', false)");
  vt::exec_scalar(conn.get(), "DELETE FROM \"" + f.schema() + "\".contacts WHERE vtiger_id = '" + lost + "'");
  ASSERT_FALSE(in_mirror(f, lost));
  // Seen twice (a surplus may be a create after the pull), then found and stored.
  EXPECT_TRUE(vt::wait_until([&] { return in_mirror(f, lost); }, vt::scaled(4s))) << f.daemon().log();
  EXPECT_TRUE(f.differences("Contacts").empty()) << join(f.differences("Contacts"));
  EXPECT_EQ(vt::exec_scalar(conn.get(),
                            "SELECT count(*) FROM vtsync.outbox WHERE schema_name = '" + f.schema() + "'"),
            "0");
  EXPECT_NE(f.daemon().log().find("record " + lost + " shown by Vtiger was not in the mirror"),
            std::string::npos);
}

TEST(Deletions, NothingBlocksThePullEvenASlowIdScanAtStartUp) {
  vt::daemon_options o;
  // 8,000 records at 20 ms a request: a full id scan takes 80 pages, several seconds.
  o.fake_args = {"--seed", "Contacts=8000", "--latency-ms", "20"};
  o.extra_sync = "deletion_detection = \"scan\"\n";
  o.start_daemon = false;
  vt::daemon_fixture f{o};
  const auto r = f.vtsyncd({"backfill"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto dump = vt::fake_dump(f.fake().port(), "Contacts");
  // Deleted while the daemon was down: only the id scan finds it.
  const std::string deleted = dump[6000]["id"];
  vt::fake_post(f.fake().port(), "/_fake/delete", {{"id", deleted}});

  f.start_daemon();
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.daemon().log().find("deletions come from id scans") != std::string::npos; }, 30s))
      << f.daemon().log();
  // Edits right after start-up, while the first cycle's id scan is under way.
  std::vector<std::string> edited;
  for (int i = 0; i < 5; ++i) {
    edited.push_back(dump[100 + i]["id"]);
    vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", edited.back()}, {"fields", {{"title", "Early"}}}});
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto conn = vt::connect_blocking();
  const auto early = [&] {
    return vt::exec_scalar(conn.get(), "SELECT count(*) FROM \"" + f.schema() +
                                           "\".contacts WHERE title = 'Early'") == "5";
  };
  EXPECT_TRUE(vt::wait_until(early, vt::scaled(two_intervals))) << "edits took " << ms_since(t0) << " ms\n"
                                                                << f.daemon().log();
  std::printf("edits after start-up arrived in %lld ms\n", ms_since(t0));
  // The scan goes on in slices beside the pulls, and finds the deletion.
  EXPECT_TRUE(vt::wait_until([&] { return !in_mirror(f, deleted); }, vt::scaled(120s))) << f.daemon().log();
  EXPECT_TRUE(vt::wait_until([&] { return f.daemon().log().find("id scan complete") != std::string::npos; },
                             vt::scaled(60s)));
}

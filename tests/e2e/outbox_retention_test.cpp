// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. sync.outbox_retention: 100,000 local changes pushed
// through a running daemon over the fake, with a retention of 1 s; the daemon prunes done entries as it
// goes, so the outbox's rows and its size on disk stay flat instead of growing with every change.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "daemon_fixture.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;

namespace {

constexpr int records = 1000;
// 20 rounds (100,000 changes); under a sanitizer build (VTSYNC_TEST_TIME_SCALE > 1), whose job here is
// memory safety, 4 rounds (20,000): the same pruning path, without an hour of instrumented revises.
int round_count() { return vt::time_scale() > 1 ? 4 : 20; }
constexpr int updates_per_round = 5;  // statements, each changing every row: 5,000 changes a round

}  // namespace

TEST(OutboxRetention, OneHundredThousandChangesLeaveTheOutboxFlat) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Contacts=" + std::to_string(records)};
  o.poll_interval = "30s";  // the pull is not what this is about
  o.extra_sync = "outbox_retention = \"1s\"\n";
  vt::daemon_fixture f{o};
  auto conn = vt::connect_blocking();
  const auto sql = [&](const std::string& text) { return vt::exec_scalar(conn.get(), text); };
  const std::string contacts = "\"" + f.schema() + "\".contacts";
  const std::string ours = "vtsync.outbox WHERE schema_name = '" + f.schema() + "'";
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == records; }, vt::scaled(120s)))
      << f.daemon().log();

  long long changes = 0;
  std::vector<long long> sizes;
  const auto started = std::chrono::steady_clock::now();
  const int rounds = round_count();
  for (int round = 1; round <= rounds; ++round) {
    // One transaction per round: the push folds a row's five updates into one revise.
    std::string batch = "BEGIN;";
    for (int k = 0; k < updates_per_round; ++k) {
      batch +=
          " UPDATE " + contacts + " SET title = 'r" + std::to_string(round) + "u" + std::to_string(k) + "';";
    }
    sql(batch + " COMMIT");
    changes += static_cast<long long>(records) * updates_per_round;
    // Pushed, then pruned: no entry of ours is left once the retention has passed.
    ASSERT_TRUE(
        vt::wait_until([&] { return sql("SELECT count(*) FROM " + ours + " AND state <> 'done'") == "0"; },
                       vt::scaled(300s)))
        << "round " << round << ": " << sql("SELECT count(*) FROM " + ours + " AND state <> 'done'")
        << " still open";
    ASSERT_TRUE(vt::wait_until([&] { return sql("SELECT count(*) FROM " + ours) == "0"; }, vt::scaled(60s)))
        << "round " << round << ": " << sql("SELECT count(*) FROM " + ours) << " entries not pruned";
    // What autovacuum does when it visits (its visits, a minute apart by default, a test cannot time): the
    // space of the pruned entries becomes free for the next round's.
    sql("VACUUM vtsync.outbox");
    sizes.push_back(std::stoll(sql("SELECT pg_total_relation_size('vtsync.outbox')")));
    std::printf("round %d: %lld changes, outbox rows 0, pg_total_relation_size %lld bytes, %lld s\n", round,
                changes, sizes.back(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count()));
    std::fflush(stdout);
  }
  EXPECT_EQ(changes, static_cast<long long>(rounds) * records * updates_per_round);
  // Every change reached Vtiger: the last round's title is on every record.
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts + " WHERE title = 'r" + std::to_string(rounds) + "u" +
                std::to_string(updates_per_round - 1) + "' AND _sync_state = 'synced'"),
            std::to_string(records));
  // Flat: the second half of the run (50,000 more changes) did not grow the table by more than a quarter of
  // what the first half reached; without pruning it would hold every entry, 100,000 rows at the end.
  const auto first_half = *std::max_element(sizes.begin(), sizes.begin() + rounds / 2);
  const auto second_half = *std::max_element(sizes.begin() + rounds / 2, sizes.end());
  EXPECT_LE(second_half, first_half + first_half / 4)
      << "first half max " << first_half << ", second half max " << second_half;
}

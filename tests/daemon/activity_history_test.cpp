// Needs nothing. The operator page's per-minute ring: counts land in their minute, the document lists the
// last 60 minutes oldest first, and a minute's slot is cleared when its turn comes round again.
#include <gtest/gtest.h>

#include "vtsync/daemon/activity_history.hpp"

namespace {

using vtsync::daemon::activity_history;
using clock_type = activity_history::clock;

clock_type::time_point at_minute(long minute, int second = 0) {
  return clock_type::time_point{std::chrono::minutes{minute} + std::chrono::seconds{second}};
}

}  // namespace

TEST(activity_history, CountsPerMinuteOldestFirst) {
  activity_history h;
  const long now = 29'000'000;  // some minute in 2025
  h.add_pulled("Contacts", 100, at_minute(now - 2, 10));
  h.add_pulled("Contacts", 5, at_minute(now - 2, 50));
  h.add_pushed("Contacts", 1, at_minute(now, 3));
  h.add_pushed("Contacts", 2, at_minute(now, 4));
  const auto j = h.to_json(at_minute(now, 30));
  EXPECT_EQ(j["minutes"], 60);
  const auto& c = j["modules"]["Contacts"];
  ASSERT_EQ(c["pulled"].size(), 60u);
  ASSERT_EQ(c["pushed"].size(), 60u);
  EXPECT_EQ(c["pulled"][57], 105);
  EXPECT_EQ(c["pushed"][59], 3);
  std::uint64_t total = 0;
  for (const auto& n : c["pulled"]) total += n.get<std::uint64_t>();
  EXPECT_EQ(total, 105u);
}

TEST(activity_history, AnHourLaterTheOldMinutesAreGone) {
  activity_history h;
  const long start = 29'000'000;
  h.add_pulled("Accounts", 7, at_minute(start));
  // 60 minutes later the same slot serves the new minute: the old count neither shows nor adds up.
  h.add_pulled("Accounts", 2, at_minute(start + 60));
  auto j = h.to_json(at_minute(start + 60));
  EXPECT_EQ(j["modules"]["Accounts"]["pulled"][59], 2);
  EXPECT_EQ(j["modules"]["Accounts"]["pulled"][0], 0);
  // A slot not reused yet but older than the hour reads as zero.
  h.add_pulled("Leads", 9, at_minute(start + 1));
  j = h.to_json(at_minute(start + 60));
  EXPECT_EQ(j["modules"]["Leads"]["pulled"][0], 9);  // start + 1 is the hour's oldest minute
  j = h.to_json(at_minute(start + 61));
  for (const auto& n : j["modules"]["Leads"]["pulled"]) EXPECT_EQ(n, 0);
}

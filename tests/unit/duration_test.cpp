#include <gtest/gtest.h>

#include "vtsync/config/duration.hpp"

using namespace std::chrono_literals;
using vtsync::config::format_duration;
using vtsync::config::parse_duration;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("7d"), 168h);
  EXPECT_EQ(parse_duration("2h"), 2h);
}

TEST(Duration, ParsesCombinations) { EXPECT_EQ(parse_duration("1m30s"), 90s); }

TEST(Duration, RejectsMalformedText) {
  for (const char* bad : {"", "30", "s", "30 s", "-5s", "5w", "1.5s", "5S", "99999999999999999999h"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(Duration, FormatsRoundTrip) {
  for (auto value : {0ms, 1ms, 1500ms, 90'000ms, 3'600'000ms, 3'661'001ms}) {
    EXPECT_EQ(parse_duration(format_duration(value)), value) << format_duration(value);
  }
  EXPECT_EQ(format_duration(90s), "1m30s");
}

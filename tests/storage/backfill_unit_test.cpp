// Needs: nothing (the pure split of an id space into backfill ranges).
#include <gtest/gtest.h>

#include "vtsync/storage/backfill_ranges.hpp"

using namespace vtsync::storage;

TEST(BackfillRanges, SplitCoversTheRangeExactly) {
  const auto ranges = split_id_range(1, 10, 3);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].lower_id, 1);
  EXPECT_EQ(ranges[0].upper_id, 4);
  EXPECT_EQ(ranges[1].lower_id, 5);
  EXPECT_EQ(ranges[2].upper_id, 10);
  EXPECT_EQ(split_id_range(5, 6, 10).size(), 2u);
  EXPECT_TRUE(split_id_range(6, 5, 2).empty());
  EXPECT_EQ(split_id_range(7, 7, 1).front().upper_id, 7);
}

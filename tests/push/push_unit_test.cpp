// Needs: nothing. The push engine's pure helpers.
#include <gtest/gtest.h>

#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/engine/push.hpp"

namespace sy = vtsync::sync;
namespace st = vtsync::storage;
using nlohmann::json;

TEST(push_values, ComparableValueMatchesVtigersStrings) {
  EXPECT_EQ(sy::comparable_value(json(nullptr)), "");
  EXPECT_EQ(sy::comparable_value(json("a")), "a");
  EXPECT_EQ(sy::comparable_value(json(true)), "1");
  EXPECT_EQ(sy::comparable_value(json::array({"A", "B"})), "A |##| B");
  EXPECT_EQ(sy::comparable_value(json(12)), "12");
}

TEST(push_values, SameValueByColumnType) {
  EXPECT_TRUE(sy::same_value(st::column_type::text, json(""), json(nullptr)));
  EXPECT_FALSE(sy::same_value(st::column_type::text, json("a"), json("A")));
  EXPECT_TRUE(sy::same_value(st::column_type::numeric, json("12.5"), json("12.50000000")));
  EXPECT_FALSE(sy::same_value(st::column_type::numeric, json("12.5"), json("12.51")));
  EXPECT_FALSE(sy::same_value(st::column_type::text, json("12.5"), json("12.50")));
  EXPECT_TRUE(sy::same_value(st::column_type::bigint, json("7"), json("07")));
  EXPECT_FALSE(sy::same_value(st::column_type::numeric, json(""), json("0")));
  EXPECT_TRUE(sy::same_value(st::column_type::text_array, json::array({"B", "A"}), json("A |##| B")));
  EXPECT_FALSE(sy::same_value(st::column_type::text_array, json::array({"A"}), json("A |##| B")));
}

TEST(push_values, ConflictPolicyNames) {
  for (auto p :
       {sy::conflict_policy::remote_wins, sy::conflict_policy::local_wins, sy::conflict_policy::newest_wins})
    EXPECT_EQ(sy::parse_conflict_policy(sy::to_string(p)), p);
  EXPECT_FALSE(sy::parse_conflict_policy("oldest_wins").has_value());
  EXPECT_FALSE(sy::parse_conflict_policy("").has_value());
}

// The push looks for a create whose reply was lost among records created since the change's commit time
// less lookup_margin: arithmetic on Vtiger's zoneless strings.
TEST(push_values, LookupMarginIsSubtractedFromTheServerTime) {
  using std::chrono::seconds;
  EXPECT_EQ(vtsync::sync::shift_datetime("2026-01-02 10:00:05", seconds{-300}), "2026-01-02 09:55:05");
  EXPECT_EQ(vtsync::sync::shift_datetime("2026-01-01 00:02:00", seconds{-300}), "2025-12-31 23:57:00");
  EXPECT_EQ(vtsync::sync::shift_datetime("2024-03-01 00:00:00", seconds{-1}), "2024-02-29 23:59:59");
  EXPECT_FALSE(vtsync::sync::shift_datetime("", seconds{-300}).has_value());
  EXPECT_FALSE(vtsync::sync::shift_datetime("yesterday at noon", seconds{-300}).has_value());
}

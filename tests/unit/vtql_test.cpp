#include <gtest/gtest.h>

#include "vtsync/sync/vtql.hpp"

using vtsync::vtql::quote_literal;

TEST(VtqlLiteral, DoublesQuotesAndBackslashes) {
  EXPECT_EQ(quote_literal("O'Brien"), "'O''Brien'");
  EXPECT_EQ(quote_literal(R"(a\b)"), R"('a\\b')");
  EXPECT_EQ(quote_literal("Zoë\nline"), "'Zoë\nline'");
}

TEST(VtqlLiteral, EmptyStringCannotBeExpressed) { EXPECT_EQ(quote_literal(""), std::nullopt); }

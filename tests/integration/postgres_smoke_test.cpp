// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES).
#include <gtest/gtest.h>

#include "test_env.hpp"

namespace vt = vtsync::test;

TEST(PostgresSmoke, WritesAndReadsARow) {
  auto conn = vt::connect_blocking();
  const auto schema = vt::unique_schema("smoke");
  vt::exec_scalar(conn.get(), "CREATE SCHEMA " + schema);
  vt::exec_scalar(conn.get(), "CREATE TABLE " + schema + ".t (id int PRIMARY KEY, name text)");
  vt::exec_scalar(conn.get(), "INSERT INTO " + schema + ".t VALUES (1, 'Zoë O''Brien')");
  EXPECT_EQ(vt::exec_scalar(conn.get(), "SELECT name FROM " + schema + ".t WHERE id = 1"), "Zoë O'Brien");
  vt::exec_scalar(conn.get(), "DROP SCHEMA " + schema + " CASCADE");
}

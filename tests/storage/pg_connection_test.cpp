// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES).
// The asynchronous libpq connection: parameters, deadlines, lost connections, retries, LISTEN/NOTIFY.
#include <boost/asio/detached.hpp>

#include "storage_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace asio = boost::asio;
using asio::awaitable;

namespace {

class pg_connection : public vt::storage_test {
 protected:
  void terminate(int pid) {
    EXPECT_EQ(scalar("SELECT pg_terminate_backend(" + std::to_string(pid) + ")"), "t");
    // Wait until the server has really ended it, so the next call meets a dead socket.
    scalar(
        "DO $$ BEGIN FOR i IN 1..500 LOOP EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = " +
        std::to_string(pid) + "); PERFORM pg_sleep(0.01); END LOOP; END $$");
  }
};

}  // namespace

TEST_F(pg_connection, ParametersTravelOutOfBandWhateverTheyContain) {
  const std::string hostile = "x'); DROP TABLE t; -- \" \\ \xC3\xA9";
  auto r = run(
      conn->query("SELECT $1::text, $2::text IS NULL, octet_length($1)", st::params(hostile, std::nullopt)));
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.value(0, 0), hostile);
  EXPECT_EQ(r.value(0, 1), "t");
  EXPECT_EQ(r.value(0, 2), std::to_string(hostile.size()));
}

TEST_F(pg_connection, ServerErrorsCarryTheirSqlstate) {
  run(conn->execute("CREATE TABLE " + mirror("dup") + " (k int PRIMARY KEY)"));
  run(conn->execute("INSERT INTO " + mirror("dup") + " VALUES (1)"));
  try {
    run(conn->execute("INSERT INTO " + mirror("dup") + " VALUES (1)"));
    FAIL() << "duplicate key accepted";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_EQ(e.kind(), st::error_kind::data);
    EXPECT_FALSE(e.retryable());
  }
  EXPECT_TRUE(conn->is_open());  // a data error does not cost the session
  EXPECT_EQ(run(conn->query("SELECT 7")).value(0, 0), "7");
}

TEST_F(pg_connection, MissedDeadlineDiscardsTheSession) {
  auto o = connection_options();
  o.call_timeout = std::chrono::milliseconds(200);
  st::connection c{io.get_executor(), o};
  run(c.connect());
  const int first_pid = c.backend_pid();
  try {
    run(c.query("SELECT pg_sleep(30)"));
    FAIL() << "the deadline did not fire";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.kind(), st::error_kind::timeout);
  }
  EXPECT_FALSE(c.is_open());
  EXPECT_EQ(run(c.query("SELECT 1")).value(0, 0), "1");
  EXPECT_NE(c.backend_pid(), first_pid);
  EXPECT_EQ(c.connect_count(), 2);
}

TEST_F(pg_connection, ServerSideStatementTimeoutIsATimeout) {
  auto o = connection_options();
  o.statement_timeout = std::chrono::milliseconds(100);
  st::connection c{io.get_executor(), o};
  try {
    run(c.query("SELECT pg_sleep(30)"));
    FAIL() << "statement_timeout did not fire";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.sqlstate(), "57014");
    EXPECT_EQ(e.kind(), st::error_kind::timeout);
  }
  EXPECT_EQ(run(c.query("SHOW statement_timeout")).value(0, 0), "100ms");
}

TEST_F(pg_connection, TerminatedBackendIsALostConnectionThenReconnects) {
  const int sessions = conn->connect_count();  // migrate() in SetUp opened the first
  const int pid = conn->backend_pid();
  terminate(pid);
  try {
    run(conn->query("SELECT 1"));
    FAIL() << "query on a terminated backend succeeded";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.kind(), st::error_kind::connection);
    EXPECT_TRUE(e.retryable());
  }
  EXPECT_EQ(run(conn->query("SELECT 2")).value(0, 0), "2");
  EXPECT_NE(conn->backend_pid(), pid);
  EXPECT_EQ(conn->connect_count(), sessions + 1);
}

TEST_F(pg_connection, TransactionIsRetriedAfterTheBackendDiesMidWay) {
  run(conn->execute("CREATE TABLE " + mirror("t") + " (k int PRIMARY KEY)"));
  int attempts = 0;
  run(st::run_transaction(*conn, [&](st::connection& c) -> awaitable<void> {
    ++attempts;
    co_await c.query("INSERT INTO " + mirror("t") + " VALUES (1)");
    if (attempts == 1) terminate(c.backend_pid());  // the first attempt loses its session half-way
    co_await c.query("INSERT INTO " + mirror("t") + " VALUES (2)");
  }));
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(scalar("SELECT string_agg(k::text, ',' ORDER BY k) FROM " + mirror("t")), "1,2");
}

TEST_F(pg_connection, DataErrorsAreNeverRetriedAndLeaveNothing) {
  run(conn->execute("CREATE TABLE " + mirror("t") + " (k int PRIMARY KEY)"));
  int attempts = 0;
  EXPECT_THROW(run(st::run_transaction(*conn,
                                       [&](st::connection& c) -> awaitable<void> {
                                         ++attempts;
                                         co_await c.query("INSERT INTO " + mirror("t") + " VALUES (1)");
                                         co_await c.query("INSERT INTO " + mirror("t") + " VALUES (1)");
                                       })),
               st::pg_error);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + mirror("t")), "0");
}

TEST_F(pg_connection, SerializationFailuresRetryTheTransaction) {
  run(conn->execute("CREATE TABLE " + mirror("t") + " (k int PRIMARY KEY)"));
  int attempts = 0;
  const int result = run(st::run_transaction(*conn, [&](st::connection& c) -> awaitable<int> {
    ++attempts;
    co_await c.query("INSERT INTO " + mirror("t") + " VALUES (1)");
    if (attempts < 3)
      co_await c.execute("DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40001'; END $$");
    co_return attempts;
  }));
  EXPECT_EQ(result, 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + mirror("t")), "1");
}

TEST_F(pg_connection, DaemonTransactionsAreMarked) {
  const auto origin = run(st::run_transaction(*conn, [](st::connection& c) -> awaitable<std::string> {
    co_return std::string{(co_await c.query("SELECT current_setting('vtsync.origin', true)")).value(0, 0)};
  }));
  EXPECT_EQ(origin, "daemon");
  // Transaction-local: the session itself is not marked afterwards.
  EXPECT_EQ(run(conn->query("SELECT coalesce(current_setting('vtsync.origin', true), '')")).value(0, 0), "");
}

TEST_F(pg_connection, NotificationsArriveOnTheLoopAndSurviveAReconnect) {
  const std::string channel = "vts chan \"" + state_schema;  // a name that needs quoting
  run(conn->listen(channel));
  scalar("SELECT pg_notify('" + channel + "', 'hello')");
  auto n = run(conn->next_notification(std::chrono::seconds(10)));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->channel, channel);
  EXPECT_EQ(n->payload, "hello");
  EXPECT_FALSE(n->after_reconnect);

  // Nothing more: an idle wait ends without error and keeps the session.
  EXPECT_FALSE(run(conn->next_notification(std::chrono::milliseconds(50))).has_value());
  EXPECT_TRUE(conn->is_open());

  // Notifications that arrive while a query runs are kept for later.
  run(conn->query("SELECT pg_notify($1, 'during')", st::params(channel)));
  n = run(conn->next_notification(std::chrono::seconds(10)));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->payload, "during");

  const int pid = conn->backend_pid();
  terminate(pid);
  EXPECT_THROW(run(conn->next_notification(std::chrono::seconds(30))), st::pg_error);
  n = run(conn->next_notification(std::chrono::seconds(10)));
  ASSERT_TRUE(n.has_value());
  EXPECT_TRUE(n->after_reconnect);
  EXPECT_EQ(n->channel, channel);
  scalar("SELECT pg_notify('" + channel + "', 'again')");
  n = run(conn->next_notification(std::chrono::seconds(10)));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->payload, "again");
}

TEST_F(pg_connection, OneCoroutineAtATime) {
  std::exception_ptr second;
  asio::co_spawn(io, conn->query("SELECT pg_sleep(0.2)"), asio::detached);
  asio::co_spawn(io, conn->query("SELECT 1"), [&](std::exception_ptr e, st::result) { second = e; });
  io.restart();
  io.run();
  ASSERT_TRUE(second);
  EXPECT_THROW(std::rethrow_exception(second), std::logic_error);
}

// A pipeline prepares each distinct statement once per session (as query() does), in the pipeline that
// first sends it, and then only executes it: planning the write-back's wide UPDATE on every use cost more
// than running it. A failed pipeline keeps what it prepared before the error, forgets what the server
// skipped, and the session goes on using both.
TEST_F(pg_connection, PipelineStatementsArePreparedOncePerSession) {
  run(conn->execute("CREATE TABLE " + mirror("prep") + " (k int PRIMARY KEY, v text)"));
  const std::string insert = "INSERT INTO " + mirror("prep") + " (k, v) VALUES ($1, $2)";
  const std::string update = "UPDATE " + mirror("prep") + " SET v = v || $2 WHERE k = $1";
  const std::string count = "SELECT count(*) FROM " + mirror("prep");
  const auto prepared = [&](const std::string& text) {
    // Asked on the same session: pg_prepared_statements is per session. "<statements>|<executions>".
    auto r = run(conn->query(
        "SELECT count(*) || '|' || coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
        "WHERE statement = $1",
        st::params(text)));
    return std::string{r.value(0, 0)};
  };
  for (int k = 1; k <= 3; ++k) {
    std::vector<st::statement> s{{insert, st::params(std::to_string(k), "a")},
                                 {update, st::params(std::to_string(k), "b")},
                                 {update, st::params(std::to_string(k), "c")},  // twice in one pipeline
                                 {count, {}}};
    const auto results = run(conn->pipeline(s));
    ASSERT_EQ(results.size(), 4u);
    EXPECT_EQ(results[1].affected_rows(), 1);
    EXPECT_EQ(results[3].value(0, 0), std::to_string(k));
  }
  EXPECT_EQ(prepared(insert), "1|3");
  EXPECT_EQ(prepared(update), "1|6");
  EXPECT_EQ(prepared(count), "1|3");
  EXPECT_EQ(scalar("SELECT string_agg(k || v, ',' ORDER BY k) FROM " + mirror("prep")), "1abc,2abc,3abc");

  // A unique violation in the middle: the new statement before it stays prepared, the one after it was
  // skipped (never prepared) and is prepared the next time; nothing of the failed pipeline is committed.
  const std::string before = "UPDATE " + mirror("prep") + " SET v = 'x' WHERE k = $1";
  const std::string after = "DELETE FROM " + mirror("prep") + " WHERE k = $1";
  std::vector<st::statement> failing{
      {before, st::params("1")}, {insert, st::params("2", "dup")}, {after, st::params("3")}};
  try {
    run(conn->pipeline(failing));
    FAIL() << "the duplicate key was accepted";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.sqlstate(), "23505");
  }
  EXPECT_EQ(prepared(before), "1|1");
  EXPECT_EQ(prepared(after), "0|0");
  EXPECT_EQ(scalar("SELECT string_agg(k || v, ',' ORDER BY k) FROM " + mirror("prep")), "1abc,2abc,3abc");
  std::vector<st::statement> again{{after, st::params("3")}, {before, st::params("1")}};
  run(conn->pipeline(again));
  EXPECT_EQ(prepared(before), "1|2");
  EXPECT_EQ(prepared(after), "1|1");
  EXPECT_EQ(scalar("SELECT string_agg(k || v, ',' ORDER BY k) FROM " + mirror("prep")), "1x,2abc");
  // A new session prepares afresh.
  const int pid = conn->backend_pid();
  conn->close();
  std::vector<st::statement> fresh{{count, {}}};
  EXPECT_EQ(run(conn->pipeline(fresh)).front().value(0, 0), "2");
  EXPECT_NE(conn->backend_pid(), pid);
  EXPECT_EQ(prepared(count), "1|1");
}

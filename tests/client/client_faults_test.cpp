// Needs: fake Vtiger (build/fake-vtiger).
// Every fault kind of the fake: reads recover through retries, writes report "outcome unknown" once the
// request may have reached the server, and are retried while it cannot have.
#include <gtest/gtest.h>

#include <array>

#include "client_test_util.hpp"

using namespace vtsync;
using namespace vtsync::vtiger;
using namespace std::chrono_literals;
using vtsync::test::count_of;
using vtsync::test::fake_stats;
using vtsync::test::run;
using vtsync::test::stat_of;
using vtsync::test::test_options;

namespace {

struct read_fault_case {
  std::string fault;        // the fake's --fault spec
  std::string fake_kind;    // as counted in /_fake/stats "faults"
  std::string client_kind;  // as counted in client_stats::errors
};

class ClientReadFaults : public ::testing::TestWithParam<read_fault_case> {};

}  // namespace

TEST_P(ClientReadFaults, QueriesRecoverThroughRetries) {
  const auto& param = GetParam();
  test::fake_vtiger fake({"--seed", "Contacts=5", "--fault", param.fault});
  boost::asio::io_context io;
  auto options = test_options(fake.url());
  const bool delay = param.fake_kind == "delay";
  if (delay) options.timeout = 600ms;  // the delay fault stalls 1000 ms
  client c(io.get_executor(), options);
  auto body = [&]() -> boost::asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto rows = co_await c.query("SELECT id, lastname FROM Contacts ORDER BY id LIMIT 5;");
      EXPECT_EQ(rows.value().size(), 5u) << "query " << i;
    }
  };
  run(io, body());

  const auto stats = fake_stats(fake);
  const auto fired = stat_of(stats, "faults", param.fake_kind);
  EXPECT_GE(fired, 2u) << stats.dump();
  const auto own = c.stats();
  if (delay) {
    // The retry may have to wait for the stalled request's session lock on a busy machine: allow more.
    EXPECT_GE(own.retries, fired);
    EXPECT_GE(count_of(own.errors, param.client_kind), fired);
  } else {
    EXPECT_EQ(own.retries, fired) << "one retry per injected fault";
    EXPECT_EQ(count_of(own.errors, param.client_kind), fired);
  }
  EXPECT_EQ(own.relogins, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, ClientReadFaults,
    ::testing::Values(read_fault_case{"query:http500:every=2", "http500", "http_status"},
                      read_fault_case{"query:html:every=2", "html", "html"},
                      read_fault_case{"query:truncated:every=2", "truncated", "transport"},
                      read_fault_case{"query:reset:every=2", "reset", "transport"},
                      read_fault_case{"query:drop_reply:every=2", "drop_reply", "transport"},
                      read_fault_case{"query:delay=1000:every=2", "delay", "timeout"}),
    [](const auto& test_info) { return test_info.param.fake_kind; });

TEST(ClientFaults, InvalidSessionCausesOneReloginAndARetry) {
  test::fake_vtiger fake({"--seed", "Contacts=2", "--fault", "query:invalid_session:every=3"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  auto body = [&]() -> boost::asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto rows = co_await c.query("SELECT id FROM Contacts;");
      EXPECT_EQ(rows.value().size(), 2u);
    }
  };
  run(io, body());
  EXPECT_EQ(test::fake_logins(fake), 2u);
  EXPECT_EQ(c.stats().relogins, 1u);
  EXPECT_EQ(c.stats().logins, 2u);
  EXPECT_EQ(c.stats().retries, 0u) << "a re-login is not a transient retry";
}

TEST(ClientFaults, PersistentSessionErrorIsReturnedAfterOneRelogin) {
  test::fake_vtiger fake({"--fault", "listtypes:invalid_session"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  auto answer = run(io, c.listtypes());
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, "INVALID_SESSIONID");
  EXPECT_EQ(test::fake_logins(fake), 2u) << "first login and exactly one re-login, no loop";
}

TEST(ClientFaults, PersistentServerErrorIsThrownAfterMaxAttempts) {
  test::fake_vtiger fake({"--fault", "query:http500"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  try {
    (void)run(io, c.query("SELECT id FROM Contacts;"));
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::http_status);
    EXPECT_EQ(e.http_status(), 500);
  }
  EXPECT_EQ(stat_of(fake_stats(fake), "requests", "query"), 4u);
  EXPECT_EQ(c.stats().retries, 3u);
}

TEST(ClientFaults, DroppedReplyToCreateIsOutcomeUnknownAndNotResent) {
  test::fake_vtiger fake({"--fault", "create:drop_reply"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  try {
    (void)run(io, c.create("Contacts", json{{"lastname", "Dropped Reply"}, {"assigned_user_id", "19x1"}}));
    ADD_FAILURE() << "create succeeded although its reply was dropped";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::outcome_unknown);
    EXPECT_EQ(e.cause(), error_kind::transport);
    EXPECT_FALSE(e.transient());
  }
  EXPECT_EQ(stat_of(fake_stats(fake), "requests", "create"), 1u);
  // The fake did commit it: exactly why the client must not send it again blindly.
  const auto dump = test::fake_get_json(fake, "/_fake/dump?module=Contacts");
  int found = 0;
  for (const auto& r : dump) found += r.at("lastname") == "Dropped Reply";
  EXPECT_EQ(found, 1);
}

TEST(ClientFaults, WritesAreNotResentAfterAnyFailureOnceSent) {
  for (const std::string fault :
       {"create:http500", "create:html", "create:reset", "create:truncated", "create:delay=1500"}) {
    SCOPED_TRACE(fault);
    test::fake_vtiger fake({"--fault", fault});
    boost::asio::io_context io;
    auto options = test_options(fake.url());
    options.timeout = 500ms;
    client c(io.get_executor(), options);
    try {
      (void)run(io, c.create("Contacts", json{{"lastname", "X"}, {"assigned_user_id", "19x1"}}));
      ADD_FAILURE();
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::outcome_unknown) << e.what();
    }
    EXPECT_EQ(stat_of(fake_stats(fake), "requests", "create"), 1u);
    EXPECT_EQ(count_of(c.stats().errors, "outcome_unknown"), 1u);
  }
}

TEST(ClientFaults, WriteIsRetriedWhileNothingWasSent) {
  // A logged-in session whose server goes away: the create cannot connect, so it is retried (nothing was
  // sent) and finally reported as a connect failure, not as an unknown outcome.
  auto fake = std::make_unique<test::fake_vtiger>();
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake->url()));
  (void)run(io, c.login());
  fake.reset();  // kills the fake
  try {
    (void)run(io, c.create("Contacts", json{{"lastname", "Nobody listens"}, {"assigned_user_id", "19x1"}}));
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::connect) << e.what();
  }
  EXPECT_EQ(count_of(c.stats().requests, "create"), 4u);
  EXPECT_EQ(c.stats().retries, 3u);
}

TEST(ClientFaults, WriteAfterRecoveredSessionErrorSucceeds) {
  // INVALID_SESSIONID means the server refused before doing anything: a write may be re-sent after re-login.
  test::fake_vtiger fake({"--fault", "create:invalid_session:every=2"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  auto body = [&]() -> boost::asio::awaitable<void> {
    const std::array<std::string, 2> names{"First", "Second"};
    for (const auto& name : names) {
      const json r_element = {{"lastname", name}, {"assigned_user_id", "19x1"}};
      auto r = co_await c.create("Contacts", r_element);
      EXPECT_TRUE(r.has_value()) << name;
    }
  };
  run(io, body());
  EXPECT_EQ(test::fake_get_json(fake, "/_fake/dump?module=Contacts").size(), 2u);
  EXPECT_EQ(c.stats().relogins, 1u);
}

// Response bodies are size-capped: a body over options.body_limit is a body_too_large error (not a crash,
// not an unbounded allocation), the connection is dropped, and the same client keeps working for answers
// that fit. (The daemon's default cap is 64 MB; a cycle that hits it is logged and tried again next poll.)
TEST(ClientFaults, BodyOverTheLimitIsAnErrorAndTheClientRecovers) {
  test::fake_vtiger fake({"--seed", "Contacts=50"});
  boost::asio::io_context io;
  auto options = test_options(fake.url());
  options.body_limit = 4096;  // login fits; 50 full Contacts rows do not
  client c(io.get_executor(), options);
  (void)run(io, c.login());
  try {
    (void)run(io, c.query("SELECT * FROM Contacts LIMIT 50;"));
    ADD_FAILURE() << "a body over body_limit was accepted";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::body_too_large) << e.what();
    EXPECT_NE(std::string(e.what()).find("4096"), std::string::npos) << e.what();
  }
  const auto small = run(io, c.query("SELECT id FROM Contacts LIMIT 1;"));
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small.value().size(), 1u);
}

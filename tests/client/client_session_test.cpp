// Needs: fake Vtiger (build/fake-vtiger).
// Sessions: expiry in the middle of a paged read, concurrent callers sharing one re-login, several sessions
// on one context, the shared in-flight limit.
#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <set>

#include "client_test_util.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

using namespace vtsync;
using namespace vtsync::vtiger;
using namespace std::chrono_literals;
using vtsync::test::count_of;
using vtsync::test::fake_stats;
using vtsync::test::run;
using vtsync::test::stat_of;
using vtsync::test::test_options;

namespace {

// Reads every Contact id with keyset paging on id; `between_pages` runs after each page.
boost::asio::awaitable<std::vector<std::string>> read_all_ids(client& c,
                                                              const std::function<void(int)>& between_pages) {
  std::vector<std::string> ids;
  std::optional<std::string> after;
  const std::vector<std::string> columns{"id", "lastname"};
  for (int page = 0;; ++page) {
    const std::string q = vtql::id_page("Contacts", columns, after);
    auto rows = co_await c.query(q);
    const json& list = rows.value();
    if (list.empty()) break;
    for (const auto& r : list) ids.push_back(r.at("id").get<std::string>());
    after = ids.back();
    between_pages(page);
  }
  co_return ids;
}

}  // namespace

TEST(ClientSession, ExpiryBetweenPagesCostsExactlyOneRelogin) {
  test::fake_vtiger fake({"--seed", "Contacts=250"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  const auto ids = run(io, read_all_ids(c, [&](int page) {
                         if (page == 0) test::fake_expire_sessions(fake);
                       }));
  EXPECT_EQ(ids.size(), 250u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 250u);
  EXPECT_EQ(test::fake_logins(fake), 2u);
  EXPECT_EQ(c.stats().logins, 2u);
  EXPECT_EQ(c.stats().relogins, 1u);
  EXPECT_EQ(count_of(c.stats().errors, "INVALID_SESSIONID"), 1u);
}

TEST(ClientSession, ServerExpiringSessionsRegularlyStillCompletesTheRead) {
  test::fake_vtiger fake({"--seed", "Contacts=450", "--expire-sessions-every", "4"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  const auto ids = run(io, read_all_ids(c, [](int) {}));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 450u);
  EXPECT_GE(c.stats().relogins, 1u);
  EXPECT_EQ(test::fake_logins(fake), c.stats().logins);
  EXPECT_EQ(c.stats().logins, c.stats().relogins + 1);
}

TEST(ClientSession, ConcurrentCallersShareOneRelogin) {
  test::fake_vtiger fake({"--seed", "Contacts=3", "--latency-ms", "20"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  (void)run(io, c.login());
  test::fake_expire_sessions(fake);
  const auto logins_before = test::fake_logins(fake);

  int succeeded = 0;
  for (int i = 0; i < 5; ++i) {
    boost::asio::co_spawn(
        io,
        [&c, &succeeded]() -> boost::asio::awaitable<void> {
          auto rows = co_await c.query("SELECT id FROM Contacts;");
          if (rows && rows->size() == 3) ++succeeded;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }
  io.restart();
  io.run();
  EXPECT_EQ(succeeded, 5);
  EXPECT_EQ(test::fake_logins(fake), logins_before + 1);
  EXPECT_EQ(c.stats().relogins, 1u);
  EXPECT_EQ(count_of(c.stats().errors, "INVALID_SESSIONID"), 5u);
}

TEST(ClientSession, SeveralSessionsOnOneContextAreIndependent) {
  test::fake_vtiger fake({"--seed", "Contacts=3"});
  boost::asio::io_context io;
  auto context = std::make_shared<client_context>(io.get_executor(), test_options(fake.url()));
  auto sessions = run(io, open_sessions(context, 3));
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(test::fake_logins(fake), 3u);
  EXPECT_EQ(fake_stats(fake).at("sessions"), 3);

  int succeeded = 0;
  for (auto& s : sessions) {
    boost::asio::co_spawn(
        io,
        [&s, &succeeded]() -> boost::asio::awaitable<void> {
          auto d = co_await s.describe("Contacts");  // cached on the context after the first
          auto rows = co_await s.query("SELECT id FROM Contacts;");
          if (d && rows && rows->size() == 3) ++succeeded;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }
  io.restart();
  io.run();
  EXPECT_EQ(succeeded, 3);
  EXPECT_EQ(test::fake_logins(fake), 3u) << "no session needed a re-login";
  EXPECT_EQ(context->stats().logins, 3u);
  EXPECT_EQ(count_of(context->stats().requests, "query"), 3u);
}

TEST(ClientSession, InflightLimitIsSharedAcrossClients) {
  test::fake_vtiger fake({"--seed", "Contacts=3", "--latency-ms", "30"});
  boost::asio::io_context io;
  auto limit = std::make_shared<inflight_limit>(2);
  std::size_t most = 0;
  auto options = test_options(fake.url());
  options.inflight = limit;
  options.hooks.on_request = [&](std::string_view) { most = std::max(most, limit->in_flight()); };
  client a(io.get_executor(), options);
  client b(io.get_executor(), options);
  (void)run(io, a.login());
  (void)run(io, b.login());
  most = 0;

  int succeeded = 0;
  for (int i = 0; i < 6; ++i) {
    client& c = i % 2 ? a : b;
    boost::asio::co_spawn(
        io,
        [&c, &succeeded]() -> boost::asio::awaitable<void> {
          auto rows = co_await c.query("SELECT id FROM Contacts;");
          if (rows && rows->size() == 3) ++succeeded;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }
  io.restart();
  io.run();
  EXPECT_EQ(succeeded, 6);
  EXPECT_EQ(most, 2u);
  EXPECT_EQ(limit->in_flight(), 0u);
}

// A parallel backfill's sessions: the first logs in at once, the others in the background (one after
// another, as the server needs); used at once, each still logs in exactly once.
TEST(ClientSession, SessionsLoggedInInTheBackgroundLogInOnceEach) {
  test::fake_vtiger fake({"--seed", "Contacts=3"});
  boost::asio::io_context io;
  auto context = std::make_shared<client_context>(io.get_executor(), test_options(fake.url()));
  int succeeded = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto sessions = co_await open_sessions(context, 4, true);
        EXPECT_TRUE(sessions[0].logged_in());
        // Queries on every session right away, while the background logins may still be running.
        for (auto& s : sessions) {
          auto rows = co_await s.query("SELECT id FROM Contacts;");
          if (rows && rows->size() == 3) ++succeeded;
        }
        for (auto& s : sessions) EXPECT_TRUE(s.logged_in());
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  EXPECT_EQ(succeeded, 4);
  EXPECT_EQ(test::fake_logins(fake), 4u) << "each session logged in once";
  EXPECT_EQ(context->stats().logins, 4u);
  EXPECT_EQ(context->stats().relogins, 0u);
  EXPECT_EQ(fake_stats(fake).at("sessions"), 4);
}

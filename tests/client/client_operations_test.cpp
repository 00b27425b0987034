// Needs: fake Vtiger (build/fake-vtiger).
// Every operation of the client against the fake, sync/logout on stock and patched servers, login failure.
#include <gtest/gtest.h>

#include "client_test_util.hpp"

using namespace vtsync;
using namespace vtsync::vtiger;
using vtsync::test::count_of;
using vtsync::test::fake_stats;
using vtsync::test::run;
using vtsync::test::stat_of;
using vtsync::test::test_options;
using asio_awaitable_void = boost::asio::awaitable<void>;

TEST(ClientOperations, EveryOperationAgainstTheFake) {
  test::fake_vtiger fake({"--seed", "Contacts=3"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));

  auto body = [&]() -> asio_awaitable_void {
    const login_info info = co_await c.login();
    EXPECT_EQ(info.user_id, "19x1");
    EXPECT_TRUE(c.logged_in());

    auto types = co_await c.listtypes();
    EXPECT_TRUE(types.has_value());
    const auto& names = types.value().at("types");
    EXPECT_NE(std::find(names.begin(), names.end(), "Contacts"), names.end());

    auto d1 = co_await c.describe("Contacts");
    auto d2 = co_await c.describe("Contacts");  // from the cache
    EXPECT_EQ(d1.value().at("name"), "Contacts");
    EXPECT_EQ(d1.value(), d2.value());

    const json created_element = {
        {"firstname", "Ada"}, {"lastname", "Lovelace \"Countess\" \\ Zoë"}, {"assigned_user_id", "19x1"}};

    auto created = co_await c.create("Contacts", created_element);
    const std::string id = created.value().at("id").get<std::string>();
    EXPECT_EQ(id.rfind("12x", 0), 0u) << id;
    EXPECT_EQ(created.value().at("lastname"), "Lovelace \"Countess\" \\ Zoë");

    auto fetched = co_await c.retrieve(id);
    json record = fetched.value();
    EXPECT_EQ(record.at("firstname"), "Ada");

    record["title"] = "Analyst";
    auto updated = co_await c.update(record);
    EXPECT_EQ(updated.value().at("title"), "Analyst");

    const json revised_element = {{"id", id}, {"department", "Engines"}};

    auto revised = co_await c.revise(revised_element);
    EXPECT_EQ(revised.value().at("department"), "Engines");
    EXPECT_EQ(revised.value().at("title"), "Analyst");

    auto rows = co_await c.query("SELECT id, lastname, department FROM Contacts WHERE id = '" + id + "';");
    CO_ASSERT(rows.value().size() == 1u);
    EXPECT_EQ(rows.value()[0].at("department"), "Engines");

    // Expected rejections are values, with Vtiger's code kept.
    const json missing_element = {{"firstname", "NoLastName"}, {"assigned_user_id", "19x1"}};
    auto missing = co_await c.create("Contacts", missing_element);
    CO_ASSERT(!missing.has_value());
    EXPECT_EQ(missing.error().code, "MANDATORY_FIELDS_MISSING");

    const json acc1_element = {{"accountname", "Analytical Engines Ltd"}, {"assigned_user_id", "19x1"}};

    auto acc1 = co_await c.create("Accounts", acc1_element);
    EXPECT_TRUE(acc1.has_value());
    const json acc2_element = {{"accountname", "Analytical Engines Ltd"}, {"assigned_user_id", "19x1"}};
    auto acc2 = co_await c.create("Accounts", acc2_element);
    CO_ASSERT(!acc2.has_value());
    EXPECT_EQ(acc2.error().code, "0");  // sent as the number 0

    auto deleted = co_await c.delete_record(id);
    EXPECT_TRUE(deleted.has_value());
    auto gone = co_await c.retrieve(id);
    CO_ASSERT(!gone.has_value());
    EXPECT_EQ(gone.error().code, "ACCESS_DENIED");
    try {
      (void)gone.value();
      ADD_FAILURE() << "value() of an api_error did not throw";
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::api);
    }

    // The generic call: GET and POST.
    param_list by_id;
    by_id.emplace_back("id", acc1.value().at("id").get<std::string>());
    auto generic = co_await c.call("retrieve", by_id, http_method::get);
    EXPECT_EQ(generic.value().at("accountname"), "Analytical Engines Ltd");
    json element;
    element["id"] = acc1.value().at("id");
    element["website"] = "example.invalid";
    param_list revise_params;
    revise_params.emplace_back("element", element.dump());
    auto generic_post = co_await c.call("revise", revise_params, http_method::post);
    EXPECT_EQ(generic_post.value().at("website"), "example.invalid");

    // An operation the server does not know: HTTP 500 with an empty body, retried, then thrown.
    try {
      (void)co_await c.call("nosuchop", param_list(), http_method::get);
      ADD_FAILURE() << "an unknown operation succeeded";
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::http_status);
      EXPECT_EQ(e.http_status(), 500);
    }

    // Stock Vtiger 8 on PHP 8 (the fake's default): sync is unsupported, logout fails harmlessly.
    auto synced = co_await c.sync("Contacts", 0);
    CO_ASSERT(synced.has_value());
    EXPECT_FALSE(synced->has_value());
    EXPECT_FALSE(co_await c.probe_sync("Contacts"));
    co_await c.logout();
    EXPECT_FALSE(c.logged_in());
  };
  run(io, body());

  const auto stats = fake_stats(fake);
  EXPECT_EQ(stat_of(stats, "requests", "describe"), 1u) << stats.dump();
  EXPECT_EQ(stat_of(stats, "requests", "logout"), 1u) << "a failed logout is not retried";
  EXPECT_EQ(stat_of(stats, "requests", "sync"), 2u) << "an unsupported sync is not retried";
  EXPECT_EQ(stat_of(stats, "requests", "(unknown)"), 4u) << "max_attempts";
  EXPECT_EQ(stats.at("logins"), 1);

  const auto own = c.stats();
  EXPECT_EQ(count_of(own.requests, "create"), 4u);
  EXPECT_EQ(count_of(own.requests, "describe"), 1u);
  EXPECT_EQ(own.logins, 1u);
  EXPECT_EQ(own.relogins, 0u);
  EXPECT_EQ(own.retries, 3u);  // nosuchop only
  EXPECT_EQ(count_of(own.errors, "MANDATORY_FIELDS_MISSING"), 1u);
  EXPECT_EQ(count_of(own.errors, "0"), 1u);
}

TEST(ClientOperations, SyncAndLogoutWorkOnAPatchedServer) {
  test::fake_vtiger fake({"--seed", "Contacts=3", "--sync-mode", "patched"});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  auto body = [&]() -> asio_awaitable_void {
    EXPECT_TRUE(co_await c.probe_sync("Contacts"));
    auto page = co_await c.sync("Contacts", 0, std::string("application"));
    CO_ASSERT(page.has_value());
    CO_ASSERT(page->has_value());
    const json& r = **page;
    EXPECT_TRUE(r.at("updated").is_array());
    EXPECT_EQ(r.at("updated").size(), 3u);
    EXPECT_TRUE(r.at("deleted").is_array());
    co_await c.logout();
    EXPECT_FALSE(c.logged_in());
    // The next call logs in again by itself.
    auto types = co_await c.listtypes();
    EXPECT_TRUE(types.has_value());
  };
  run(io, body());
  const auto stats = fake_stats(fake);
  EXPECT_EQ(stat_of(stats, "requests", "logout"), 1u);
  EXPECT_EQ(stats.at("logins"), 2);
  EXPECT_EQ(c.stats().relogins, 0u) << "a login after logout is not a re-login";
}

TEST(ClientOperations, WrongAccessKeyFailsAfterOneFreshChallenge) {
  test::fake_vtiger fake;
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url(), "not-the-key"));
  try {
    (void)run(io, c.login());
    ADD_FAILURE() << "login with a wrong key succeeded";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::login_failed);
    ASSERT_TRUE(e.api().has_value());
    EXPECT_EQ(e.api()->code, "INVALID_USER_CREDENTIALS");
  }
  const auto stats = fake_stats(fake);
  EXPECT_EQ(stat_of(stats, "requests", "getchallenge"), 2u);
  EXPECT_EQ(stat_of(stats, "requests", "login"), 2u);
  EXPECT_EQ(stats.at("logins"), 0);
}

TEST(ClientOperations, UrlWithPathPrefixAndExplicitWebservicePhp) {
  test::fake_vtiger fake;
  boost::asio::io_context io;
  // An explicit ".../webservice.php" is kept as is, a path prefix gets webservice.php appended (the fake
  // answers on any path outside /_fake/, so both log in).
  client explicit_php(io.get_executor(), test_options(fake.url() + "/webservice.php"));
  EXPECT_EQ(explicit_php.context()->target().target, "/webservice.php");
  EXPECT_EQ(run(io, explicit_php.login()).user_id, "19x1");
  client prefixed(io.get_executor(), test_options(fake.url() + "/vtiger/"));
  EXPECT_EQ(prefixed.context()->target().target, "/vtiger/webservice.php");
  EXPECT_EQ(run(io, prefixed.login()).user_id, "19x1");
}

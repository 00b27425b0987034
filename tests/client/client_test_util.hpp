#pragma once
// Helpers for the client's integration tests: run a coroutine to completion, talk to the fake's test
// endpoints, client options suited to tests (short backoff, so retries do not slow the suite down).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <string>

#include "child_process.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::test {

// The fake's default admin key; tests that care about secrets pass their own with --access-key.
inline constexpr const char* fake_admin_key = "fakeAdminKey0001";

inline vtiger::client_options test_options(const std::string& url, const std::string& key = fake_admin_key) {
  using namespace std::chrono_literals;
  vtiger::client_options o;
  o.url = url;
  o.username = "admin";
  o.access_key = key;
  o.timeout = 5s;
  o.retry.max_attempts = 4;
  o.retry.initial_backoff = 5ms;
  o.retry.max_backoff = 40ms;
  o.retry.max_total = 30s;
  return o;
}

// Runs `aw` on `io` until it finishes; rethrows what it threw.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  auto future = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.restart();
  io.run();
  return future.get();
}

inline vtiger::json fake_get_json(const fake_vtiger& fake, const std::string& target) {
  auto res = http_request(fake.port(), "GET", target);
  if (res.status != 200)
    throw std::runtime_error("fake answered " + std::to_string(res.status) + " to " + target);
  return vtiger::json::parse(res.body);
}

inline vtiger::json fake_stats(const fake_vtiger& fake) { return fake_get_json(fake, "/_fake/stats"); }

inline std::uint64_t stat_of(const vtiger::json& stats, const std::string& group, const std::string& key) {
  auto g = stats.find(group);
  if (g == stats.end() || !g->contains(key)) return 0;
  return (*g)[key].get<std::uint64_t>();
}

inline std::uint64_t fake_logins(const fake_vtiger& fake) {
  return fake_stats(fake).at("logins").get<std::uint64_t>();
}

inline void fake_expire_sessions(const fake_vtiger& fake) {
  auto res = http_request(fake.port(), "POST", "/_fake/expire-sessions", "{}", "application/json");
  if (res.status != 200) throw std::runtime_error("expire-sessions failed: " + res.body);
}

inline std::uint64_t count_of(const std::map<std::string, std::uint64_t, std::less<>>& m,
                              const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

}  // namespace vtsync::test

// gtest's ASSERT_* macros `return;`, which a coroutine cannot: this one fails the test and leaves the
// coroutine.
#define CO_ASSERT(cond)                             \
  if (!(cond)) {                                    \
    ADD_FAILURE() << "assertion failed: " << #cond; \
    co_return;                                      \
  }

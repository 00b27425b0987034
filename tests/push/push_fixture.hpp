#pragma once
// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger).
// A fake Vtiger, a fresh state schema and mirror schema (tests run in parallel), a Contacts mirror table
// made from the fake's describe, and a pusher driven in-process on an io_context.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "test_env.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::test {

namespace st = vtsync::storage;
using nlohmann::json;

// Runs `work` on `io` to completion; rethrows what it threw.
template <class T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> work) {
  std::exception_ptr failure;
  std::optional<std::conditional_t<std::is_void_v<T>, int, T>> value;
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) {
      failure = e;
      value.emplace(0);
    });
  } else {
    boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T v) {
      failure = e;
      if (!e) value.emplace(std::move(v));
    });
  }
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  if constexpr (!std::is_void_v<T>) return std::move(*value);
}

inline vtiger::client_options fake_client_options(const std::string& url) {
  using namespace std::chrono_literals;
  vtiger::client_options o;
  o.url = url;
  o.username = "admin";
  o.access_key = "fakeAdminKey0001";
  o.timeout = 5s;
  o.retry.max_attempts = 4;
  o.retry.initial_backoff = 5ms;
  o.retry.max_backoff = 40ms;
  o.retry.max_total = 20s;
  return o;
}

class push_test : public ::testing::Test {
 protected:
  // Starts the fake with `fake_args`, prepares the schemas and the Contacts table, makes the pusher.
  void start(std::vector<std::string> fake_args = {}, sync::push_settings settings = {}) {
    fake = std::make_unique<fake_vtiger>(std::move(fake_args));
    admin = connect_blocking();
    exec_scalar(admin.get(), "SET client_min_messages = warning");
    state_schema = unique_schema("vts_push_state");
    mirror_schema = unique_schema("vts_push_mirror");
    options.state_schema = state_schema;
    options.mirror_schema = mirror_schema;
    conn = std::make_unique<st::connection>(io.get_executor(), connection_options());
    listener = std::make_unique<st::connection>(io.get_executor(), connection_options());
    mirror_db = std::make_unique<st::mirror_rows>(*conn, options);
    box = std::make_unique<st::outbox>(*conn, options);
    run(st::migrate(*conn, state_schema));
    exec_scalar(admin.get(), "CREATE SCHEMA " + st::quote_ident(mirror_schema));
    client = std::make_unique<vtiger::client>(io.get_executor(), fake_client_options(fake->url()));
    const auto describe = run(describe_contacts());
    table = vtsync::record::table_from_describe(mirror_schema, describe);
    run(st::ensure_mirror_table(*conn, table, state_schema));
    make_pusher(std::move(settings));
  }

  void make_pusher(sync::push_settings settings) {
    std::map<std::string, st::mirror_table> tables{{table.module, table}};
    engine = std::make_unique<sync::pusher>(*client, *listener, *box, std::move(tables), std::move(settings));
  }

  void TearDown() override {
    engine.reset();
    box.reset();
    mirror_db.reset();
    listener.reset();
    conn.reset();
    client.reset();
    if (admin) {
      exec_scalar(admin.get(), "DROP SCHEMA IF EXISTS " + st::quote_ident(mirror_schema) + " CASCADE");
      exec_scalar(admin.get(), "DROP SCHEMA IF EXISTS " + st::quote_ident(state_schema) + " CASCADE");
    }
  }

  boost::asio::awaitable<json> describe_contacts() {
    auto r = co_await client->describe("Contacts");
    co_return r.value();
  }

  static st::connection_options connection_options() {
    st::connection_options o;
    o.conninfo = postgres_conninfo();
    o.call_timeout = std::chrono::seconds(30);
    return o;
  }

  template <class T>
  T run(boost::asio::awaitable<T> work) {
    return run_on(io, std::move(work));
  }

  sync::drain_stats drain() { return run(engine->drain()); }

  std::string sql(const std::string& statement) { return exec_scalar(admin.get(), statement); }
  std::string contacts() { return st::quote_ident(mirror_schema) + ".contacts"; }
  std::string state(const std::string& t) { return st::quote_ident(state_schema) + "." + t; }

  json fake_get(const std::string& target) {
    auto res = http_request(fake->port(), "GET", target);
    if (res.status != 200)
      throw std::runtime_error("fake answered " + std::to_string(res.status) + " to " + target);
    return json::parse(res.body);
  }
  json fake_post(const std::string& target, const json& body) {
    auto res = http_request(fake->port(), "POST", target, body.dump(), "application/json");
    if (res.status != 200)
      throw std::runtime_error("fake answered " + std::to_string(res.status) + ": " + res.body);
    return json::parse(res.body);
  }
  json dump() { return fake_get("/_fake/dump?module=Contacts"); }
  json remote(const std::string& id) {
    for (const auto& r : dump())
      if (r["id"] == id) return r;
    return nullptr;
  }
  std::uint64_t requests(const std::string& operation) {
    const auto s = fake_get("/_fake/stats");
    const auto& r = s["requests"];
    return r.contains(operation) ? r[operation].get<std::uint64_t>() : 0;
  }

  boost::asio::io_context io;
  std::unique_ptr<fake_vtiger> fake;
  pg_conn_ptr admin{nullptr, &PQfinish};
  std::string state_schema, mirror_schema;
  st::state_options options;
  std::unique_ptr<st::connection> conn, listener;
  std::unique_ptr<st::mirror_rows> mirror_db;
  std::unique_ptr<st::outbox> box;
  std::unique_ptr<vtiger::client> client;
  st::mirror_table table;
  std::unique_ptr<sync::pusher> engine;
};

}  // namespace vtsync::test

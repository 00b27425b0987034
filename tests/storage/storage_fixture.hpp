#pragma once
// A fresh state schema and mirror schema per test (tests run in parallel against one PostgreSQL), a
// connection on an io_context, and helpers to make Contacts records like Vtiger sends them.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "run_async.hpp"
#include "test_env.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/backfill_ranges.hpp"
#include "vtsync/storage/cursors.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/record/table.hpp"

namespace vtsync::test {

namespace st = vtsync::storage;

inline nlohmann::json contacts_describe() {
  std::ifstream in(fixtures_dir() + "/11-describe-contacts.json");
  return nlohmann::json::parse(in).at("response").at("body").at("result");
}

// A Contacts record with every describe field, as `query SELECT *` returns it.
inline nlohmann::json contact_record(int n, const std::string& modifiedtime = "2026-11-28 01:05:02") {
  static const auto describe = contacts_describe();
  nlohmann::json r = nlohmann::json::object();
  for (const auto& f : describe["fields"]) r[f["name"].get<std::string>()] = "";
  for (const char* flag :
       {"donotcall", "emailoptout", "reference", "notify_owner", "isconvertedfromlead", "starred", "portal"})
    r[flag] = "0";
  r["id"] = "12x" + std::to_string(n);
  r["firstname"] = "First" + std::to_string(n);
  r["lastname"] = "Last" + std::to_string(n);
  r["email"] = "c" + std::to_string(n) + "@example.invalid";
  r["contact_no"] = "CON" + std::to_string(n);
  r["assigned_user_id"] = "19x1";
  r["modifiedby"] = "19x1";
  r["createdtime"] = "2026-11-27 10:00:00";
  r["modifiedtime"] = modifiedtime;
  r["birthday"] = "1990-01-0" + std::to_string(1 + n % 9);
  r["source"] = "WEBSERVICE";
  r["label"] = "First" + std::to_string(n) + " Last" + std::to_string(n);
  return r;
}

inline std::vector<nlohmann::json> contact_records(int first, int count) {
  std::vector<nlohmann::json> out;
  for (int i = first; i < first + count; ++i) out.push_back(contact_record(i));
  return out;
}

class storage_test : public ::testing::Test {
 protected:
  void SetUp() override {
    admin = connect_blocking();
    exec_scalar(admin.get(), "SET client_min_messages = warning");
    state_schema = unique_schema("vts_state");
    mirror_schema = unique_schema("vts_mirror");
    options.state_schema = state_schema;
    options.mirror_schema = mirror_schema;
    conn = std::make_unique<st::connection>(io.get_executor(), connection_options());
    mirror_db = std::make_unique<st::mirror_rows>(*conn, options);
    cursors_db = std::make_unique<st::cursors>(*conn, options);
    backfill_db = std::make_unique<st::backfill_ranges>(*conn, options);
    run(st::migrate(*conn, state_schema));
    exec_scalar(admin.get(), "CREATE SCHEMA " + st::quote_ident(mirror_schema));
  }

  void TearDown() override {
    backfill_db.reset();
    cursors_db.reset();
    mirror_db.reset();
    conn.reset();
    exec_scalar(admin.get(), "DROP SCHEMA IF EXISTS " + st::quote_ident(mirror_schema) + " CASCADE");
    exec_scalar(admin.get(), "DROP SCHEMA IF EXISTS " + st::quote_ident(state_schema) + " CASCADE");
  }

  static st::connection_options connection_options() {
    st::connection_options o;
    o.conninfo = postgres_conninfo();
    o.call_timeout = std::chrono::seconds(30);
    return o;
  }

  template <class T>
  T run(boost::asio::awaitable<T> work) {
    return run_async(io, std::move(work));
  }

  // The table's DDL, as the daemon runs it (storage::ensure_mirror_table).
  boost::asio::awaitable<st::schema_change> ensure_table(const st::mirror_table& table) {
    return st::ensure_mirror_table(*conn, table, state_schema);
  }

  st::mirror_table contacts_table() {
    return vtsync::record::table_from_describe(mirror_schema, contacts_describe());
  }

  std::string scalar(const std::string& sql) { return exec_scalar(admin.get(), sql); }
  std::string mirror(const std::string& table) { return st::quote_ident(mirror_schema) + "." + table; }
  std::string state(const std::string& table) { return st::quote_ident(state_schema) + "." + table; }

  boost::asio::io_context io;
  pg_conn_ptr admin{nullptr, &PQfinish};
  std::string state_schema, mirror_schema;
  st::state_options options;
  std::unique_ptr<st::connection> conn;
  std::unique_ptr<st::mirror_rows> mirror_db;
  std::unique_ptr<st::cursors> cursors_db;
  std::unique_ptr<st::backfill_ranges> backfill_db;
};

}  // namespace vtsync::test

// bench_storage: how fast the page store writes pulled Contacts, compared with a plain COPY of the same
// rows on the same server.
//
//   build/bench_storage [--rows N] [--conninfo CONNINFO] [--keep]
//   (conninfo defaults to $VTSYNC_TEST_POSTGRES; --keep leaves the bench schemas for inspection)
//
// Upserts N generated 49-field Contacts (as Vtiger's describe of Contacts has them) in 100-row pages through
// vtsync::storage::mirror_rows::store_page after sync/record's conversion (each page one transaction with its
// cursor), stores the same pages again (nothing changed: no row is rewritten), then COPYs the same rows into
// a plain table. Prints rows/s for each and the ratio. Uses schemas of its own and drops them at the end.
#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/storage/columns.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"

namespace st = vtsync::storage;
namespace rec = vtsync::record;
namespace asio = boost::asio;
using nlohmann::json;

namespace {

// The 49 fields of Vtiger 8.2's describe of Contacts (recorded in 11-describe-contacts.json).
const std::vector<std::pair<const char*, const char*>> contact_fields = {{"salutationtype", "string"},
                                                                         {"firstname", "string"},
                                                                         {"contact_no", "string"},
                                                                         {"phone", "phone"},
                                                                         {"lastname", "string"},
                                                                         {"mobile", "phone"},
                                                                         {"account_id", "reference"},
                                                                         {"homephone", "phone"},
                                                                         {"leadsource", "picklist"},
                                                                         {"otherphone", "phone"},
                                                                         {"title", "string"},
                                                                         {"fax", "phone"},
                                                                         {"department", "string"},
                                                                         {"birthday", "date"},
                                                                         {"email", "email"},
                                                                         {"contact_id", "reference"},
                                                                         {"assistant", "string"},
                                                                         {"secondaryemail", "email"},
                                                                         {"assistantphone", "phone"},
                                                                         {"donotcall", "boolean"},
                                                                         {"emailoptout", "boolean"},
                                                                         {"assigned_user_id", "owner"},
                                                                         {"reference", "boolean"},
                                                                         {"notify_owner", "boolean"},
                                                                         {"createdtime", "datetime"},
                                                                         {"modifiedtime", "datetime"},
                                                                         {"modifiedby", "reference"},
                                                                         {"isconvertedfromlead", "boolean"},
                                                                         {"source", "string"},
                                                                         {"starred", "boolean"},
                                                                         {"tags", "string"},
                                                                         {"portal", "boolean"},
                                                                         {"support_start_date", "date"},
                                                                         {"support_end_date", "date"},
                                                                         {"mailingstreet", "text"},
                                                                         {"otherstreet", "text"},
                                                                         {"mailingcity", "string"},
                                                                         {"othercity", "string"},
                                                                         {"mailingstate", "string"},
                                                                         {"otherstate", "string"},
                                                                         {"mailingzip", "string"},
                                                                         {"otherzip", "string"},
                                                                         {"mailingcountry", "string"},
                                                                         {"othercountry", "string"},
                                                                         {"mailingpobox", "string"},
                                                                         {"otherpobox", "string"},
                                                                         {"description", "text"},
                                                                         {"imagename", "image"},
                                                                         {"id", "autogenerated"}};

json describe() {
  json fields = json::array();
  for (const auto& [name, type] : contact_fields)
    fields.push_back({{"name", name}, {"type", {{"name", type}}}});
  return {{"name", "Contacts"}, {"fields", fields}};
}

json record(int n) {
  json r = json::object();
  for (const auto& [name, type] : contact_fields) {
    const std::string t = type;
    if (t == "boolean") {
      r[name] = (n % 3 == 0) ? "1" : "0";
    } else if (t == "date") {
      r[name] = "19" + std::to_string(50 + n % 50) + "-0" + std::to_string(1 + n % 9) + "-1" +
                std::to_string(n % 10);
    } else if (t == "datetime") {
      r[name] = "2026-11-28 01:" + std::to_string(10 + n % 50) + ":0" + std::to_string(n % 10);
    } else if (t == "reference" || t == "owner") {
      r[name] = "19x1";
    } else {
      r[name] = std::string{name} + " value " + std::to_string(n);
    }
  }
  r["id"] = "12x" + std::to_string(n);
  r["label"] = "Contact " + std::to_string(n);
  return r;
}

void exec(PGconn* c, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(c, sql.c_str()), &PQclear};
  const auto s = PQresultStatus(r.get());
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_COPY_IN)
    throw std::runtime_error(sql + ": " + PQerrorMessage(c));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int rows = 20000;
  bool keep = false;
  std::string conninfo = std::getenv("VTSYNC_TEST_POSTGRES") ? std::getenv("VTSYNC_TEST_POSTGRES") : "";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--keep") {
      keep = true;
      continue;
    }
    if (i + 1 >= argc) break;
    ++i;
    if (arg == "--rows")
      rows = std::atoi(argv[i]);
    else if (arg == "--conninfo")
      conninfo = argv[i];
  }
  if (conninfo.empty() || rows <= 0) {
    std::cerr << "usage: bench_storage [--rows N] [--conninfo CONNINFO] (or set VTSYNC_TEST_POSTGRES)\n";
    return 2;
  }
  constexpr int page_size = 100;
  const std::string state_schema = "vtsync_bench_state", mirror_schema = "vtsync_bench";

  std::vector<json> records;
  records.reserve(static_cast<std::size_t>(rows));
  for (int i = 1; i <= rows; ++i) records.push_back(record(i));
  const auto table = vtsync::record::table_from_describe(mirror_schema, describe());

  std::unique_ptr<PGconn, decltype(&PQfinish)> admin{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(admin.get()) != CONNECTION_OK) {
    std::cerr << "bench_storage: cannot connect: " << PQerrorMessage(admin.get());
    return 1;
  }
  exec(admin.get(), "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + mirror_schema +
                        " CASCADE; DROP SCHEMA IF EXISTS " + state_schema + " CASCADE");

  asio::io_context io;
  st::connection_options options;
  options.conninfo = conninfo;
  st::connection conn{io.get_executor(), options};
  st::mirror_rows mirror{conn, {.state_schema = state_schema, .mirror_schema = mirror_schema}};
  double upsert_s = 0, noop_s = 0;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await st::migrate(conn, mirror.options().state_schema);
        co_await st::ensure_mirror_table(conn, table, mirror.options().state_schema);
        for (int pass = 0; pass < 2; ++pass) {
          const auto t0 = std::chrono::steady_clock::now();
          for (std::size_t first = 0; first < records.size(); first += page_size) {
            const auto count = std::min<std::size_t>(page_size, records.size() - first);
            const std::span<const json> page{records.data() + first, count};
            const auto& last = page.back();
            // A named options object: GCC 12 destroys a braced temporary inside co_await twice.
            st::page_options page_opts;
            page_opts.cursor =
                st::cursor_position{last["modifiedtime"].get<std::string>(), last["id"].get<std::string>()};
            // Converted as the pull converts its pages (record/table.hpp), inside the measured time.
            std::vector<vtsync::flat_record> flat;
            flat.reserve(page.size());
            for (const auto& r : page) flat.push_back(rec::to_flat_record(r));
            const auto rows_of_page = rec::to_rows(table, flat);
            co_await mirror.store_page(table, rows_of_page, page_opts);
          }
          (pass == 0 ? upsert_s : noop_s) = seconds_since(t0);
        }
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::cerr << "bench_storage: " << e.what() << "\n";
      return 1;
    }
  }

  // The same rows, converted the same way, COPYed into a plain table (no index but the key, no trigger).
  std::string columns = "vtiger_id";
  std::string ddl = "CREATE TABLE " + mirror_schema + ".copy_target (vtiger_id text PRIMARY KEY";
  for (const auto& c : table.columns) {
    columns += ", " + st::quote_ident(c.name);
    ddl += ", " + st::quote_ident(c.name) + " " + std::string{st::sql_type_name(c.type)};
  }
  exec(admin.get(), ddl + ")");
  const auto t0 = std::chrono::steady_clock::now();
  exec(admin.get(), "COPY " + mirror_schema + ".copy_target (" + columns + ") FROM STDIN");
  std::string buffer;
  for (const auto& r : records) {
    st::append_copy_field(buffer, r["id"].get<std::string>());
    for (const auto& c : table.columns) {
      buffer += '\t';
      auto v = rec::to_column_value(c.type, rec::to_flat_value(r[c.name])).text;
      if (v && c.type == st::column_type::timestamptz) *v += "+00";  // the bench's Vtiger zone is UTC
      st::append_copy_field(buffer, v);
    }
    buffer += '\n';
    if (buffer.size() > (1 << 20)) {
      PQputCopyData(admin.get(), buffer.data(), static_cast<int>(buffer.size()));
      buffer.clear();
    }
  }
  PQputCopyData(admin.get(), buffer.data(), static_cast<int>(buffer.size()));
  PQputCopyEnd(admin.get(), nullptr);
  std::unique_ptr<PGresult, decltype(&PQclear)> done{PQgetResult(admin.get()), &PQclear};
  if (PQresultStatus(done.get()) != PGRES_COMMAND_OK) {
    std::cerr << "bench_storage: COPY failed: " << PQerrorMessage(admin.get());
    return 1;
  }
  while (PGresult* extra = PQgetResult(admin.get())) PQclear(extra);
  const double copy_s = seconds_since(t0);

  const double upsert_rate = rows / upsert_s, noop_rate = rows / noop_s, copy_rate = rows / copy_s;
  std::printf("rows: %d in pages of %d, %zu columns\n", rows, page_size, table.columns.size() + 5);
  std::printf("page store (insert):    %10.0f rows/s  (%.2f s)\n", upsert_rate, upsert_s);
  std::printf("page store (unchanged): %10.0f rows/s  (%.2f s)\n", noop_rate, noop_s);
  std::printf("COPY into plain table:  %10.0f rows/s  (%.2f s)\n", copy_rate, copy_s);
  std::printf("page store / COPY:      %10.2f\n", upsert_rate / copy_rate);

  if (!keep)
    exec(admin.get(), "DROP SCHEMA IF EXISTS " + mirror_schema + " CASCADE; DROP SCHEMA IF EXISTS " +
                          state_schema + " CASCADE");
  return 0;
}

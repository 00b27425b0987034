#include "vtsync/storage/schema.hpp"

#include "sql_text.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace vtsync::storage {

const mirror_column* mirror_table::find(std::string_view name) const noexcept {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

std::string mirror_table::qualified_name() const { return quote_ident(schema) + "." + quote_ident(table); }

std::string table_name_for(std::string_view module) {
  std::string out{module};
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_internal_column(std::string_view name) noexcept { return detail::is_internal_name(name); }

namespace {

// PostgreSQL truncates longer identifiers silently, which could make two names one.
constexpr std::size_t max_identifier_bytes = 63;

}  // namespace

void check_identifier(std::string_view what, std::string_view name) {
  if (name.empty()) throw schema_error(std::string{what} + " has an empty name");
  if (name.size() > max_identifier_bytes)
    throw schema_error(std::string{what} + " name is longer than PostgreSQL's 63-byte limit");
  if (name.find('\0') != std::string_view::npos)
    throw schema_error(std::string{what} + " name contains a NUL character");
}

namespace {

// Skips the daemon's own writes before any PL/pgSQL runs (the functions check it again).
constexpr std::string_view not_daemon = "current_setting('vtsync.origin', true) IS DISTINCT FROM 'daemon'";

}  // namespace

asio::awaitable<void> install_write_refusal(connection& conn, const mirror_table& table,
                                            std::string_view state_schema) {
  const std::string qualified = table.qualified_name();
  const auto& r = table.refusal.value();
  // No capture: nothing local is ever pushed.
  co_await conn.execute(
      "DROP TRIGGER IF EXISTS _vtsync_mark_pending ON " + qualified +
      "; DROP TRIGGER IF EXISTS _vtsync_capture ON " + qualified +
      "; DROP TRIGGER IF EXISTS _vtsync_refuse_write ON " + qualified +
      "; CREATE TRIGGER _vtsync_refuse_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON " + qualified +
      " FOR EACH STATEMENT WHEN (" + std::string{not_daemon} + ") EXECUTE FUNCTION " +
      quote_ident(state_schema) + ".refuse_write(" + detail::quote_literal(r.what) + ", " +
      detail::quote_literal(r.detail) + ", " + detail::quote_literal(r.hint) + ")");
}

asio::awaitable<schema_change> ensure_mirror_table(connection& conn, const mirror_table& table,
                                                   std::string_view state_schema) {
  const std::string state = quote_ident(state_schema);
  const std::string qualified = table.qualified_name();
  const std::string lock_name = "vtsync.ddl:" + table.schema + "." + table.table;

  co_return co_await run_transaction(conn, [&](connection& c) -> asio::awaitable<schema_change> {
    schema_change change;
    // The schema's lock first (always in this order): CREATE SCHEMA IF NOT EXISTS is not safe against a
    // concurrent one (two daemons, or two modules, creating the same schema), the table's lock next.
    co_await c.query("SELECT pg_advisory_xact_lock($1::bigint)",
                     params(std::to_string(detail::lock_key("vtsync.ddl-schema:" + table.schema))));
    co_await c.query("SELECT pg_advisory_xact_lock($1::bigint)",
                     params(std::to_string(detail::lock_key(lock_name))));
    co_await c.execute("CREATE SCHEMA IF NOT EXISTS " + quote_ident(table.schema));

    // Existing columns with their types, if the table exists.
    auto existing = co_await c.query(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        params(qualified));
    std::map<std::string, std::string> columns;
    for (int r = 0; r < existing.rows(); ++r) columns.emplace(existing.value(r, 0), existing.value(r, 1));

    if (columns.empty()) {
      change.created = true;
      // _sync_base roughly doubles a row and is TOASTed: lz4 (when the server has it) compresses several
      // times faster than the default pglz, which shows in store_page's insert rate.
      auto lz4 = co_await c.query(
          "SELECT coalesce(bool_or('lz4' = ANY(enumvals)), false) FROM pg_settings "
          "WHERE name = 'default_toast_compression'");
      const std::string base_compression = lz4.value(0, 0) == "t" ? " COMPRESSION lz4" : "";
      std::string ddl =
          "CREATE TABLE " + qualified + " (_row_id bigserial PRIMARY KEY, vtiger_id text UNIQUE";
      for (const auto& col : table.columns) {
        ddl += ", " + quote_ident(col.name) + " " + std::string{sql_type_name(col.type)};
      }
      ddl +=
          ", _sync_state text NOT NULL DEFAULT 'pending'"
          " CHECK (_sync_state IN ('synced', 'pending', 'failed', 'deleted'))"
          ", _sync_error text, _sync_base text" +
          base_compression + ")";
      co_await c.execute(ddl);
    } else {
      std::string alter;
      for (const auto& col : table.columns) {
        const auto it = columns.find(col.name);
        if (it == columns.end()) {
          alter += (alter.empty() ? "ALTER TABLE " + qualified + " " : std::string{", "}) + "ADD COLUMN " +
                   quote_ident(col.name) + " " + std::string{sql_type_name(col.type)};
          change.added_columns.push_back(col.name);
        } else if (column_type_from_sql(it->second) != col.type) {
          change.type_mismatches.push_back(col.name + ": column is " + it->second + ", describe says " +
                                           col.vtiger_type);
        }
      }
      // Tables made before _sync_base became text (it was jsonb): convert once. jsonb's text form differs
      // from ours in spacing, so each row is rewritten once more when it is next pulled.
      if (const auto base = columns.find("_sync_base"); base != columns.end() && base->second == "jsonb") {
        alter += (alter.empty() ? "ALTER TABLE " + qualified + " " : std::string{", "}) +
                 "ALTER COLUMN _sync_base TYPE text USING _sync_base::text";
      }
      if (!alter.empty()) co_await c.execute(alter);
      for (const auto& [name, type] : columns) {
        if (!detail::is_internal_name(name) && table.find(name) == nullptr)
          change.kept_columns.push_back(name);
      }
    }

    // A small partial index of the rows with local changes: store_page looks them up on every page,
    // and without it that lookup scans the whole table (quadratic over a backfill).
    char index_name[40];
    std::snprintf(index_name, sizeof index_name, "_vtsync_local_%016llx",
                  static_cast<unsigned long long>(detail::lock_key(table.schema + "." + table.table)));
    co_await c.execute("CREATE INDEX IF NOT EXISTS " + quote_ident(index_name) + " ON " + qualified +
                       " (vtiger_id) WHERE _sync_state IN ('pending', 'failed')");
    // The live rows' id numbers, covering vtiger_id: the deletion detection counts and lists rows per id
    // range (mirror_ranges.cpp) with index-only scans. (It replaces `_vtsync_idnum_`, a plain expression
    // index that made each count fetch every row and evaluate the id's regex again: seconds at 100,000.)
    const auto key = static_cast<unsigned long long>(detail::lock_key(table.schema + "." + table.table));
    std::snprintf(index_name, sizeof index_name, "_vtsync_idnum_%016llx", key);
    const std::string old_index = quote_ident(table.schema) + "." + quote_ident(index_name);
    // Looked up first: a "does not exist, skipping" notice would put the name's hash in the debug log.
    auto old = co_await c.query("SELECT to_regclass($1) IS NOT NULL", params(old_index));
    if (old.value(0, 0) == std::string_view{"t"}) co_await c.execute("DROP INDEX " + old_index);
    std::snprintf(index_name, sizeof index_name, "_vtsync_live_%016llx", key);
    co_await c.execute("CREATE INDEX IF NOT EXISTS " + quote_ident(index_name) + " ON " + qualified + " ((" +
                       detail::id_number_of("vtiger_id") +
                       ")) INCLUDE (vtiger_id) WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted'");

    if (!table.refusal) {
      // (Re)install the capture triggers: the function bodies live in the state schema (migrations).
      const std::string when = " FOR EACH ROW WHEN (" + std::string{not_daemon} + ") EXECUTE FUNCTION ";
      co_await c.execute("DROP TRIGGER IF EXISTS _vtsync_refuse_write ON " + qualified +
                         "; DROP TRIGGER IF EXISTS _vtsync_mark_pending ON " + qualified +
                         "; CREATE TRIGGER _vtsync_mark_pending BEFORE INSERT OR UPDATE ON " + qualified +
                         when + state + ".mark_pending()" + "; DROP TRIGGER IF EXISTS _vtsync_capture ON " +
                         qualified + "; CREATE TRIGGER _vtsync_capture AFTER INSERT OR UPDATE OR DELETE ON " +
                         qualified + when + state + ".capture(" + detail::quote_literal(table.module) + ")");
    } else {
      co_await install_write_refusal(c, table, state_schema);
    }
    co_await c.query("INSERT INTO " + state +
                         ".mirror_tables (schema_name, table_name, module) VALUES ($1, $2, $3) "
                         "ON CONFLICT (schema_name, table_name) DO UPDATE SET module = EXCLUDED.module",
                     params(table.schema, table.table, table.module));
    co_return change;
  });
}

}  // namespace vtsync::storage

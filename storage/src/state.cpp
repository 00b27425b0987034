#include "vtsync/storage/state.hpp"

#include "sql_text.hpp"
#include "vtsync/storage/columns.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

namespace vtsync::storage {

namespace {

std::int64_t to_i64(std::string_view s) { return s.empty() ? 0 : std::stoll(std::string{s}); }

outbox_op op_from(std::string_view s) {
  if (s == "insert") return outbox_op::insert;
  if (s == "update") return outbox_op::update;
  return outbox_op::remove;
}

nlohmann::json parse_json(std::string_view text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text);
}

// The rows of a batch as a row source for SQL: ROWS FROM (unnest($1::text[]), unnest($3::text[]), ...)
// AS r(vtiger_id, _sync_base, <columns>), with $2 the Vtiger server's zone. Column-major parameters, one
// text[] per column unnested side by side: much cheaper for the server than a JSON document per page (no
// per-row object lookups), and ROWS FROM has no limit on columns. The pull's upsert and the push's
// write-back both read their rows from it, so both convert values in the same way (converted_columns).
std::string rows_source(const mirror_table& table) {
  std::string unnest = "unnest($1::text[]), unnest($3::text[])";
  std::string aliases = "vtiger_id, _sync_base";
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    unnest += ", unnest($" + std::to_string(i + 4) + "::text[])";
    aliases += ", " + quote_ident(table.columns[i].name);
  }
  return "ROWS FROM (" + unnest + ") AS r(" + aliases + ")";
}

// The parameters of rows_source(), and `extra` after them ($<columns + 4>...).
std::vector<param> rows_params(const row_batch& rows, const std::string& zone) {
  std::vector<param> values;
  values.reserve(rows.columns.size() + 4);
  values.emplace_back(detail::array_literal(rows.vtiger_ids));
  values.emplace_back(zone);
  values.emplace_back(detail::array_literal(rows.bases));
  for (const auto& column : rows.columns) values.emplace_back(detail::array_literal(column));
  return values;
}

}  // namespace

std::vector<backfill_range> split_id_range(std::int64_t lower, std::int64_t upper, int parts) {
  std::vector<backfill_range> out;
  if (upper < lower || parts < 1) return out;
  const auto span = static_cast<unsigned long long>(upper - lower) + 1ull;
  const auto count = std::min<unsigned long long>(span, static_cast<unsigned long long>(parts));
  const auto step = span / count, extra = span % count;
  std::int64_t next = lower;
  for (unsigned long long i = 0; i < count; ++i) {
    const auto size = step + (i < extra ? 1 : 0);
    backfill_range r;
    r.range_no = static_cast<int>(i);
    r.lower_id = next;
    r.upper_id = static_cast<std::int64_t>(static_cast<unsigned long long>(next) + size - 1);
    out.push_back(r);
    next = r.upper_id + 1;
  }
  return out;
}

store::store(connection& conn, state_options options) : conn_(conn), options_(std::move(options)) {}

asio::awaitable<int> store::migrate() { co_return co_await storage::migrate(conn_, options_.state_schema); }

asio::awaitable<schema_change> store::ensure_table(const mirror_table& table) {
  co_return co_await ensure_mirror_table(conn_, table, options_.state_schema);
}

asio::awaitable<page_result> store::store_page(const mirror_table& table, const row_batch& rows,
                                               const page_options& options) {
  page_result outcome;
  outcome.malformed_values = rows.malformed;
  const std::string target = table.qualified_name();
  const bool keep_local = options.on_local_changes == local_changes::keep;

  // COPY first when the last page of this table was all new (see store_page in state.hpp).
  const bool try_copy = !rows.empty() && !upsert_first_.contains(target);
  const std::string copy_data = try_copy ? detail::copy_rows(rows) : std::string{};
  const std::string copy_sql = "COPY " + target + " (" + detail::copy_column_list(table) + ") FROM STDIN";
  // COPY reads a timestamptz in the session's zone (the upsert names the zone instead). The zone is an
  // IANA name (config checks it); the savepoint's rollback undoes the setting too, and so does COMMIT.
  const std::string copy_setup = "SAVEPOINT vtsync_copy; SELECT set_config('TimeZone', " +
                                 detail::quote_literal(options_.vtiger_timezone) + ", true)";

  // Built only when the page is upserted.
  std::vector<param> values;
  const auto upsert_values = [&]() -> const std::vector<param>& {
    if (values.empty()) values = rows_params(rows, options_.vtiger_timezone);
    return values;
  };

  // One statement for the whole page: stage the rows, upsert them, and leave rows whose content is already
  // equal untouched (no new row version, no trigger, no bloat).
  std::string set_list, old_values, new_values;
  for (const auto& c : table.columns) {
    const auto q = quote_ident(c.name);
    set_list.append(q).append(" = EXCLUDED.").append(q).append(", ");
    old_values.append("t.").append(q).append(", ");
    new_values.append("EXCLUDED.").append(q).append(", ");
  }
  std::string sql = "WITH r AS (SELECT * FROM " + rows_source(table) + "), up AS (INSERT INTO " + target +
                    " AS t (" + detail::column_list(table) + ", _sync_state, _sync_error) SELECT " +
                    detail::converted_columns(table, "r", "z.zone") +
                    ", 'synced', NULL FROM r, (SELECT $2::text AS zone) z " +
                    "ON CONFLICT (vtiger_id) DO UPDATE SET " + set_list +
                    "_sync_base = EXCLUDED._sync_base, _sync_state = 'synced', _sync_error = NULL WHERE (" +
                    old_values + "t._sync_base, t._sync_state, t._sync_error) IS DISTINCT FROM (" +
                    new_values + "EXCLUDED._sync_base, 'synced', NULL)" +
                    (keep_local ? " AND t._sync_state NOT IN ('pending', 'failed')" : "") +
                    " RETURNING (t.xmax = 0) AS inserted)" +
                    (keep_local ? ", sk AS (SELECT t.vtiger_id FROM " + target +
                                      " t JOIN r ON t.vtiger_id = r.vtiger_id"
                                      " WHERE t._sync_state IN ('pending', 'failed'))"
                                : std::string{}) +
                    " SELECT (SELECT count(*) FILTER (WHERE inserted) FROM up), "
                    "(SELECT count(*) FILTER (WHERE NOT inserted) FROM up), " +
                    (keep_local ? "(SELECT coalesce(jsonb_agg(vtiger_id ORDER BY vtiger_id), '[]') FROM sk)"
                                : "'[]'::jsonb");

  // (A named string, not a ?: temporary: GCC 12 destroys such a coroutine argument twice.)
  std::string prologue;
  if (try_copy) prologue = copy_setup;
  const std::string state = quote_ident(options_.state_schema);
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<page_result> {
        page_result r = outcome;
        bool copied = false;
        // The savepoint was set with the BEGIN (copy_setup); unused on a retry that knows better.
        if (try_copy && !upsert_first_.contains(target)) {
          try {
            // No RELEASE (a round trip per page): COMMIT releases the savepoint and ends the zone setting,
            // and the statements left in this transaction read no timestamptz text.
            const auto res = co_await c.copy_in(copy_sql, copy_data);
            r.inserted = static_cast<std::size_t>(res.affected_rows());
            r.copied = copied = true;
          } catch (const pg_error& e) {
            if (e.retryable()) throw;
            // A stored id (unique violation), or anything else: the upsert handles the page.
            if (e.kind() == error_kind::data) {
              spdlog::debug("{}: COPY met stored rows ({}): upserting", target, e.what());
            } else {
              spdlog::warn("{}: COPY failed ({}): upserting", target, e.what());
            }
            upsert_first_.insert(target);
          }
          if (!copied) co_await c.execute("ROLLBACK TO SAVEPOINT vtsync_copy; RELEASE SAVEPOINT vtsync_copy");
        }
        if (!copied && !rows.empty()) {
          auto res = co_await c.query(sql, upsert_values());
          r.inserted = static_cast<std::size_t>(to_i64(res.value(0, 0)));
          r.updated = static_cast<std::size_t>(to_i64(res.value(0, 1)));
          for (const auto& id : parse_json(res.value(0, 2))) r.skipped_local.push_back(id.get<std::string>());
          r.unchanged = rows.size() - r.inserted - r.updated - r.skipped_local.size();
          if (r.inserted == rows.size()) upsert_first_.erase(target);  // all new: COPY the next page
        }
        if (options.before_progress) options.before_progress();
        if (options.cursor) {
          co_await c.query(
              "INSERT INTO " + state +
                  ".cursors (schema_name, module, modifiedtime, last_id, last_success_at, "
                  "updated_at) VALUES ($1, $2, $3, $4, now(), now()) "
                  "ON CONFLICT (schema_name, module) DO UPDATE SET modifiedtime = "
                  "EXCLUDED.modifiedtime, last_id = EXCLUDED.last_id, last_success_at = now(), "
                  "updated_at = now()",
              params(table.schema, table.module, options.cursor->modifiedtime, options.cursor->last_id));
        }
        if (options.backfill) {
          auto res =
              co_await c.query("UPDATE " + state +
                                   ".backfill_ranges SET last_id_done = $4, done = $5, updated_at = "
                                   "now() WHERE schema_name = $1 AND module = $2 AND range_no = $3",
                               params(table.schema, table.module, std::to_string(options.backfill->range_no),
                                      std::to_string(options.backfill->last_id_done),
                                      options.backfill->done ? "true" : "false"));
          if (res.affected_rows() != 1) {
            throw pg_error(error_kind::other, "",
                           "no backfill range " + std::to_string(options.backfill->range_no) +
                               " planned for " + table.module);
          }
        }
        co_return r;
      },
      options_.retry, prologue);
}

asio::awaitable<std::optional<cursor_position>> store::load_cursor(std::string_view module) {
  auto res = co_await conn_.query(
      "SELECT modifiedtime, coalesce(last_id, '') FROM " + quote_ident(options_.state_schema) +
          ".cursors WHERE schema_name = $1 AND module = $2 AND modifiedtime IS NOT NULL",
      params(options_.mirror_schema, std::string{module}));
  if (res.rows() == 0) co_return std::nullopt;
  co_return cursor_position{std::string{res.value(0, 0)}, std::string{res.value(0, 1)}};
}

asio::awaitable<std::vector<module_cursor>> store::load_cursors() {
  auto res = co_await conn_.query(
      "SELECT module, modifiedtime, coalesce(last_id, ''), "
      "to_char(last_success_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "extract(epoch FROM now() - last_success_at)::bigint FROM " +
          quote_ident(options_.state_schema) + ".cursors WHERE schema_name = $1 ORDER BY module",
      params(options_.mirror_schema));
  std::vector<module_cursor> out;
  for (int i = 0; i < res.rows(); ++i) {
    module_cursor m;
    m.module = res.value(i, 0);
    if (!res.is_null(i, 1))
      m.position = cursor_position{std::string{res.value(i, 1)}, std::string{res.value(i, 2)}};
    m.last_success_at = res.get(i, 3);
    if (!res.is_null(i, 4)) m.lag_seconds = to_i64(res.value(i, 4));
    out.push_back(std::move(m));
  }
  co_return out;
}

asio::awaitable<void> store::record_success(std::string_view module) {
  const std::string sql = "INSERT INTO " + quote_ident(options_.state_schema) +
                          ".cursors (schema_name, module, last_success_at) VALUES ($1, $2, now()) "
                          "ON CONFLICT (schema_name, module) DO UPDATE SET last_success_at = now(), "
                          "updated_at = now()";
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query(sql, params(options_.mirror_schema, std::string{module}));
      },
      options_.retry);
}

asio::awaitable<std::size_t> store::apply_remote_deletes(const mirror_table& table,
                                                         std::span<const std::string> vtiger_ids,
                                                         remote_delete mode) {
  if (vtiger_ids.empty()) co_return 0;
  const std::string ids = text_array_literal({vtiger_ids.begin(), vtiger_ids.end()});
  const std::string sql =
      mode == remote_delete::remove
          ? "DELETE FROM " + table.qualified_name() + " WHERE vtiger_id = ANY($1::text[])"
          : "UPDATE " + table.qualified_name() +
                " SET _sync_state = 'deleted' WHERE vtiger_id = ANY($1::text[]) AND _sync_state <> 'deleted'";
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<std::size_t> {
        auto res = co_await c.query(sql, params(ids));
        co_return static_cast<std::size_t>(res.affected_rows());
      },
      options_.retry);
}

asio::awaitable<std::vector<std::string>> store::list_vtiger_ids(const mirror_table& table,
                                                                 std::string_view after, int limit) {
  auto res = co_await conn_.query(
      "SELECT vtiger_id FROM " + table.qualified_name() + " WHERE vtiger_id > $1 ORDER BY vtiger_id LIMIT $2",
      params(std::string{after}, std::to_string(limit)));
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(res.rows()));
  for (int i = 0; i < res.rows(); ++i) out.emplace_back(res.value(i, 0));
  co_return out;
}

asio::awaitable<std::optional<std::pair<std::int64_t, std::int64_t>>> store::local_id_range(
    const mirror_table& table) {
  auto res = co_await conn_.query(
      "SELECT min(n), max(n) FROM (SELECT substring(vtiger_id FROM 'x([0-9]{1,18})$')"
      "::bigint AS n FROM " +
      table.qualified_name() + ") ids");
  if (res.is_null(0, 0)) co_return std::nullopt;
  co_return std::pair{to_i64(res.value(0, 0)), to_i64(res.value(0, 1))};
}

asio::awaitable<void> store::plan_backfill(std::string_view module, std::span<const backfill_range> ranges) {
  auto plan = nlohmann::json::array();
  for (const auto& r : ranges) {
    plan.push_back(
        {{"range_no", r.range_no},
         {"lower_id", r.lower_id},
         {"upper_id", r.upper_id},
         {"last_id_done", r.last_id_done ? nlohmann::json(*r.last_id_done) : nlohmann::json(nullptr)},
         {"done", r.done}});
  }
  const std::string state = quote_ident(options_.state_schema);
  const std::string plan_param = detail::to_param(plan);
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query("DELETE FROM " + state + ".backfill_ranges WHERE schema_name = $1 AND module = $2",
                         params(options_.mirror_schema, std::string{module}));
        co_await c.query(
            "INSERT INTO " + state +
                ".backfill_ranges (schema_name, module, range_no, lower_id, upper_id, last_id_done, "
                "done) SELECT $1, $2, p.range_no, p.lower_id, p.upper_id, p.last_id_done, p.done "
                "FROM jsonb_to_recordset($3::jsonb) AS p(range_no integer, lower_id bigint, "
                "upper_id bigint, last_id_done bigint, done boolean)",
            params(options_.mirror_schema, std::string{module}, plan_param));
      },
      options_.retry);
}

asio::awaitable<std::vector<backfill_range>> store::load_backfill(std::string_view module) {
  auto res = co_await conn_.query(
      "SELECT range_no, lower_id, upper_id, last_id_done, done FROM " + quote_ident(options_.state_schema) +
          ".backfill_ranges WHERE schema_name = $1 AND module = $2 ORDER BY range_no",
      params(options_.mirror_schema, std::string{module}));
  std::vector<backfill_range> out;
  for (int i = 0; i < res.rows(); ++i) {
    backfill_range r;
    r.range_no = static_cast<int>(to_i64(res.value(i, 0)));
    r.lower_id = to_i64(res.value(i, 1));
    r.upper_id = to_i64(res.value(i, 2));
    if (!res.is_null(i, 3)) r.last_id_done = to_i64(res.value(i, 3));
    r.done = res.value(i, 4) == "t";
    out.push_back(r);
  }
  co_return out;
}

asio::awaitable<std::vector<outbox_entry>> store::claim(int limit) {
  const std::string s = quote_ident(options_.state_schema);
  const std::string sql =
      "WITH c AS (SELECT o.id FROM " + s +
      ".outbox o WHERE o.state = 'pending' AND o.schema_name = $2 AND NOT EXISTS (SELECT 1 FROM " + s +
      ".outbox p WHERE p.schema_name = o.schema_name AND p.table_name = o.table_name AND p.row_id = o.row_id "
      "AND p.id < o.id AND p.state IN ('pending', 'in_flight')) ORDER BY o.id LIMIT $1 FOR UPDATE SKIP "
      "LOCKED), "
      "claimed AS (UPDATE " +
      s +
      ".outbox o SET state = 'in_flight', attempts = o.attempts + 1, updated_at = clock_timestamp() FROM c "
      "WHERE o.id = c.id RETURNING o.*) "
      "SELECT k.id, k.schema_name, k.table_name, k.module, k.row_id, k.vtiger_id, k.op, "
      "to_jsonb(k.changed_columns)::text, k.old_values::text, k.new_values::text, k.attempts, "
      "coalesce(k.idempotency_key, ''), k.created_at::text FROM claimed k ORDER BY k.id";
  auto res = co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<result> {
        co_return co_await c.query(sql, params(std::to_string(limit), options_.mirror_schema));
      },
      options_.retry);

  std::vector<outbox_entry> out;
  for (int i = 0; i < res.rows(); ++i) {
    outbox_entry e;
    e.id = to_i64(res.value(i, 0));
    e.schema = res.value(i, 1);
    e.table = res.value(i, 2);
    e.module = res.value(i, 3);
    e.row_id = to_i64(res.value(i, 4));
    e.vtiger_id = res.get(i, 5);
    e.op = op_from(res.value(i, 6));
    for (const auto& col : parse_json(res.value(i, 7))) e.changed_columns.push_back(col.get<std::string>());
    e.old_values = parse_json(res.value(i, 8));
    e.new_values = parse_json(res.value(i, 9));
    e.attempts = static_cast<int>(to_i64(res.value(i, 10)));
    e.idempotency_key = res.value(i, 11);
    e.created_at = res.value(i, 12);
    out.push_back(std::move(e));
  }
  co_return out;
}

asio::awaitable<void> store::mark_done(const mirror_table& table, const outbox_entry& entry,
                                       const std::optional<row_batch>& written_back) {
  const std::string s = quote_ident(options_.state_schema);
  const std::string target = table.qualified_name();
  const bool write_back = written_back && written_back->size() == 1;
  std::optional<std::string> vtiger_id;
  if (write_back) vtiger_id = written_back->vtiger_ids.front();
  const std::string row_id = std::to_string(entry.row_id);
  std::vector<param> write_back_params;
  if (write_back) {
    write_back_params = rows_params(*written_back, options_.vtiger_timezone);
    write_back_params.emplace_back(row_id);
  }
  const std::string write_back_sql =
      "UPDATE " + target + " AS t SET (" + detail::column_list(table) +
      ", _sync_state, _sync_error) = (SELECT " + detail::converted_columns(table, "r", "z.zone") +
      ", 'synced', NULL FROM " + rows_source(table) + ", (SELECT $2::text AS zone) z) WHERE t._row_id = $" +
      std::to_string(table.columns.size() + 4);
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query("UPDATE " + s +
                             ".outbox SET state = 'done', error = NULL, updated_at = clock_timestamp() "
                             "WHERE id = $1",
                         params(std::to_string(entry.id)));
        if (entry.op == outbox_op::remove) co_return;
        auto later =
            co_await c.query("SELECT EXISTS (SELECT 1 FROM " + s +
                                 ".outbox WHERE schema_name = $1 AND table_name = $2 AND row_id = $3 "
                                 "AND id > $4 AND state IN ('pending', 'in_flight'))",
                             params(table.schema, table.table, row_id, std::to_string(entry.id)));
        const bool changed_again = later.value(0, 0) == "t";
        if (vtiger_id) {
          // The pull may have stored the new record as a row of its own before we got here: merge it away.
          co_await c.query("DELETE FROM " + target + " WHERE vtiger_id = $1 AND _row_id <> $2",
                           params(*vtiger_id, row_id));
          co_await c.query(
              "UPDATE " + s +
                  ".outbox SET vtiger_id = $1 WHERE schema_name = $2 AND table_name = $3 AND row_id = $4 "
                  "AND vtiger_id IS NULL",
              params(*vtiger_id, table.schema, table.table, row_id));
        }
        if (write_back && !changed_again) {
          co_await c.query(write_back_sql, write_back_params);
        } else if (write_back) {
          // The user changed the row again meanwhile: keep those values (their entry is still to push).
          co_await c.query("UPDATE " + target +
                               " SET vtiger_id = coalesce($1, vtiger_id), _sync_base = $2 WHERE _row_id = $3",
                           params(vtiger_id, written_back->bases.front(), row_id));
        } else if (!changed_again) {
          co_await c.query(
              "UPDATE " + target + " SET _sync_state = 'synced', _sync_error = NULL WHERE _row_id = $1",
              params(row_id));
        }
      },
      options_.retry);
}

asio::awaitable<void> store::mark_failed(const outbox_entry& entry, std::string_view error) {
  const std::string s = quote_ident(options_.state_schema);
  const std::string target = quote_ident(entry.schema) + "." + quote_ident(entry.table);
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query(
            "UPDATE " + s +
                ".outbox SET state = 'failed', error = $2, updated_at = clock_timestamp() WHERE id = $1",
            params(std::to_string(entry.id), std::string{error}));
        if (entry.op != outbox_op::remove) {
          co_await c.query(
              "UPDATE " + target + " SET _sync_state = 'failed', _sync_error = $2 WHERE _row_id = $1",
              params(std::to_string(entry.row_id), std::string{error}));
        }
      },
      options_.retry);
}

asio::awaitable<void> store::release(const outbox_entry& entry, std::string_view error) {
  const std::string sql = "UPDATE " + quote_ident(options_.state_schema) +
                          ".outbox SET state = 'pending', error = $2, updated_at = clock_timestamp() "
                          "WHERE id = $1 AND state = 'in_flight'";
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query(sql, params(std::to_string(entry.id), std::string{error}));
      },
      options_.retry);
}

asio::awaitable<std::size_t> store::reset_in_flight() {
  const std::string sql =
      "UPDATE " + quote_ident(options_.state_schema) +
      ".outbox SET state = 'pending', updated_at = clock_timestamp() WHERE state = 'in_flight' "
      "AND schema_name = $1";
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<std::size_t> {
        co_return static_cast<std::size_t>(
            (co_await c.query(sql, params(options_.mirror_schema))).affected_rows());
      },
      options_.retry);
}

asio::awaitable<std::size_t> store::retry_failed(std::string_view module) {
  const std::string sql = "UPDATE " + quote_ident(options_.state_schema) +
                          ".outbox SET state = 'pending', updated_at = clock_timestamp() "
                          "WHERE state = 'failed' AND ($1 = '' OR module = $1) AND schema_name = $2";
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<std::size_t> {
        co_return static_cast<std::size_t>(
            (co_await c.query(sql, params(std::string{module}, options_.mirror_schema))).affected_rows());
      },
      options_.retry);
}

asio::awaitable<outbox_counts> store::count_outbox(std::string_view module) {
  auto res = co_await conn_.query(
      "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'in_flight'), "
      "count(*) FILTER (WHERE state = 'failed') FROM " +
          quote_ident(options_.state_schema) +
          ".outbox WHERE state <> 'done' AND ($1 = '' OR module = $1) "
          "AND schema_name = $2",
      params(std::string{module}, options_.mirror_schema));
  co_return outbox_counts{to_i64(res.value(0, 0)), to_i64(res.value(0, 1)), to_i64(res.value(0, 2))};
}

asio::awaitable<void> store::notify_outbox(std::string_view payload) {
  const std::string channel{outbox_channel};
  (void)co_await conn_.query("SELECT pg_notify($1, $2)", params(channel, std::string{payload}));
}

asio::awaitable<void> store::log_conflict(const conflict_record& conflict) {
  const std::string sql = "INSERT INTO " + quote_ident(options_.state_schema) +
                          ".conflicts (module, vtiger_id, field, local_value, remote_value, decision, "
                          "schema_name) VALUES ($1, $2, $3, $4, $5, $6, $7)";
  co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<void> {
        co_await c.query(sql,
                         params(conflict.module, conflict.vtiger_id, conflict.field, conflict.local_value,
                                conflict.remote_value, conflict.decision, options_.mirror_schema));
      },
      options_.retry);
}

}  // namespace vtsync::storage

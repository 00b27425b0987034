#include "vtsync/storage/state.hpp"

#include "sql_text.hpp"
#include "vtsync/storage/columns.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

namespace vtsync::storage {

namespace {

std::int64_t to_i64(std::string_view s) { return s.empty() ? 0 : std::stoll(std::string{s}); }

nlohmann::json parse_json(std::string_view text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text);
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
    if (values.empty()) values = detail::rows_params(rows, options_.vtiger_timezone);
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
  std::string sql = "WITH r AS (SELECT * FROM " + detail::rows_source(table) + "), up AS (INSERT INTO " +
                    target + " AS t (" + detail::column_list(table) + ", _sync_state, _sync_error) SELECT " +
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

}  // namespace vtsync::storage

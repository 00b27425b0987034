// The mirror rows repository (mirror_rows.hpp): pulled pages, remote deletions, the local id range.
#include "vtsync/storage/mirror_rows.hpp"

#include "sql_text.hpp"

#include <spdlog/spdlog.h>

namespace vtsync::storage {

mirror_rows::mirror_rows(connection& conn, state_options options)
    : conn_(conn), options_(std::move(options)) {}

asio::awaitable<page_result> mirror_rows::store_page(const mirror_table& table, const row_batch& rows,
                                                     const page_options& options) {
  page_result outcome;
  outcome.malformed_values = rows.malformed;
  const std::string target = table.qualified_name();
  const bool keep_local = options.on_local_changes == local_changes::keep;

  // COPY first when the last page of this table was all new (see store_page in mirror_rows.hpp).
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
          r.inserted = static_cast<std::size_t>(detail::to_i64(res.value(0, 0)));
          r.updated = static_cast<std::size_t>(detail::to_i64(res.value(0, 1)));
          for (const auto& id : detail::parse_json(res.value(0, 2)))
            r.skipped_local.push_back(id.get<std::string>());
          r.unchanged = rows.size() - r.inserted - r.updated - r.skipped_local.size();
          if (r.inserted == rows.size()) upsert_first_.erase(target);  // all new: COPY the next page
        }
        if (options.with_rows) co_await options.with_rows(c);
        if (options.before_progress) options.before_progress();
        if (options.cursor) {
          co_await cursors::save(c, options_.state_schema, table.schema, table.module, *options.cursor);
        }
        if (options.backfill) {
          co_await backfill_ranges::save_progress(c, options_.state_schema, table.schema, table.module,
                                                  *options.backfill);
        }
        co_return r;
      },
      options_.retry, prologue);
}

asio::awaitable<std::size_t> mirror_rows::apply_remote_deletes(const mirror_table& table,
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
        // Their links in the schema's related lists (relations.hpp), as the source or the related record:
        // Vtiger lists no link of a deleted record, and may never move the other side's modifiedtime.
        const std::string relations = quote_ident(table.schema) + ".relations";
        auto exists = co_await c.query("SELECT to_regclass($1) IS NOT NULL", params(relations));
        if (exists.value(0, 0) == "t")
          co_await c.query("DELETE FROM " + relations +
                               " WHERE source_id = ANY($1::text[]) OR related_id = ANY($1::text[])",
                           params(ids));
        co_return static_cast<std::size_t>(res.affected_rows());
      },
      options_.retry);
}

asio::awaitable<std::optional<std::pair<std::int64_t, std::int64_t>>> mirror_rows::local_id_range(
    const mirror_table& table) {
  auto res = co_await conn_.query("SELECT min(n), max(n) FROM (SELECT " + detail::id_number_of("vtiger_id") +
                                  " AS n FROM " + table.qualified_name() +
                                  " WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted') ids");
  if (res.is_null(0, 0)) co_return std::nullopt;
  co_return std::pair{detail::to_i64(res.value(0, 0)), detail::to_i64(res.value(0, 1))};
}

}  // namespace vtsync::storage

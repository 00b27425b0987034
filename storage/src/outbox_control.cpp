// What operators do with the outbox (outbox.hpp): list the open entries (`vtsyncd pending`), give up
// rejected changes (`vtsyncd discard`), and prune done entries past sync.outbox_retention.
#include "sql_text.hpp"
#include "vtsync/storage/outbox.hpp"

namespace vtsync::storage {

using detail::to_i64;

asio::awaitable<std::vector<open_entry>> outbox::list_open(std::span<const mirror_table> tables,
                                                           std::string_view module, int limit) {
  const auto turn = co_await gate_.enter();
  const std::string sql =
      "SELECT " + entry_columns() + ", k.state, coalesce(k.error, ''), k.updated_at::text FROM " +
      quote_ident(options_.state_schema) +
      ".outbox k WHERE k.state IN ('pending', 'in_flight', 'failed') AND k.schema_name = $1 "
      "AND ($2 = '' OR k.module = $2) ORDER BY k.id LIMIT $4";
  auto res = co_await conn_.query(sql, params(options_.mirror_schema, std::string{module},
                                              options_.vtiger_timezone, std::to_string(limit)));
  std::vector<outbox_entry> entries;
  std::vector<open_entry> out;
  for (int i = 0; i < res.rows(); ++i) {
    entries.push_back(read_entry(res, i));
    open_entry o;
    o.state = res.value(i, 14);
    o.error = res.value(i, 15);
    o.since = res.value(i, 16);
    out.push_back(std::move(o));
  }
  co_await load_rows(tables, entries);
  for (std::size_t i = 0; i < out.size(); ++i) out[i].entry = std::move(entries[i]);
  co_return out;
}

asio::awaitable<std::vector<failed_row>> outbox::failed_rows(const discard_selector& which) {
  const auto turn = co_await gate_.enter();
  const std::string o = quote_ident(options_.state_schema) + ".outbox";
  const std::string same_row =
      " WHERE e.schema_name = f.schema_name AND e.table_name = f.table_name AND e.row_id = f.row_id";
  const std::string sql =
      "WITH f AS (SELECT DISTINCT schema_name, table_name, module, row_id FROM " + o +
      " WHERE state = 'failed' AND schema_name = $1 AND ($2 = '' OR module = $2) AND ($3 = '' OR "
      "table_name = $3) AND ($4::bigint IS NULL OR row_id = $4::bigint) AND ($5 = '' OR vtiger_id = $5)) "
      "SELECT f.schema_name, f.table_name, f.module, f.row_id, "
      "(SELECT e.vtiger_id FROM " +
      o + " e" + same_row +
      " AND e.vtiger_id IS NOT NULL ORDER BY e.id DESC LIMIT 1), "
      "(SELECT max(e.id) FROM " +
      o + " e" + same_row +
      " AND e.state IN ('pending', 'failed')), "
      "(SELECT to_jsonb(array_agg(e.op ORDER BY e.id))::text FROM " +
      o + " e" + same_row +
      " AND e.state = 'failed'), "
      "(SELECT e.error FROM " +
      o + " e" + same_row +
      " AND e.state = 'failed' ORDER BY e.id DESC LIMIT 1) "
      "FROM f ORDER BY f.table_name, f.row_id";
  std::optional<std::string> row_id;
  if (which.row_id) row_id = std::to_string(*which.row_id);
  auto res = co_await conn_.query(
      sql, params(options_.mirror_schema, which.module, which.table, row_id, which.vtiger_id));
  std::vector<failed_row> out;
  for (int i = 0; i < res.rows(); ++i) {
    failed_row r;
    r.schema = res.value(i, 0);
    r.table = res.value(i, 1);
    r.module = res.value(i, 2);
    r.row_id = to_i64(res.value(i, 3));
    r.vtiger_id = res.get(i, 4);
    r.last_entry = to_i64(res.value(i, 5));
    for (const auto& op : detail::parse_json(res.value(i, 6))) r.ops.push_back(op.get<std::string>());
    r.error = res.value(i, 7);
    out.push_back(std::move(r));
  }
  co_return out;
}

asio::awaitable<discard_outcome> outbox::discard(const mirror_table& table, const failed_row& row,
                                                 const std::optional<row_batch>& record, bool mark_deleted) {
  const auto turn = co_await gate_.enter();
  const std::string o = quote_ident(options_.state_schema) + ".outbox";
  const std::string target = table.qualified_name();
  const std::string row_id = std::to_string(row.row_id);
  // The statements, made before the transaction (GCC 12: no temporaries inside a co_await expression).
  const std::string lock_row = "SELECT 1 FROM " + target + " WHERE _row_id = $1 FOR UPDATE";
  const std::string lock_entries = "SELECT id, state FROM " + o +
                                   " WHERE schema_name = $1 AND table_name = $2 AND row_id = $3 AND state IN "
                                   "('pending', 'in_flight', 'failed') ORDER BY id FOR UPDATE";
  const std::string close =
      "UPDATE " + o +
      " SET state = 'done', error = 'discarded', updated_at = clock_timestamp() WHERE id = "
      "ANY($1::bigint[])";
  const std::string merge_away = "DELETE FROM " + target + " WHERE vtiger_id = $1 AND _row_id <> $2";
  const std::string source = " FROM " + detail::rows_source(table) + ", (SELECT $2::text AS zone) z";
  const std::string columns = detail::column_list(table) + ", _sync_state, _sync_error";
  const std::string values = detail::converted_columns(table, "r", "z.zone") + ", 'synced', NULL";
  const std::string restore = "UPDATE " + target + " AS t SET (" + columns + ") = (SELECT " + values +
                              source + ") WHERE t._row_id = $" + std::to_string(table.columns.size() + 4);
  // A rejected delete: the row comes back (unless the pull has brought it back already).
  const std::string bring_back = "INSERT INTO " + target + " (" + columns + ") SELECT " + values + source +
                                 " ON CONFLICT (vtiger_id) DO NOTHING";
  const std::string remove = "DELETE FROM " + target + " WHERE _row_id = $1";
  const std::string mark =
      "UPDATE " + target + " SET _sync_state = 'deleted', _sync_error = NULL WHERE _row_id = $1";
  const bool restoring = record && record->size() == 1;
  std::vector<param> record_params;
  if (restoring) record_params = detail::rows_params(*record, options_.vtiger_timezone);

  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<discard_outcome> {
        // The push's locks, in the push's order: the row's first (mark_done), then the entries (a claim
        // skips locked ones; one that claimed first has made them in_flight, and we wait for its commit).
        auto row_params = params(row_id);
        auto held = co_await c.query(lock_row, std::move(row_params));
        const bool exists = held.rows() > 0;
        auto entry_params = params(table.schema, table.table, row_id);
        auto open = co_await c.query(lock_entries, std::move(entry_params));
        std::vector<std::string> ids;
        for (int i = 0; i < open.rows(); ++i) {
          if (open.value(i, 1) == "in_flight" || to_i64(open.value(i, 0)) > row.last_entry)
            co_return discard_outcome::busy;
          ids.emplace_back(open.value(i, 0));
        }
        if (ids.empty()) co_return discard_outcome::busy;  // retried or discarded by someone else meanwhile
        auto close_params = params(text_array_literal(ids));
        (void)co_await c.query(close, std::move(close_params));
        if (restoring) {
          auto p = record_params;
          if (exists) {
            // A row the pull stored for the same record meanwhile gives way, as in the push's write-back.
            auto merge_params = params(record->vtiger_ids.front(), row_id);
            (void)co_await c.query(merge_away, std::move(merge_params));
            p.emplace_back(row_id);
            (void)co_await c.query(restore, std::move(p));
          } else {
            (void)co_await c.query(bring_back, std::move(p));
          }
          co_return discard_outcome::restored;
        }
        const std::string& gone = row.vtiger_id && mark_deleted ? mark : remove;
        auto gone_params = params(row_id);
        (void)co_await c.query(gone, std::move(gone_params));
        co_return row.vtiger_id ? discard_outcome::gone : discard_outcome::removed;
      },
      options_.retry);
}

asio::awaitable<std::size_t> outbox::prune_done(std::chrono::milliseconds retention, int batch) {
  const std::string o = quote_ident(options_.state_schema) + ".outbox";
  // By id: done entries are the oldest, so the primary key finds a batch without a scan of the rest.
  const std::string sql = "DELETE FROM " + o + " WHERE id IN (SELECT id FROM " + o +
                          " WHERE state = 'done' AND schema_name = $1 AND updated_at < clock_timestamp() - "
                          "$2::bigint * interval '1 millisecond' ORDER BY id LIMIT $3)";
  std::size_t total = 0;
  for (;;) {
    std::size_t n = 0;
    {
      // One batch per turn: the push's calls on this connection wait for one statement at most.
      const auto turn = co_await gate_.enter();
      std::vector<statement> one{
          {sql, params(options_.mirror_schema, std::to_string(retention.count()), std::to_string(batch))}};
      const auto res = co_await run_pipeline(conn_, std::move(one), options_.retry);
      n = static_cast<std::size_t>(res.front().affected_rows());
    }
    total += n;
    if (n < static_cast<std::size_t>(batch)) break;
  }
  co_return total;
}

}  // namespace vtsync::storage

// The outbox repository (outbox.hpp): claiming entries with their rows, and finishing them. Folding later
// edits into a claimed entry is in outbox_fold.cpp.
#include "vtsync/storage/outbox.hpp"

#include "sql_text.hpp"
#include "vtsync/storage/columns.hpp"

#include <spdlog/spdlog.h>

#include <map>

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

std::string internal_array() {
  std::vector<std::string> names(std::begin(detail::internal_columns), std::end(detail::internal_columns));
  return text_array_literal(names);
}

// How often mark_done runs again after a unique violation on vtiger_id (a pull's row that became visible
// while the write-back ran): once is enough (the pull never stores a second row for an id a committed
// row holds); the rest is a margin.
constexpr int write_back_attempts = 4;

}  // namespace

std::string_view to_string(outbox_op op) noexcept {
  constexpr std::string_view names[] = {"insert", "update", "delete"};
  return names[static_cast<int>(op)];
}

outbox::outbox(connection& conn, state_options options) : conn_(conn), options_(std::move(options)) {}

std::string outbox::entry_columns() {
  return "k.id, k.schema_name, k.table_name, k.module, k.row_id, k.vtiger_id, k.op, "
         "to_jsonb(k.changed_columns)::text, k.old_values::text, k.new_values::text, k.attempts, "
         "coalesce(k.idempotency_key, ''), k.created_at::text, "
         "to_char(k.created_at AT TIME ZONE $3::text, 'YYYY-MM-DD HH24:MI:SS')";
}

outbox_entry outbox::read_entry(const result& res, int i) {
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
  e.created_at_vtiger = res.value(i, 13);
  return e;
}

asio::awaitable<claimed_batch> outbox::claim(std::span<const mirror_table> tables, int limit) {
  const auto turn = co_await gate_.enter();
  const std::string s = quote_ident(options_.state_schema);
  // The last column says whether a later pending update of the same row waits to be folded in.
  const std::string sql =
      "WITH c AS (SELECT o.id FROM " + s +
      ".outbox o WHERE o.state = 'pending' AND o.schema_name = $2 AND NOT EXISTS (SELECT 1 FROM " + s +
      ".outbox p WHERE p.schema_name = o.schema_name AND p.table_name = o.table_name AND p.row_id = o.row_id "
      "AND p.id < o.id AND p.state IN ('pending', 'in_flight')) ORDER BY o.id LIMIT $1 FOR UPDATE SKIP "
      "LOCKED), claimed AS (UPDATE " +
      s +
      ".outbox o SET state = 'in_flight', attempts = o.attempts + 1, updated_at = clock_timestamp() FROM c "
      "WHERE o.id = c.id RETURNING o.*) "
      "SELECT " +
      entry_columns() + ", k.op <> 'delete' AND EXISTS (SELECT 1 FROM " + s +
      ".outbox l WHERE l.schema_name = k.schema_name AND l.table_name = k.table_name AND l.row_id = k.row_id "
      "AND l.id > k.id AND l.state = 'pending' AND l.op = 'update') FROM claimed k ORDER BY k.id";
  std::vector<statement> claim_statement{
      {sql, params(std::to_string(limit), options_.mirror_schema, options_.vtiger_timezone)}};
  auto res = (co_await run_pipeline(conn_, std::move(claim_statement), options_.retry)).front();

  claimed_batch out;
  bool fold = false;
  for (int i = 0; i < res.rows(); ++i) {
    out.entries.push_back(read_entry(res, i));
    fold = fold || res.value(i, 14) == "t";
  }
  if (fold) out.coalesced = co_await coalesce(out.entries);
  co_await load_rows(tables, out.entries);
  co_return out;
}

asio::awaitable<void> outbox::load_rows(std::span<const mirror_table> tables,
                                        std::span<outbox_entry> claimed) {
  // One query per mirror table of the batch.
  std::map<const mirror_table*, std::vector<outbox_entry*>> by_table;
  for (auto& e : claimed) {
    if (e.op == outbox_op::remove) continue;
    for (const auto& t : tables) {
      if (t.schema == e.schema && t.table == e.table) by_table[&t].push_back(&e);
    }
  }
  for (const auto& [table, entries] : by_table) {
    std::vector<std::string> ids;
    for (const auto* e : entries) ids.push_back(std::to_string(e->row_id));
    const std::string sql =
        "SELECT t._row_id, t.vtiger_id, t._sync_base::text, t._sync_state, v.shifted::text FROM " +
        table->qualified_name() + " t, LATERAL " + quote_ident(options_.state_schema) +
        ".render_values($2, $3, to_jsonb(t) - $4::text[], $5) v WHERE t._row_id = ANY($1::bigint[])";
    auto res = co_await conn_.query(sql, params(text_array_literal(ids), table->schema, table->table,
                                                internal_array(), options_.vtiger_timezone));
    std::map<std::int64_t, row_snapshot> rows;
    for (int i = 0; i < res.rows(); ++i) {
      row_snapshot row;
      row.vtiger_id = res.get(i, 1);
      row.sync_base = parse_json(res.value(i, 2));
      row.sync_state = res.value(i, 3);
      row.values = parse_json(res.value(i, 4));
      if (!row.values.is_object()) row.values = nlohmann::json::object();
      rows.emplace(to_i64(res.value(i, 0)), std::move(row));
    }
    for (auto* e : entries) {
      if (const auto r = rows.find(e->row_id); r != rows.end()) e->row = r->second;
    }
  }
}

asio::awaitable<void> outbox::record_created(const outbox_entry& entry, const std::string& vtiger_id) {
  const auto turn = co_await gate_.enter();
  std::vector<statement> statements{
      {"UPDATE " + quote_ident(options_.state_schema) +
           ".outbox SET vtiger_id = $1 WHERE schema_name = $2 AND table_name = $3 AND row_id = $4 "
           "AND (id = $5 OR (id > $5 AND vtiger_id IS NULL))",
       params(vtiger_id, entry.schema, entry.table, std::to_string(entry.row_id), std::to_string(entry.id))}};
  co_await run_pipeline(conn_, std::move(statements), options_.retry);
}

asio::awaitable<void> outbox::mark_done(const mirror_table& table, const outbox_entry& entry,
                                        const std::optional<row_batch>& written_back,
                                        const std::optional<std::string>& vtiger_id) {
  const auto turn = co_await gate_.enter();
  const std::string s = quote_ident(options_.state_schema);
  const std::string target = table.qualified_name();
  const bool write_back = written_back && written_back->size() == 1;
  std::optional<std::string> id = vtiger_id;
  if (write_back && written_back->vtiger_ids.front()) id = written_back->vtiger_ids.front();
  const std::string row_id = std::to_string(entry.row_id);
  const std::string entry_id = std::to_string(entry.id);

  std::vector<statement> statements;
  if (entry.op != outbox_op::remove) {
    // The row's lock first: a user's UPDATE of the row that is running now (its entry not yet committed)
    // finishes before we go on, and each statement below, with a snapshot of its own, then sees its entry.
    // Without it, the write-back's UPDATE waited for the user's row lock and then applied its "no later
    // entry" check as of before that commit (a re-check after a lock wait re-reads the row, not the
    // subquery): Vtiger's older record overwrote the user's newer values and the row was marked synced, so
    // the user's entry found nothing to send (found by tests/e2e/push_stress_test: lost local updates).
    statements.push_back({"SELECT 1 FROM " + target + " WHERE _row_id = $1 FOR UPDATE", params(row_id)});
  }
  statements.push_back({"UPDATE " + s +
                            ".outbox SET state = 'done', error = NULL, updated_at = clock_timestamp() "
                            "WHERE id = $1",
                        params(entry_id)});
  if (entry.op != outbox_op::remove && id) {
    // The pull may have stored the record as a row of its own before we got here: merge it away.
    statements.push_back(
        {"DELETE FROM " + target + " WHERE vtiger_id = $1 AND _row_id <> $2", params(*id, row_id)});
    statements.push_back({"UPDATE " + s +
                              ".outbox SET vtiger_id = $1 WHERE schema_name = $2 AND table_name = $3 AND "
                              "row_id = $4 AND vtiger_id IS NULL",
                          params(*id, table.schema, table.table, row_id)});
  }
  if (entry.op != outbox_op::remove) {
    // Whether the user changed the row again meanwhile (a later entry still to push): then the row keeps
    // its values. Each statement reads it afresh, after the row lock taken first: a user's change that
    // held the row has committed (its entry is seen), one that comes later waits for our commit.
    const auto later = [&](int first) {
      const auto p = [&](int k) { return "$" + std::to_string(first + k); };
      return "EXISTS (SELECT 1 FROM " + s + ".outbox o WHERE o.schema_name = " + p(0) +
             " AND o.table_name = " + p(1) + " AND o.row_id = " + p(2) + " AND o.id > " + p(3) +
             " AND o.state IN ('pending', 'in_flight'))";
    };
    const auto later_params = [&](std::vector<param>& into) {
      into.emplace_back(table.schema);
      into.emplace_back(table.table);
      into.emplace_back(row_id);
      into.emplace_back(entry_id);
    };
    if (write_back) {
      // The server's record becomes the row, unless the user changed it again.
      const int n = static_cast<int>(table.columns.size()) + 4;
      auto p = detail::rows_params(*written_back, options_.vtiger_timezone);
      p.emplace_back(row_id);
      later_params(p);
      statements.push_back({"UPDATE " + target + " AS t SET (" + detail::column_list(table) +
                                ", _sync_state, _sync_error) = (SELECT " +
                                detail::converted_columns(table, "r", "z.zone") + ", 'synced', NULL FROM " +
                                detail::rows_source(table) + ", (SELECT $2::text AS zone) z) " +
                                "WHERE t._row_id = $" + std::to_string(n) + " AND NOT " + later(n + 1),
                            std::move(p)});
      // Changed again: keep the user's values (their entry is still to push); take the id and the base.
      auto k = params(id, written_back->bases.front(), row_id);
      later_params(k);
      statements.push_back(
          {"UPDATE " + target +
               " SET vtiger_id = coalesce($1, vtiger_id), _sync_base = $2 WHERE _row_id = $3 "
               "AND " +
               later(4),
           std::move(k)});
    } else {
      auto k = params(row_id);
      later_params(k);
      statements.push_back(
          {"UPDATE " + target +
               " SET _sync_state = 'synced', _sync_error = NULL WHERE _row_id = $1 AND NOT " + later(2),
           std::move(k)});
    }
  }
  for (int attempt = 1;; ++attempt) {
    try {
      co_await run_pipeline(conn_, statements, options_.retry);
      co_return;
    } catch (const pg_error& e) {
      // Our row's new vtiger_id met a row the pull committed while we ran (invisible to our DELETE):
      // run again, and the DELETE sees it now.
      if (e.sqlstate() != "23505" || attempt >= write_back_attempts) throw;
      spdlog::debug("{}: write-back of row {} met the pull's row for {}: merging it", target, row_id,
                    id.value_or("?"));
    }
  }
}

asio::awaitable<void> outbox::mark_failed(const outbox_entry& entry, std::string_view error) {
  const auto turn = co_await gate_.enter();
  const std::string s = quote_ident(options_.state_schema);
  std::vector<statement> statements{
      {"UPDATE " + s +
           ".outbox SET state = 'failed', error = $2, updated_at = clock_timestamp() WHERE id = $1",
       params(std::to_string(entry.id), std::string{error})}};
  if (entry.op != outbox_op::remove) {
    statements.push_back({"UPDATE " + quote_ident(entry.schema) + "." + quote_ident(entry.table) +
                              " SET _sync_state = 'failed', _sync_error = $2 WHERE _row_id = $1",
                          params(std::to_string(entry.row_id), std::string{error})});
  }
  co_await run_pipeline(conn_, std::move(statements), options_.retry);
}

asio::awaitable<void> outbox::release(const outbox_entry& entry, std::string_view error, bool attempted) {
  const auto turn = co_await gate_.enter();
  std::vector<statement> statements{
      {"UPDATE " + quote_ident(options_.state_schema) +
           ".outbox SET state = 'pending', error = $2, attempts = attempts - $3::int, updated_at = "
           "clock_timestamp() WHERE id = $1 AND state = 'in_flight'",
       params(std::to_string(entry.id), std::string{error}, attempted ? "0" : "1")}};
  co_await run_pipeline(conn_, std::move(statements), options_.retry);
}

asio::awaitable<std::size_t> outbox::reset_in_flight() {
  const auto turn = co_await gate_.enter();
  std::vector<statement> statements{{"UPDATE " + quote_ident(options_.state_schema) +
                                         ".outbox SET state = 'pending', updated_at = clock_timestamp() "
                                         "WHERE state = 'in_flight' AND schema_name = $1",
                                     params(options_.mirror_schema)}};
  const auto res = co_await run_pipeline(conn_, std::move(statements), options_.retry);
  co_return static_cast<std::size_t>(res.front().affected_rows());
}

asio::awaitable<std::size_t> outbox::retry_failed(std::string_view module) {
  const auto turn = co_await gate_.enter();
  std::vector<statement> statements{
      {"UPDATE " + quote_ident(options_.state_schema) +
           ".outbox SET state = 'pending', updated_at = clock_timestamp() "
           "WHERE state = 'failed' AND ($1 = '' OR module = $1) AND schema_name = $2",
       params(std::string{module}, options_.mirror_schema)}};
  const auto res = co_await run_pipeline(conn_, std::move(statements), options_.retry);
  co_return static_cast<std::size_t>(res.front().affected_rows());
}

asio::awaitable<outbox_counts> outbox::count(std::string_view module) {
  const auto turn = co_await gate_.enter();
  auto res = co_await conn_.query(
      "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'in_flight'), "
      "count(*) FILTER (WHERE state = 'failed') FROM " +
          quote_ident(options_.state_schema) +
          ".outbox WHERE state <> 'done' AND ($1 = '' OR module = $1) AND schema_name = $2",
      params(std::string{module}, options_.mirror_schema));
  co_return outbox_counts{to_i64(res.value(0, 0)), to_i64(res.value(0, 1)), to_i64(res.value(0, 2))};
}

asio::awaitable<void> outbox::analyze(std::span<const mirror_table> tables) {
  const auto turn = co_await gate_.enter();
  std::string sql = "ANALYZE " + quote_ident(options_.state_schema) + ".outbox";
  for (const auto& t : tables) sql += ", " + t.qualified_name();
  (void)co_await conn_.execute(sql);
}

asio::awaitable<std::int64_t> outbox::finished_within(std::chrono::seconds window) {
  const auto turn = co_await gate_.enter();
  auto res = co_await conn_.query(
      "SELECT count(*) FROM " + quote_ident(options_.state_schema) +
          ".outbox WHERE state IN ('done', 'failed') AND updated_at > clock_timestamp() - $1::int * "
          "interval '1 second' AND schema_name = $2",
      params(std::to_string(window.count()), options_.mirror_schema));
  co_return to_i64(res.value(0, 0));
}

asio::awaitable<void> outbox::notify(std::string_view payload) {
  const auto turn = co_await gate_.enter();
  const std::string channel{outbox_channel};
  (void)co_await conn_.query("SELECT pg_notify($1, $2)", params(channel, std::string{payload}));
}

asio::awaitable<void> outbox::log_conflict(const conflict_record& conflict) {
  const auto turn = co_await gate_.enter();
  std::vector<statement> statements{
      {"INSERT INTO " + quote_ident(options_.state_schema) +
           ".conflicts (module, vtiger_id, field, local_value, remote_value, decision, schema_name) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7)",
       params(conflict.module, conflict.vtiger_id, conflict.field, conflict.local_value,
              conflict.remote_value, conflict.decision, options_.mirror_schema)}};
  co_await run_pipeline(conn_, std::move(statements), options_.retry);
}

asio::awaitable<std::map<std::int64_t, outbox::local_row>> outbox::local_rows(
    const mirror_table& table, std::span<const std::int64_t> row_ids) {
  const auto turn = co_await gate_.enter();
  std::map<std::int64_t, local_row> out;
  std::vector<std::string> ids;
  for (const auto id : row_ids) ids.push_back(std::to_string(id));
  auto res = co_await conn_.query("SELECT _row_id, vtiger_id, _sync_state FROM " + table.qualified_name() +
                                      " WHERE _row_id = ANY($1::bigint[])",
                                  params(text_array_literal(ids)));
  for (int i = 0; i < res.rows(); ++i) {
    local_row row;
    row.vtiger_id = res.get(i, 1);
    row.sync_state = res.value(i, 2);
    out.emplace(to_i64(res.value(i, 0)), std::move(row));
  }
  co_return out;
}

asio::awaitable<std::vector<std::string>> outbox::held_vtiger_ids(const mirror_table& table,
                                                                  std::span<const std::string> vtiger_ids) {
  const auto turn = co_await gate_.enter();
  std::vector<std::string> out;
  if (vtiger_ids.empty()) co_return out;
  const std::string ids = text_array_literal({vtiger_ids.begin(), vtiger_ids.end()});
  auto res = co_await conn_.query(
      "SELECT vtiger_id FROM " + table.qualified_name() + " WHERE vtiger_id = ANY($1::text[]) ORDER BY 1",
      params(ids));
  for (int i = 0; i < res.rows(); ++i) out.emplace_back(res.value(i, 0));
  co_return out;
}

}  // namespace vtsync::storage

#include "vtsync/storage/push_support.hpp"

#include "sql_text.hpp"
#include "vtsync/storage/columns.hpp"

#include <algorithm>
#include <map>

namespace vtsync::storage {

namespace {

nlohmann::json parse_json(std::string_view text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text);
}

std::string internal_array() {
  std::vector<std::string> names(std::begin(detail::internal_columns), std::end(detail::internal_columns));
  return text_array_literal(names);
}

struct later_entry {
  std::int64_t id = 0;
  std::string op;
  std::string state;
  nlohmann::json changed;
  nlohmann::json old_values;
  nlohmann::json new_values;
};

// Folds `later` (ordered by id) into `head` as coalesce_pending() describes; returns the ids folded.
std::vector<std::int64_t> fold(outbox_entry& head, const std::vector<later_entry>& later) {
  std::vector<std::int64_t> folded;
  if (!head.old_values.is_object()) head.old_values = nlohmann::json::object();
  if (!head.new_values.is_object()) head.new_values = nlohmann::json::object();
  for (const auto& e : later) {
    if (e.op != "update" || e.state != "pending") break;  // keep commit order: never jump over it
    for (const auto& col : e.changed) {
      const auto name = col.get<std::string>();
      if (std::find(head.changed_columns.begin(), head.changed_columns.end(), name) ==
          head.changed_columns.end()) {
        head.changed_columns.push_back(name);
        // An insert has no old values: what the user saw before it was nothing.
        if (head.op != outbox_op::insert && e.old_values.is_object() && e.old_values.contains(name))
          head.old_values[name] = e.old_values[name];
      }
      if (e.new_values.is_object() && e.new_values.contains(name)) head.new_values[name] = e.new_values[name];
    }
    folded.push_back(e.id);
  }
  if (head.op == outbox_op::insert) head.old_values = nullptr;
  std::sort(head.changed_columns.begin(), head.changed_columns.end());
  return folded;
}

}  // namespace

asio::awaitable<std::size_t> coalesce_pending(store& db, std::span<outbox_entry> claimed) {
  const std::string s = quote_ident(db.options().state_schema);
  auto heads = nlohmann::json::array();
  for (const auto& e : claimed) {
    if (e.op == outbox_op::remove) continue;
    heads.push_back({{"head", e.id}, {"s", e.schema}, {"t", e.table}, {"r", e.row_id}});
  }
  if (heads.empty()) co_return 0;
  const std::string heads_param = detail::to_param(heads);
  const std::string select_sql =
      "SELECT c.head, o.id, o.op, o.state, to_jsonb(o.changed_columns)::text, o.old_values::text, "
      "o.new_values::text FROM jsonb_to_recordset($1::jsonb) AS c(head bigint, s text, t text, r bigint) "
      "JOIN " +
      s +
      ".outbox o ON o.schema_name = c.s AND o.table_name = c.t AND o.row_id = c.r AND o.id > c.head "
      "AND o.state IN ('pending', 'in_flight') ORDER BY c.head, o.id FOR UPDATE OF o";
  const std::string update_heads_sql =
      "UPDATE " + s +
      ".outbox o SET changed_columns = x.cc, old_values = x.ov, new_values = x.nv, "
      "updated_at = clock_timestamp() FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, cc text[], ov "
      "jsonb, "
      "nv jsonb) WHERE o.id = x.id";
  const std::string fold_sql = "UPDATE " + s +
                               ".outbox o SET state = 'done', error = 'coalesced into ' || x.head, "
                               "updated_at = clock_timestamp() FROM jsonb_to_recordset($1::jsonb) AS "
                               "x(id bigint, head bigint) WHERE o.id = x.id AND o.state = 'pending'";

  // Most claims have nothing to fold: one plain query says so, without a transaction.
  const std::string probe_sql =
      "SELECT EXISTS (SELECT 1 FROM jsonb_to_recordset($1::jsonb) AS c(head bigint, s text, t text, r "
      "bigint) "
      "JOIN " +
      s +
      ".outbox o ON o.schema_name = c.s AND o.table_name = c.t AND o.row_id = c.r AND o.id > c.head "
      "AND o.state = 'pending' AND o.op = 'update')";
  auto probe = co_await db.conn().query(probe_sql, params(heads_param));
  if (probe.value(0, 0) != "t") co_return 0;

  // The fold is computed on copies inside the transaction body (which may run twice) and copied out
  // only after the commit.
  std::vector<outbox_entry> merged;
  const auto folded_count = co_await run_transaction(
      db.conn(),
      [&](connection& c) -> asio::awaitable<std::size_t> {
        auto res = co_await c.query(select_sql, params(heads_param));
        std::map<std::int64_t, std::vector<later_entry>> later;
        for (int i = 0; i < res.rows(); ++i) {
          later_entry e;
          e.id = std::stoll(std::string{res.value(i, 1)});
          e.op = res.value(i, 2);
          e.state = res.value(i, 3);
          e.changed = parse_json(res.value(i, 4));
          e.old_values = parse_json(res.value(i, 5));
          e.new_values = parse_json(res.value(i, 6));
          later[std::stoll(std::string{res.value(i, 0)})].push_back(std::move(e));
        }
        merged.assign(claimed.begin(), claimed.end());
        auto head_rows = nlohmann::json::array();
        auto fold_rows = nlohmann::json::array();
        for (auto& head : merged) {
          const auto it = later.find(head.id);
          if (head.op == outbox_op::remove || it == later.end()) continue;
          const auto folded = fold(head, it->second);
          if (folded.empty()) continue;
          head_rows.push_back({{"id", head.id},
                               {"cc", head.changed_columns},
                               {"ov", head.old_values},
                               {"nv", head.new_values}});
          for (auto id : folded) fold_rows.push_back({{"id", id}, {"head", head.id}});
        }
        if (fold_rows.empty()) co_return 0;
        const std::string head_param = detail::to_param(head_rows);
        const std::string fold_param = detail::to_param(fold_rows);
        co_await c.query(update_heads_sql, params(head_param));
        co_await c.query(fold_sql, params(fold_param));
        co_return fold_rows.size();
      },
      db.options().retry);
  for (std::size_t i = 0; i < claimed.size() && i < merged.size(); ++i) claimed[i] = std::move(merged[i]);
  co_return folded_count;
}

asio::awaitable<std::optional<row_snapshot>> load_row(store& db, const mirror_table& table,
                                                      std::int64_t row_id) {
  const std::string sql =
      "SELECT t._row_id, t.vtiger_id, t._sync_base::text, t._sync_state, v.shifted::text "
      "FROM " +
      table.qualified_name() + " t, LATERAL " + quote_ident(db.options().state_schema) +
      ".render_values($2, $3, to_jsonb(t) - $4::text[], $5) v WHERE t._row_id = $1";
  auto res = co_await db.conn().query(sql, params(std::to_string(row_id), table.schema, table.table,
                                                  internal_array(), db.options().vtiger_timezone));
  if (res.rows() == 0) co_return std::nullopt;
  row_snapshot row;
  row.row_id = std::stoll(std::string{res.value(0, 0)});
  row.vtiger_id = res.get(0, 1);
  row.sync_base = parse_json(res.value(0, 2));
  row.sync_state = res.value(0, 3);
  row.values = parse_json(res.value(0, 4));
  if (!row.values.is_object()) row.values = nlohmann::json::object();
  co_return row;
}

asio::awaitable<std::vector<std::string>> held_vtiger_ids(store& db, const mirror_table& table,
                                                          std::span<const std::string> vtiger_ids) {
  std::vector<std::string> out;
  if (vtiger_ids.empty()) co_return out;
  const std::string ids = text_array_literal({vtiger_ids.begin(), vtiger_ids.end()});
  auto res = co_await db.conn().query(
      "SELECT vtiger_id FROM " + table.qualified_name() + " WHERE vtiger_id = ANY($1::text[]) ORDER BY 1",
      params(ids));
  for (int i = 0; i < res.rows(); ++i) out.emplace_back(res.value(i, 0));
  co_return out;
}

asio::awaitable<std::string> to_vtiger_time(store& db, std::string_view timestamptz_text,
                                            std::chrono::seconds shift) {
  auto res = co_await db.conn().query(
      "SELECT to_char(($1::timestamptz + make_interval(secs => $2::double precision)) AT TIME ZONE $3, "
      "'YYYY-MM-DD HH24:MI:SS')",
      params(std::string{timestamptz_text}, std::to_string(shift.count()), db.options().vtiger_timezone));
  co_return std::string{res.value(0, 0)};
}

}  // namespace vtsync::storage

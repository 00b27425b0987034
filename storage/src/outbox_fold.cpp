// Folding quick successive edits of a row into the claimed entry (outbox::claim, outbox.hpp).
#include "vtsync/storage/outbox.hpp"

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

asio::awaitable<std::size_t> outbox::coalesce(std::span<outbox_entry> claimed) {
  const std::string s = quote_ident(options_.state_schema);
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

  // The fold is computed on copies inside the transaction body (which may run twice) and copied out
  // only after the commit.
  std::vector<outbox_entry> merged;
  const auto folded_count = co_await run_transaction(
      conn_,
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
      options_.retry);
  for (std::size_t i = 0; i < claimed.size() && i < merged.size(); ++i) claimed[i] = std::move(merged[i]);
  co_return folded_count;
}

}  // namespace vtsync::storage

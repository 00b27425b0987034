// The mirror's ids per id range (mirror_rows.hpp: count_known, known_id_at, known_ids): what the deletion
// detection compares with Vtiger's counts and id pages.
#include "vtsync/storage/mirror_rows.hpp"

#include <limits>

#include "sql_text.hpp"

namespace vtsync::storage {

namespace {

// The known ids as a CTE `known(vtiger_id, n)`, with $1 and $2 the table's schema and name: the mirror's
// live rows (an index-only scan of the table's `_vtsync_live_` index once quals on n are pushed into the
// first arm; schema.cpp) and, once each, the ids of local deletes not yet done that the mirror no longer
// holds. UNION ALL, not UNION: deduplicating 100,000 rows cost seconds per count.
std::string known_cte(const mirror_table& table, const std::string& state_schema) {
  const auto q = table.qualified_name();
  return "WITH known AS (SELECT vtiger_id, " + detail::id_number_of("vtiger_id") + " AS n FROM " + q +
         " WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted'"
         " UNION ALL SELECT DISTINCT o.vtiger_id, " +
         detail::id_number_of("o.vtiger_id") + " FROM " + quote_ident(state_schema) +
         ".outbox o WHERE o.schema_name = $1 AND o.table_name = $2 AND o.op = 'delete'"
         " AND o.state IN ('pending', 'in_flight', 'failed') AND o.vtiger_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " +
         q + " m WHERE m.vtiger_id = o.vtiger_id AND m._sync_state <> 'deleted')) ";
}

// A range's upper end as a bound the index can use (no `IS NULL OR`, which forced a filter on every row).
std::string upper_end(const id_range& range) {
  return std::to_string(range.to.value_or(std::numeric_limits<std::int64_t>::max()));
}

}  // namespace

asio::awaitable<std::vector<std::int64_t>> mirror_rows::count_known(const mirror_table& table,
                                                                    std::span<const id_range> ranges) {
  std::vector<std::optional<std::string>> froms, tos;
  for (const auto& r : ranges) {
    froms.emplace_back(std::to_string(r.from));
    tos.push_back(upper_end(r));
  }
  auto res = co_await conn_.query(
      known_cte(table, options_.state_schema) +
          "SELECT (SELECT count(*) FROM known k WHERE k.n >= r.lo AND k.n < r.hi) "
          "FROM unnest($3::bigint[], $4::bigint[]) WITH ORDINALITY AS r(lo, hi, i) ORDER BY r.i",
      params(table.schema, table.table, detail::array_literal(froms), detail::array_literal(tos)));
  std::vector<std::int64_t> out;
  out.reserve(ranges.size());
  for (int i = 0; i < res.rows(); ++i) out.push_back(detail::to_i64(res.value(i, 0)));
  co_return out;
}

asio::awaitable<std::optional<std::string>> mirror_rows::known_id_at(const mirror_table& table,
                                                                     id_range range, std::int64_t k) {
  auto res = co_await conn_.query(
      known_cte(table, options_.state_schema) +
          "SELECT vtiger_id FROM known WHERE n >= $3::bigint AND n < $4::bigint ORDER BY n OFFSET $5 LIMIT 1",
      params(table.schema, table.table, std::to_string(range.from), upper_end(range), std::to_string(k)));
  if (res.rows() == 0) co_return std::nullopt;
  co_return std::string{res.value(0, 0)};
}

asio::awaitable<std::vector<std::string>> mirror_rows::known_ids(const mirror_table& table, id_range range) {
  auto res = co_await conn_.query(
      known_cte(table, options_.state_schema) +
          "SELECT vtiger_id FROM known WHERE n >= $3::bigint AND n < $4::bigint ORDER BY n",
      params(table.schema, table.table, std::to_string(range.from), upper_end(range)));
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(res.rows()));
  for (int i = 0; i < res.rows(); ++i) out.emplace_back(res.value(i, 0));
  co_return out;
}

}  // namespace vtsync::storage

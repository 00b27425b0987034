// The mirror's ids per id range (mirror_rows.hpp: count_known, known_id_at, known_ids): what the deletion
// detection compares with Vtiger's counts and id pages.
#include "vtsync/storage/mirror_rows.hpp"

#include "sql_text.hpp"

namespace vtsync::storage {

namespace {

// The known ids as a CTE `known(vtiger_id, n)`, with $1 and $2 the table's schema and name.
std::string known_cte(const mirror_table& table, const std::string& state_schema) {
  return "WITH known AS (SELECT vtiger_id, " + detail::id_number_of("vtiger_id") + " AS n FROM " +
         table.qualified_name() +
         " WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted'"
         " UNION SELECT vtiger_id, " +
         detail::id_number_of("vtiger_id") + " FROM " + quote_ident(state_schema) +
         ".outbox WHERE schema_name = $1 AND table_name = $2 AND op = 'delete'"
         " AND state IN ('pending', 'in_flight', 'failed') AND vtiger_id IS NOT NULL) ";
}

param upper_end(const id_range& range) {
  return range.to ? param{std::to_string(*range.to)} : param{std::nullopt};
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
          "SELECT (SELECT count(*) FROM known k WHERE k.n >= r.lo AND (r.hi IS NULL OR k.n < r.hi)) "
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
          "SELECT vtiger_id FROM known WHERE n >= $3 AND ($4::bigint IS NULL OR "
          "n < $4) ORDER BY n OFFSET $5 LIMIT 1",
      params(table.schema, table.table, std::to_string(range.from), upper_end(range), std::to_string(k)));
  if (res.rows() == 0) co_return std::nullopt;
  co_return std::string{res.value(0, 0)};
}

asio::awaitable<std::vector<std::string>> mirror_rows::known_ids(const mirror_table& table, id_range range) {
  auto res = co_await conn_.query(
      known_cte(table, options_.state_schema) +
          "SELECT vtiger_id FROM known WHERE n >= $3 AND ($4::bigint IS NULL OR n < $4) ORDER BY n",
      params(table.schema, table.table, std::to_string(range.from), upper_end(range)));
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(res.rows()));
  for (int i = 0; i < res.rows(); ++i) out.emplace_back(res.value(i, 0));
  co_return out;
}

}  // namespace vtsync::storage

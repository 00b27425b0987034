// The operator page's view of the outbox and the conflicts log (operator_view.hpp): three small JSON
// arrays built by PostgreSQL in one statement.
#include "vtsync/storage/operator_view.hpp"

#include <nlohmann/json.hpp>

#include "sql_text.hpp"

namespace vtsync::storage {

namespace {

using nlohmann::json;

std::optional<std::string> optional_text(const json& j) {
  return j.is_string() ? std::optional<std::string>{j.get<std::string>()} : std::nullopt;
}

json parse_array(std::string_view text) { return text.empty() ? json::array() : json::parse(text); }

}  // namespace

asio::awaitable<operator_view> read_operator_view(connection& conn, const state_options& options, int limit) {
  const std::string s = quote_ident(options.state_schema);
  constexpr std::string_view utc = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";
  const std::string sql =
      "SELECT (SELECT coalesce(json_agg(c ORDER BY c.module), '[]') FROM (SELECT module, count(*) FILTER "
      "(WHERE state IN ('pending', 'in_flight')) AS pending, count(*) FILTER (WHERE state = 'failed') AS "
      "failed FROM " +
      s +
      ".outbox WHERE state <> 'done' AND schema_name = $1 GROUP BY module) c), "
      "(SELECT coalesce(json_agg(f ORDER BY f.at DESC, f.id DESC), '[]') FROM (SELECT id, module, table_name, "
      "row_id, vtiger_id, op, coalesce(error, '') AS error, updated_at AS at, to_char(updated_at AT TIME ZONE "
      "'UTC', " +
      std::string{utc} + ") AS since, attempts FROM " + s +
      ".outbox WHERE state = 'failed' AND schema_name = $1 ORDER BY updated_at DESC, id DESC LIMIT $2) f), "
      "(SELECT coalesce(json_agg(k ORDER BY k.id DESC), '[]') FROM (SELECT id, module, vtiger_id, field, "
      "decision, to_char(at AT TIME ZONE 'UTC', " +
      std::string{utc} + ") AS at FROM " + s +
      ".conflicts WHERE schema_name = $1 ORDER BY id DESC LIMIT $2) k)";
  const auto res = co_await conn.query(sql, params(options.mirror_schema, std::to_string(limit)));
  operator_view view;
  for (const auto& c : parse_array(res.value(0, 0))) {
    view.counts.push_back({c.at("module").get<std::string>(), c.at("pending").get<std::int64_t>(),
                           c.at("failed").get<std::int64_t>()});
  }
  for (const auto& f : parse_array(res.value(0, 1))) {
    view.failed.push_back({f.at("id").get<std::int64_t>(), f.at("module").get<std::string>(),
                           f.at("table_name").get<std::string>(), f.at("row_id").get<std::int64_t>(),
                           optional_text(f.at("vtiger_id")), f.at("op").get<std::string>(),
                           f.at("error").get<std::string>(), f.at("since").get<std::string>(),
                           f.at("attempts").get<int>()});
  }
  for (const auto& k : parse_array(res.value(0, 2))) {
    view.conflicts.push_back({k.at("id").get<std::int64_t>(), k.at("module").get<std::string>(),
                              optional_text(k.at("vtiger_id")), k.at("field").get<std::string>(),
                              k.at("decision").get<std::string>(), k.at("at").get<std::string>()});
  }
  co_return view;
}

}  // namespace vtsync::storage

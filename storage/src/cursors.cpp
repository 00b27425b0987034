// The cursors repository (cursors.hpp).
#include "vtsync/storage/cursors.hpp"

#include "sql_text.hpp"

namespace vtsync::storage {

cursors::cursors(connection& conn, state_options options) : conn_(conn), options_(std::move(options)) {}

asio::awaitable<std::optional<cursor_position>> cursors::load_cursor(std::string_view module) {
  auto res = co_await conn_.query(
      "SELECT modifiedtime, coalesce(last_id, '') FROM " + quote_ident(options_.state_schema) +
          ".cursors WHERE schema_name = $1 AND module = $2 AND modifiedtime IS NOT NULL",
      params(options_.mirror_schema, std::string{module}));
  if (res.rows() == 0) co_return std::nullopt;
  co_return cursor_position{std::string{res.value(0, 0)}, std::string{res.value(0, 1)}};
}

asio::awaitable<std::vector<module_cursor>> cursors::load_cursors() {
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
    if (!res.is_null(i, 4)) m.lag_seconds = detail::to_i64(res.value(i, 4));
    out.push_back(std::move(m));
  }
  co_return out;
}

asio::awaitable<void> cursors::record_success(std::string_view module) {
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

asio::awaitable<void> cursors::save(connection& tx, const std::string& state_schema,
                                    const std::string& mirror_schema, const std::string& module,
                                    const cursor_position& position) {
  const std::string sql = "INSERT INTO " + quote_ident(state_schema) +
                          ".cursors (schema_name, module, modifiedtime, last_id, last_success_at, "
                          "updated_at) VALUES ($1, $2, $3, $4, now(), now()) "
                          "ON CONFLICT (schema_name, module) DO UPDATE SET modifiedtime = "
                          "EXCLUDED.modifiedtime, last_id = EXCLUDED.last_id, last_success_at = now(), "
                          "updated_at = now()";
  co_await tx.query(sql, params(mirror_schema, module, position.modifiedtime, position.last_id));
}

}  // namespace vtsync::storage

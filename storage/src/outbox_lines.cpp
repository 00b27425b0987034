// The push's reads and write-backs of an inventory header's line items (outbox.hpp, line_rows.hpp).
#include "sql_text.hpp"
#include "vtsync/storage/line_rows.hpp"
#include "vtsync/storage/outbox.hpp"

namespace vtsync::storage {

asio::awaitable<std::vector<nlohmann::json>> outbox::line_values(const mirror_table& table,
                                                                 std::int64_t row_id) {
  const auto turn = co_await gate_.enter();
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<std::vector<nlohmann::json>> {
        co_return co_await read_line_values(c, table, row_id);
      },
      options_.retry);
}

asio::awaitable<bool> outbox::write_back_lines(const mirror_table& table, std::int64_t row_id,
                                               const std::string& vtiger_id, const row_batch& lines) {
  if (!table.lines) co_return false;
  const auto turn = co_await gate_.enter();
  const std::string ids[] = {vtiger_id};
  co_return co_await run_transaction(
      conn_,
      [&](connection& c) -> asio::awaitable<bool> {
        // The header row's lock first, as mark_done takes it: a user's change of it waits for us.
        co_await c.query("SELECT 1 FROM " + table.qualified_name() + " WHERE _row_id = $1 FOR UPDATE",
                         params(std::to_string(row_id)));
        auto newer = co_await c.query(
            "SELECT EXISTS (SELECT 1 FROM " + quote_ident(options_.state_schema) +
                ".outbox WHERE schema_name = $1 AND table_name = $2 AND row_id = $3 AND state = 'pending')",
            params(table.schema, table.table, std::to_string(row_id)));
        if (newer.value(0, 0) == std::string_view{"t"}) co_return false;
        co_await number_lines(c, table, row_id, vtiger_id);
        (void)co_await store_lines(c, table, ids, lines, options_.vtiger_timezone, /*force=*/true);
        co_return true;
      },
      options_.retry);
}

}  // namespace vtsync::storage

// The inventory modules' line item tables (line_rows.hpp): DDL, the pull's store, the push's reads.
#include "vtsync/storage/line_rows.hpp"

#include "sql_text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace vtsync::storage {

bool is_inventory_module(std::string_view module) noexcept {
  constexpr std::array<std::string_view, 4> modules{"Quotes", "SalesOrder", "PurchaseOrder", "Invoice"};
  return std::find(modules.begin(), modules.end(), module) != modules.end();
}

bool is_line_joined_field(std::string_view field) noexcept {
  constexpr std::array<std::string_view, 11> fields{
      "productid",        "quantity", "listprice", "comment", "discount_amount",
      "discount_percent", "tax1",     "tax2",      "tax3",    "hdnDiscountPercent",
      "hdnDiscountAmount"};
  return std::find(fields.begin(), fields.end(), field) != fields.end();
}

mirror_table line_table_for(const mirror_table& header, mirror_table described) {
  described.schema = header.schema;
  described.table = header.table + "_lineitems";
  described.module = "LineItem";
  described.refusal = header.refusal;
  described.lines.reset();
  // parent_id and sequence_no first (the order of the CONTRACT's table), then describe's order.
  std::stable_partition(described.columns.begin(), described.columns.end(),
                        [](const mirror_column& c) { return c.name == "parent_id"; });
  std::stable_partition(described.columns.begin() + 1, described.columns.end(),
                        [](const mirror_column& c) { return c.name == "sequence_no"; });
  return described;
}

namespace {

constexpr std::string_view not_daemon = "current_setting('vtsync.origin', true) IS DISTINCT FROM 'daemon'";

std::string hashed_name(std::string_view prefix, const mirror_table& t) {
  char name[48];
  std::snprintf(name, sizeof name, "%.*s%016llx", static_cast<int>(prefix.size()), prefix.data(),
                static_cast<unsigned long long>(detail::lock_key(t.schema + "." + t.table)));
  return name;
}

// (tp) the headers whose lines are replaced, (c) the lines, converted, each with its header's _row_id.
std::string line_sources(const mirror_table& header, const mirror_table& lines, std::size_t parents_param,
                         bool force) {
  const std::string h = header.qualified_name();
  const std::string l = lines.qualified_name();
  std::string tp = "SELECT h._row_id, h.vtiger_id FROM " + h + " h WHERE h.vtiger_id = ANY($" +
                   std::to_string(parents_param) + "::text[])";
  if (!force) {
    tp += " AND h._sync_state NOT IN ('pending', 'failed') AND NOT EXISTS (SELECT 1 FROM " + l +
          " x WHERE x.parent_row_id = h._row_id AND x._sync_state IN ('pending', 'failed'))";
  }
  return "WITH tp AS (" + tp + "), c(parent_row, " + detail::column_list(lines) +
         ") AS (SELECT tp._row_id, " + detail::converted_columns(lines, "r", "z.zone") + " FROM " +
         detail::rows_source(lines) +
         " JOIN tp ON tp.vtiger_id = r.parent_id CROSS JOIN (SELECT $2::text AS zone) z) ";
}

}  // namespace

asio::awaitable<void> ensure_line_table(connection& conn, const mirror_table& header,
                                        std::string_view state_schema) {
  const mirror_table& lines = *header.lines;
  const std::string state = quote_ident(state_schema);
  const std::string qualified = lines.qualified_name();
  co_await run_transaction(conn, [&](connection& c) -> asio::awaitable<void> {
    // The header table's DDL lock (schema.cpp): its table exists, and nobody else changes it meanwhile.
    co_await c.query(
        "SELECT pg_advisory_xact_lock($1::bigint)",
        params(std::to_string(detail::lock_key("vtsync.ddl:" + header.schema + "." + header.table))));
    std::string ddl =
        "CREATE TABLE IF NOT EXISTS " + qualified + " (_row_id bigserial PRIMARY KEY, vtiger_id text UNIQUE";
    bool parent_row = false;
    const auto add_parent_row = [&] {
      ddl += ", parent_row_id bigint REFERENCES " + header.qualified_name() + " (_row_id) ON DELETE CASCADE";
      parent_row = true;
    };
    for (const auto& col : lines.columns) {
      if (!parent_row && col.name != "parent_id") add_parent_row();
      ddl += ", " + quote_ident(col.name) + " " + std::string{sql_type_name(col.type)};
    }
    if (!parent_row) add_parent_row();
    ddl +=
        ", _sync_state text NOT NULL DEFAULT 'pending'"
        " CHECK (_sync_state IN ('synced', 'pending', 'failed', 'deleted')), _sync_error text, _sync_base text)";
    co_await c.execute(ddl);
    std::string alter;
    for (const auto& col : lines.columns) {
      alter += (alter.empty() ? "ALTER TABLE " + qualified + " " : std::string{", "}) +
               "ADD COLUMN IF NOT EXISTS " + quote_ident(col.name) + " " +
               std::string{sql_type_name(col.type)};
    }
    if (!alter.empty()) co_await c.execute(alter);
    co_await c.execute("CREATE INDEX IF NOT EXISTS " + quote_ident(hashed_name("_vtsync_parent_", lines)) +
                       " ON " + qualified + " (parent_row_id, sequence_no)");
    if (lines.refusal) {
      co_await install_write_refusal(c, lines, state_schema);
      co_return;
    }
    const std::string args =
        detail::quote_literal(header.schema) + ", " + detail::quote_literal(header.table);
    const std::string when = " FOR EACH ROW WHEN (" + std::string{not_daemon} + ") EXECUTE FUNCTION ";
    co_await c.execute(
        "DROP TRIGGER IF EXISTS _vtsync_refuse_write ON " + qualified +
        "; DROP TRIGGER IF EXISTS _vtsync_mark_pending ON " + qualified +
        "; CREATE TRIGGER _vtsync_mark_pending BEFORE INSERT OR UPDATE ON " + qualified + when + state +
        ".mark_line_pending(" + args + "); DROP TRIGGER IF EXISTS _vtsync_capture ON " + qualified +
        "; CREATE TRIGGER _vtsync_capture AFTER INSERT OR UPDATE OR DELETE ON " + qualified + when + state +
        ".capture_line(" + args + ", " + detail::quote_literal(header.module) + ")");
  });
}

asio::awaitable<std::size_t> store_lines(connection& c, const mirror_table& header,
                                         std::span<const std::string> parent_ids, const row_batch& lines,
                                         const std::string& zone, bool force) {
  if (parent_ids.empty() || !header.lines) co_return 0;
  const mirror_table& lt = *header.lines;
  const std::string l = lt.qualified_name();
  auto values = detail::rows_params(lines, zone);
  values.emplace_back(text_array_literal({parent_ids.begin(), parent_ids.end()}));
  const std::string with = line_sources(header, lt, values.size(), force);

  std::string cols_l, cols_c, set_list;
  for (const auto& col : lt.columns) {
    const auto q = quote_ident(col.name);
    cols_l += "l." + q + ", ";
    cols_c += "c." + q + ", ";
    set_list += q + " = c." + q + ", ";
  }
  std::size_t touched = 0;
  // Lines Vtiger no longer has (by sequence_no).
  auto gone = co_await c.query(with + "DELETE FROM " + l + " l USING tp WHERE l.parent_row_id = tp._row_id " +
                                   "AND NOT EXISTS (SELECT 1 FROM c WHERE c.parent_row = l.parent_row_id " +
                                   "AND c.sequence_no = l.sequence_no)",
                               values);
  touched += static_cast<std::size_t>(gone.affected_rows());
  // Ids Vtiger gave another line now: freed first (the unique vtiger_id), taken just below.
  co_await c.query(with + "UPDATE " + l + " l SET vtiger_id = NULL FROM c WHERE l.vtiger_id = c.vtiger_id " +
                       "AND (l.parent_row_id, l.sequence_no) IS DISTINCT FROM (c.parent_row, c.sequence_no)",
                   values);
  auto updated = co_await c.query(
      with + "UPDATE " + l + " l SET vtiger_id = c.vtiger_id, " + set_list +
          "_sync_base = c._sync_base, _sync_state = 'synced', _sync_error = NULL FROM c WHERE "
          "l.parent_row_id = c.parent_row AND l.sequence_no = c.sequence_no AND (l.vtiger_id, " +
          cols_l + "l._sync_base, l._sync_state, l._sync_error) IS DISTINCT FROM (c.vtiger_id, " + cols_c +
          "c._sync_base, 'synced', NULL)",
      values);
  touched += static_cast<std::size_t>(updated.affected_rows());
  auto inserted =
      co_await c.query(with + "INSERT INTO " + l + " (parent_row_id, " + detail::column_list(lt) +
                           ", _sync_state) SELECT c.parent_row, c.vtiger_id, " + cols_c +
                           "c._sync_base, 'synced' FROM c " + "WHERE NOT EXISTS (SELECT 1 FROM " + l +
                           " l WHERE l.parent_row_id = c.parent_row AND l.sequence_no = c.sequence_no)",
                       values);
  touched += static_cast<std::size_t>(inserted.affected_rows());
  co_return touched;
}

asio::awaitable<std::vector<nlohmann::json>> read_line_values(connection& c, const mirror_table& header,
                                                              std::int64_t row_id) {
  std::vector<nlohmann::json> out;
  if (!header.lines) co_return out;
  auto res = co_await c.query(
      "SELECT to_jsonb(l) - ARRAY['_row_id', 'vtiger_id', 'parent_row_id', '_sync_state', '_sync_error', "
      "'_sync_base'] FROM " +
          header.lines->qualified_name() +
          " l WHERE l.parent_row_id = $1 ORDER BY l.sequence_no NULLS LAST, l._row_id",
      params(std::to_string(row_id)));
  for (int r = 0; r < res.rows(); ++r) out.push_back(detail::parse_json(res.value(r, 0)));
  co_return out;
}

asio::awaitable<void> number_lines(connection& c, const mirror_table& header, std::int64_t row_id,
                                   const std::string& parent_id) {
  if (!header.lines) co_return;
  const std::string l = header.lines->qualified_name();
  co_await c.query("UPDATE " + l + " l SET sequence_no = n.k, parent_id = $2 FROM (SELECT _row_id, " +
                       "row_number() OVER (ORDER BY sequence_no NULLS LAST, _row_id) AS k FROM " + l +
                       " WHERE parent_row_id = $1) n WHERE l._row_id = n._row_id " +
                       "AND (l.sequence_no, l.parent_id) IS DISTINCT FROM (n.k, $2)",
                   params(std::to_string(row_id), parent_id));
}

}  // namespace vtsync::storage

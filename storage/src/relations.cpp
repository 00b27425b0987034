#include "vtsync/storage/relations.hpp"

#include "sql_text.hpp"
#include "vtsync/storage/columns.hpp"

namespace vtsync::storage {

mirror_table relations_table(std::string_view schema) {
  mirror_table t;
  t.schema = schema;
  t.module = relations_module;
  t.table = "relations";
  for (const char* name : {"source_id", "label", "related_id"}) {
    mirror_column c;
    c.name = name;
    c.vtiger_type = "string";
    c.type = column_type::text;
    c.mandatory = true;
    t.columns.push_back(std::move(c));
  }
  return t;
}

std::string relation_key(std::string_view source, std::string_view label, std::string_view related) {
  std::string out{source};
  out += '|';
  out += label;
  out += '|';
  out += related;
  return out;
}

asio::awaitable<void> ensure_relations_table(connection& conn, const mirror_table& table,
                                             std::string_view state_schema) {
  (void)co_await ensure_mirror_table(conn, table, state_schema);
  const std::string q = table.qualified_name();
  co_await run_transaction(conn, [&](connection& c) -> asio::awaitable<void> {
    co_await c.query(
        "SELECT pg_advisory_xact_lock($1::bigint)",
        params(std::to_string(detail::lock_key("vtsync.ddl:" + table.schema + "." + table.table))));
    co_await c.execute("CREATE UNIQUE INDEX IF NOT EXISTS relations_link ON " + q +
                       " (source_id, label, related_id)");
    co_await c.execute("DROP TRIGGER IF EXISTS _vtsync_refuse_unlink ON " + q +
                       "; CREATE TRIGGER _vtsync_refuse_unlink BEFORE UPDATE OR DELETE ON " + q +
                       " FOR EACH ROW EXECUTE FUNCTION " + quote_ident(state_schema) + ".refuse_unlink()");
  });
}

asio::awaitable<std::size_t> store_relations(connection& c, const mirror_table& table,
                                             std::span<const std::string> sources,
                                             std::span<const std::string> labels,
                                             std::span<const relation_link> links) {
  if (sources.empty() || labels.empty()) co_return 0;
  std::vector<std::string> keys, from, label, to;
  for (const auto& l : links) {
    keys.push_back(relation_key(l.source, l.label, l.related));
    from.push_back(l.source);
    label.push_back(l.label);
    to.push_back(l.related);
  }
  const std::string q = table.qualified_name();
  auto gone =
      co_await c.query("DELETE FROM " + q +
                           " WHERE source_id = ANY($1::text[]) AND label = ANY($2::text[]) AND "
                           "_sync_state = 'synced' AND vtiger_id IS NOT NULL AND "
                           "vtiger_id <> ALL($3::text[])",
                       params(text_array_literal({sources.begin(), sources.end()}),
                              text_array_literal({labels.begin(), labels.end()}), text_array_literal(keys)));
  auto touched = static_cast<std::size_t>(gone.affected_rows());
  if (!keys.empty()) {
    auto added = co_await c.query(
        "INSERT INTO " + q +
            " (vtiger_id, source_id, label, related_id, _sync_state) SELECT k, s, l, r, 'synced' FROM "
            "unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, s, l, r) ON CONFLICT DO NOTHING",
        params(text_array_literal(keys), text_array_literal(from), text_array_literal(label),
               text_array_literal(to)));
    touched += static_cast<std::size_t>(added.affected_rows());
  }
  co_return touched;
}

}  // namespace vtsync::storage

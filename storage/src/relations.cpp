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

namespace {

// The links `scope` (an SQL condition on the table's rows, with parameters $1..$n in `scope_params`) takes
// in become `links`: its synced rows Vtiger no longer lists are deleted, new links inserted as synced (rows
// not pushed yet are left alone). Returns rows inserted or deleted.
asio::awaitable<std::size_t> replace_links(connection& c, const mirror_table& table, const std::string& scope,
                                           std::vector<param> scope_params,
                                           std::span<const relation_link> links) {
  std::vector<std::string> keys, from, label, to;
  for (const auto& l : links) {
    keys.push_back(relation_key(l.source, l.label, l.related));
    from.push_back(l.source);
    label.push_back(l.label);
    to.push_back(l.related);
  }
  const std::string q = table.qualified_name();
  const std::string kept = "$" + std::to_string(scope_params.size() + 1);
  scope_params.emplace_back(text_array_literal(keys));
  auto gone = co_await c.query(
      "DELETE FROM " + q + " WHERE " + scope +
          " AND _sync_state = 'synced' AND vtiger_id IS NOT NULL AND vtiger_id <> ALL(" + kept + "::text[])",
      std::move(scope_params));
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

}  // namespace

asio::awaitable<std::size_t> store_relations(connection& c, const mirror_table& table,
                                             std::span<const std::string> sources,
                                             std::span<const std::string> labels,
                                             std::span<const relation_link> links) {
  if (sources.empty() || labels.empty()) co_return 0;
  co_return co_await replace_links(c, table, "source_id = ANY($1::text[]) AND label = ANY($2::text[])",
                                   params(text_array_literal({sources.begin(), sources.end()}),
                                          text_array_literal({labels.begin(), labels.end()})),
                                   links);
}

asio::awaitable<std::size_t> store_relations_to(connection& c, const mirror_table& table,
                                                std::span<const std::string> related_ids,
                                                std::string_view label, std::string_view source_prefix,
                                                std::span<const relation_link> links) {
  if (related_ids.empty()) co_return 0;
  co_return co_await replace_links(
      c, table, "related_id = ANY($1::text[]) AND label = $2 AND split_part(source_id, 'x', 1) = $3",
      params(text_array_literal({related_ids.begin(), related_ids.end()}), std::string{label},
             std::string{source_prefix}),
      links);
}

asio::awaitable<std::set<std::string>> unmoved_records(connection& c, const mirror_table& source,
                                                       std::span<const std::string> ids,
                                                       std::span<const std::string> modifiedtimes,
                                                       std::chrono::seconds settle) {
  std::set<std::string> out;
  const auto* column = source.find("modifiedtime");
  if (ids.empty() || column == nullptr) co_return out;
  auto res = co_await c.query(
      "SELECT u.id FROM unnest($1::text[], $2::text[]) AS u(id, mt) JOIN " + source.qualified_name() +
          " t ON t.vtiger_id = u.id AND t.modifiedtime = u.mt::" + std::string{sql_type_name(column->type)} +
          " AND t.modifiedtime < now() - make_interval(secs => $3::int)",
      params(text_array_literal({ids.begin(), ids.end()}),
             text_array_literal({modifiedtimes.begin(), modifiedtimes.end()}),
             std::to_string(settle.count())));
  for (int i = 0; i < res.rows(); ++i) out.emplace(res.value(i, 0));
  co_return out;
}

asio::awaitable<void> plan_relation_loads(connection& conn, std::string_view state_schema,
                                          const mirror_table& source, std::string_view source_prefix,
                                          std::span<const std::string> labels) {
  const std::string s = quote_ident(state_schema);
  const std::string configured = text_array_literal({labels.begin(), labels.end()});
  co_await run_transaction(conn, [&](connection& c) -> asio::awaitable<void> {
    // A list no longer configured: its rows would go stale, and its finished load would keep a list added
    // back later from being read again.
    co_await c.query("DELETE FROM " + s +
                         ".relation_loads WHERE schema_name = $1 AND module = $2 AND "
                         "label <> ALL($3::text[])",
                     params(source.schema, source.module, configured));
    auto relations = co_await c.query("SELECT to_regclass($1) IS NOT NULL",
                                      params(quote_ident(source.schema) + ".relations"));
    if (relations.value(0, 0) == "t" && !source_prefix.empty())
      co_await c.query("DELETE FROM " + quote_ident(source.schema) +
                           ".relations WHERE split_part(source_id, 'x', 1) = $1 AND label <> ALL($2::text[])",
                       params(std::string{source_prefix}, configured));
    if (labels.empty()) co_return;
    co_await c.query("INSERT INTO " + s +
                         ".relation_loads (schema_name, module, label, done) SELECT $1, $2, l, NOT EXISTS "
                         "(SELECT 1 FROM " +
                         source.qualified_name() +
                         " WHERE vtiger_id IS NOT NULL) FROM unnest($3::text[]) AS l ON CONFLICT DO NOTHING",
                     params(source.schema, source.module, configured));
  });
}

asio::awaitable<std::optional<relation_load>> next_relation_load(connection& c, std::string_view state_schema,
                                                                 const mirror_table& source,
                                                                 std::span<const std::string> labels,
                                                                 std::size_t limit) {
  auto next = co_await c.query(
      "SELECT label, last_id FROM " + quote_ident(state_schema) +
          ".relation_loads WHERE schema_name = $1 AND module = $2 AND NOT done AND "
          "label = ANY($3::text[]) ORDER BY label LIMIT 1",
      params(source.schema, source.module, text_array_literal({labels.begin(), labels.end()})));
  if (next.rows() == 0) co_return std::nullopt;
  relation_load load;
  load.label = next.value(0, 0);
  const std::string n = detail::id_number_of("vtiger_id");
  auto ids = co_await c.query("SELECT vtiger_id FROM " + source.qualified_name() +
                                  " WHERE vtiger_id IS NOT NULL AND _sync_state <> 'deleted' AND " + n +
                                  " > $1::bigint ORDER BY " + n + " LIMIT " + std::to_string(limit),
                              params(std::string{next.value(0, 1)}));
  for (int i = 0; i < ids.rows(); ++i) load.ids.emplace_back(ids.value(i, 0));
  co_return load;
}

asio::awaitable<void> store_relation_load(connection& conn, std::string_view state_schema,
                                          const mirror_table& source, const mirror_table& relations,
                                          const relation_load& load, const std::string& walked_to,
                                          std::span<const relation_link> links, bool done,
                                          retry_policy retry) {
  const std::vector<std::string> labels{load.label};
  co_await run_transaction(
      conn,
      [&](connection& c) -> asio::awaitable<void> {
        (void)co_await store_relations(c, relations, load.ids, labels, links);
        co_await c.query(
            "UPDATE " + quote_ident(state_schema) +
                ".relation_loads SET last_id = coalesce(substring($4 FROM 'x([0-9]{1,18})$')::bigint, "
                "last_id), done = $5::boolean, updated_at = now() WHERE schema_name = $1 AND "
                "module = $2 AND label = $3",
            params(source.schema, source.module, load.label, walked_to, done ? "true" : "false"));
      },
      retry);
}

}  // namespace vtsync::storage

// The incremental pull (pull.hpp): a cycle from the cursor, one record re-pulled, the mirror table made
// ready. Deletions are pull_deletions.cpp's, the backfill pull_backfill.cpp's.
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/storage/line_rows.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <ctime>
#include <span>
#include <unordered_set>

#include "pull_fields.hpp"

#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using nlohmann::json;

namespace {

[[noreturn]] void throw_rejected(const std::string& module, const vtiger::api_error& e) {
  throw pull_error("query on " + module + " rejected: " + e.code + ": " + e.message);
}

// A query answer as general JSON, checked: a list of objects with an id.
std::vector<json> checked_rows(const std::string& module, json answer) {
  if (!answer.is_array()) throw pull_error("query on " + module + " answered something other than a list");
  std::vector<json> rows;
  rows.reserve(answer.size());
  for (auto& row : answer) {
    if (!row.is_object() || !row.contains("id")) throw pull_error("query on " + module + ": a row has no id");
    rows.push_back(std::move(row));
  }
  return rows;
}

bool same_columns(const storage::mirror_table& a, const storage::mirror_table& b) {
  if (a.columns.size() != b.columns.size() || a.refusal != b.refusal) return false;
  for (std::size_t i = 0; i < a.columns.size(); ++i) {
    if (a.columns[i].name != b.columns[i].name || a.columns[i].type != b.columns[i].type ||
        a.columns[i].vtiger_type != b.columns[i].vtiger_type)
      return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> shift_datetime(std::string_view datetime, std::chrono::seconds delta) {
  std::tm tm{};
  if (datetime.size() < 19) return std::nullopt;
  const std::string text{datetime.substr(0, 19)};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  // Vtiger's strings carry no zone; arithmetic on them as if they were UTC is exact for whole seconds
  // (a server zone with DST repeats an hour in autumn: the overlap then simply re-reads more).
  std::time_t t = ::timegm(&tm) + delta.count();
  std::tm out{};
  ::gmtime_r(&t, &out);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &out);
  return std::string{buf};
}

bool position_less(const storage::cursor_position& a, const storage::cursor_position& b) {
  if (a.modifiedtime != b.modifiedtime) return a.modifiedtime < b.modifiedtime;
  return detail::id_number(a.last_id) < detail::id_number(b.last_id);
}

asio::awaitable<storage::mirror_table> prepare_mirror_table(vtiger::client& client, storage::connection& conn,
                                                            const storage::state_options& options,
                                                            const std::string& module,
                                                            const table_scope& scope,
                                                            schema_reports* reported, bool fresh,
                                                            const storage::mirror_table* current) {
  if (fresh) client.forget_describe(module);
  auto described = co_await client.describe(module);
  if (!described) {
    throw pull_error("describe " + module + ": " + described.error().code + ": " + described.error().message);
  }
  auto table = record::table_from_describe(options.mirror_schema, *described);
  for (const auto& name : record::narrow_to_fields(table, scope.fields, scope.exclude_fields)) {
    if (reported != nullptr && !reported->unknown_scope.insert(name).second) continue;
    spdlog::warn("module={} field {} of modules.{}.{} is not in Vtiger's describe", module, name, module,
                 scope.fields.empty() ? "exclude_fields" : "fields");
  }
  if (scope.pull_only) {
    table.refusal = storage::mirror_table::write_refusal{
        "pull-only",
        "vtsync mirrors module " + module + " from Vtiger only (modules." + module +
            ".direction = \"pull_only\" in its configuration); changes made here would never reach Vtiger.",
        "Change the record in Vtiger, or set modules." + module +
            ".direction = \"two_way\" and restart vtsyncd."};
  }
  if (storage::is_inventory_module(module)) {
    // Pages select the header's columns by name, leaving out what Vtiger reads from the joined lines
    // (line_rows.hpp: is_line_joined_field; page_columns).
    // A field VTQL cannot name (shipping_&_handling) cannot be selected by name either: not mirrored.
    std::vector<std::string> joined;
    for (const auto& c : table.columns)
      if (storage::is_line_joined_field(c.name) || !vtiger::vtql::is_identifier(c.name))
        joined.push_back(c.name);
    (void)record::narrow_to_fields(table, {}, joined);
    const std::string line_module = "LineItem";  // named: GCC 12 (see push_calls.hpp)
    auto lines = co_await client.describe(line_module);
    if (!lines) {
      throw pull_error("describe LineItem (lines of " + module + "): " + lines.error().code + ": " +
                       lines.error().message);
    }
    table.lines = std::make_shared<const storage::mirror_table>(
        storage::line_table_for(table, record::table_from_describe(options.mirror_schema, *lines)));
  }
  if (!scope.related.empty() || scope.related_elsewhere) {
    auto relations = storage::relations_table(options.mirror_schema);
    if (current == nullptr || !current->relations)
      co_await storage::ensure_relations_table(conn, relations, options.state_schema);
    table.relations = std::make_shared<const storage::mirror_table>(std::move(relations));
    table.related = scope.related;
  }
  if (current != nullptr && same_columns(*current, table)) co_return table;
  const auto change = co_await storage::ensure_mirror_table(conn, table, options.state_schema);
  if (table.lines) co_await storage::ensure_line_table(conn, table, options.state_schema);
  // At start (or when lists come): plan the lists' first reads, and drop what lists no longer configured
  // left.
  if (current == nullptr || (table.relations && !current->relations))
    co_await storage::plan_relation_loads(conn, options.state_schema, table,
                                          described->value("idPrefix", std::string{}), scope.related);
  if (change.created) spdlog::info("module={} created mirror table {}", module, table.qualified_name());
  for (const auto& c : change.added_columns)
    spdlog::info("module={} new Vtiger field {}: column added", module, c);
  for (const auto& c : change.kept_columns) {
    if (reported != nullptr && !reported->kept.insert(c).second) continue;
    const bool scoped_out =
        std::find(table.skipped_fields.begin(), table.skipped_fields.end(), c) != table.skipped_fields.end();
    if (scoped_out && storage::is_inventory_module(module) &&
        (storage::is_line_joined_field(c) || !vtiger::vtql::is_identifier(c))) {
      spdlog::info(
          "module={} field {} is not mirrored on an inventory header (lines are in {}_lineitems): "
          "its column is kept but no longer written",
          module, c, table.table);
    } else if (scoped_out) {
      spdlog::info(
          "module={} field {} is outside modules.{}'s fields: its column is kept but no longer written",
          module, c, module);
    } else {
      spdlog::warn("module={} field {} left Vtiger's describe: its column is kept but no longer written",
                   module, c);
    }
  }
  for (const auto& m : change.type_mismatches) {
    if (reported != nullptr && !reported->mismatched.insert(m).second) continue;
    spdlog::warn("module={} field type changed in Vtiger, column left as it is: {}", module, m);
  }
  if (table.refusal && change.created)
    spdlog::info("module={} is {}: {} refuses local writes", module, table.refusal->what,
                 table.qualified_name());
  co_return table;
}

asio::awaitable<std::optional<std::string>> filter_refused(vtiger::client& client, const std::string& module,
                                                           const std::string& filter) {
  const std::string q = vtiger::vtql::and_condition("SELECT count(*) FROM " + module + ";", filter);
  auto answer = co_await client.query(q);
  if (answer) co_return std::nullopt;
  co_return answer.error().code + ": " + answer.error().message;
}

std::vector<std::string> module_puller::page_columns() const {
  std::vector<std::string> out;
  // An inventory module's pages always name their columns: `*` joins the line rows (line_rows.hpp).
  if (!settings_.select_columns && !table_.lines) return out;
  for (const auto& c : table_.columns) out.push_back(c.name);
  // What the cursor needs, whatever the fields (the id comes anyway).
  if (std::find(out.begin(), out.end(), "modifiedtime") == out.end()) out.emplace_back("modifiedtime");
  return out;
}

asio::awaitable<bool> module_puller::matches_filter(const std::string& id) {
  vtiger::vtql::select_query q{table_.module, {"id"}};
  q.where("id", "=", id);
  std::size_t queries = 0;
  std::string text = *q.str();
  const auto page = co_await fetch(client_, std::move(text), queries);
  co_return !page.empty();
}

asio::awaitable<void> module_puller::take_new_fields(std::span<const flat_record> page) {
  if (!refresh_) co_return;
  auto unknown = [this](const std::string& name) {
    if (name == "id" || table_.find(name) != nullptr || undescribed_.contains(name)) return false;
    const auto listed = [&](const std::vector<std::string>& v) {
      return std::find(v.begin(), v.end(), name) != v.end();
    };
    return !listed(table_.secret_fields) && !listed(table_.skipped_fields);
  };
  // The records of one answer share their field names: each name is judged once per page (the column
  // lookups are linear), the rest of the page only looks it up here.
  std::set<std::string> fresh;
  std::unordered_set<std::string_view> judged;
  for (const auto& record : page) {
    for (const auto& f : record.fields) {
      if (!judged.insert(f.name).second) continue;
      if (unknown(f.name)) fresh.insert(f.name);
    }
  }
  if (fresh.empty()) co_return;
  spdlog::info("module={} a page brings {} field(s) the mirror lacks ({}...): reading describe again",
               table_.module, fresh.size(), *fresh.begin());
  auto refreshed = co_await refresh_();
  table_ = std::move(refreshed);
  // Fields describe still does not list (Vtiger adds some to its answers only) are not asked about again.
  for (const auto& name : fresh)
    if (unknown(name)) undescribed_.insert(name);
}

module_puller::module_puller(vtiger::client& client, pull_storage storage, storage::mirror_table table,
                             pull_settings settings, pull_observer observer)
    : client_(client),
      storage_(storage),
      table_(std::move(table)),
      settings_(settings),
      observer_(std::move(observer)) {}

asio::awaitable<std::vector<flat_record>> module_puller::fetch(vtiger::client& client, std::string vtql,
                                                               std::size_t& queries) {
  ++queries;
  if (!settings_.filter.empty()) vtql = vtiger::vtql::and_condition(vtql, settings_.filter);
  const auto asked = std::chrono::steady_clock::now();
  auto answer = co_await client.query_records(vtql);
  vtiger_time_ += std::chrono::steady_clock::now() - asked;
  if (!answer) throw_rejected(table_.module, answer.error());
  std::vector<flat_record> rows;
  if (answer->records) {
    rows = std::move(*answer->records);
    for (const auto& row : rows) {
      if (row.find("id") == nullptr) throw pull_error("query on " + table_.module + ": a row has no id");
    }
  } else {
    // Not the plain shape (numbers, nested values, raw control characters...): the general parse.
    const auto general = checked_rows(table_.module, std::move(answer->other));
    rows.reserve(general.size());
    for (const auto& row : general) rows.push_back(record::to_flat_record(row));
  }
  if (observer_.on_fetched) observer_.on_fetched(table_.module, rows.size());
  co_return rows;
}

asio::awaitable<storage::page_result> module_puller::store(storage::mirror_rows& db,
                                                           std::span<const flat_record> records,
                                                           const storage::page_options& options) {
  // Converted here, inside the coroutine, so a page is converted while the next one is being fetched.
  const auto rows = record::to_rows(table_, records);
  auto lines = take_lines(records);
  auto links = take_relations(records);
  if (!lines && !links) co_return co_await db.store_page(table_, rows, options);
  storage::page_options with_rows = options;
  with_rows.with_rows = [lines = std::move(lines),
                         links = std::move(links)](storage::connection& c) -> asio::awaitable<void> {
    if (lines) co_await lines(c);
    if (links) co_await links(c);
  };
  co_return co_await db.store_page(table_, rows, with_rows);
}

asio::awaitable<void> module_puller::probe_sync() {
  if (!has_cursor_field()) co_return;  // read whole every cycle: its deletions come from that read
  try {
    sync_supported_ = co_await client_.probe_sync(table_.module);
  } catch (const vtiger::client_error& e) {
    spdlog::warn("module={} sync probe failed ({}); deletions will not come from sync", table_.module,
                 e.what());
    sync_supported_ = false;
  }
  // Under "auto" and "count" the method is said once the first range count has answered (pull_counts.cpp).
  const bool counts_first =
      settings_.deletions == deletion_method::automatic || settings_.deletions == deletion_method::count;
  if (counts_first) {
    spdlog::info("module={} Vtiger's sync operation {}", table_.module,
                 sync_supported_ ? "works" : "is unavailable");
  } else {
    spdlog::info(
        "module={} Vtiger's sync operation {}", table_.module,
        sync_supported_ && settings_.deletions != deletion_method::scan
            ? "works: deletions come from it"
            : (sync_supported_ ? "works, but deletions come from id scans (deletion_detection = \"scan\")"
                               : "is unavailable: deletions come from id scans"));
  }
}

asio::awaitable<cycle_stats> module_puller::pull_changes(std::optional<std::string> since, pass_end end) {
  if (!has_cursor_field()) co_return co_await pull_whole();
  fetched_lines_.clear();  // lines of pages a stopped pass fetched and never stored
  cycle_stats stats;
  const auto stored = co_await storage_.cursors.load_cursor(table_.module);
  const auto waited_before = vtiger_time_;
  std::optional<storage::cursor_position> cursor = stored;

  // Where this pass starts reading: the cursor, or earlier (re-read window, --since).
  std::optional<std::string> read_since;
  std::optional<vtiger::vtql::modified_cursor> after;
  if (since) {
    read_since = since;
  } else if (cursor && reread_left_ > 0 && settings_.overlap.count() > 0) {
    read_since = shift_datetime(cursor->modifiedtime, -settings_.overlap);
  }
  if (!read_since && cursor) {
    if (cursor->last_id.empty()) {
      read_since = cursor->modifiedtime;
    } else {
      after = vtiger::vtql::modified_cursor{cursor->modifiedtime, cursor->last_id};
    }
  }

  auto query_for = [this](const std::optional<std::string>& from_time,
                          const std::optional<vtiger::vtql::modified_cursor>& from_pos) {
    const std::vector<std::string> columns = page_columns();
    if (from_pos) return vtiger::vtql::modified_page(table_.module, columns, from_pos);
    if (from_time) return vtiger::vtql::modified_since_page(table_.module, columns, *from_time);
    return vtiger::vtql::modified_page(table_.module, columns, std::nullopt);
  };

  std::string first_query = query_for(read_since, after);
  auto page = co_await fetch_page(client_, first_query, stats.queries);
  bool last_page = false;
  while (!page.empty()) {
    co_await take_new_fields(page);
    // A poll ends on a short page (the next cycle continues from the cursor); otherwise on an empty one.
    last_page = end == pass_end::short_page && page.size() < vtiger::vtql::max_page_size;
    const auto last = detail::position_of(page.back());
    if (last.modifiedtime.empty() || last.last_id.empty()) {
      throw pull_error("query on " + table_.module + " returned a row without modifiedtime or id");
    }
    storage::page_options options;
    if (!cursor || position_less(*cursor, last)) {
      cursor = last;
      options.cursor = last;
      stats.cursor_moved = true;
    }
    const vtiger::vtql::modified_cursor next_after{last.modifiedtime, last.last_id};
    std::string next_query = query_for(std::nullopt, next_after);
    std::span<const flat_record> rows{page};
    std::vector<flat_record> next_page;
    storage::page_result result;
    if (last_page) {
      result = co_await store(storage_.rows, rows, options);
    } else {
      // Fetch the next page while this one is stored.
      auto [fetched, stored_page] =
          co_await (fetch_page(client_, next_query, stats.queries) && store(storage_.rows, rows, options));
      next_page = std::move(fetched);
      result = std::move(stored_page);
    }
    stats.fetched += page.size();
    stats.inserted += result.inserted;
    stats.updated += result.updated;
    stats.unchanged += result.unchanged;
    stats.skipped_local += result.skipped_local.size();
    if (observer_.on_records && result.inserted + result.updated > 0) {
      observer_.on_records(table_.module, result.inserted + result.updated);
    }
    if (page_hook_) page_hook_(page.size());
    for (const auto& id : result.skipped_local) {
      spdlog::debug("module={} record {} changed in Vtiger while a local change waits to be pushed",
                    table_.module, id);
    }
    page = std::move(next_page);
    if (stop_check_ && stop_check_()) co_return stats;
  }
  stats.vtiger_time = vtiger_time_ - waited_before;
  co_await storage_.cursors.record_success(table_.module);
  // Keep re-reading the overlap window for a few cycles after a change, then go back to one query. A row
  // rewritten without the cursor moving counts as a change: a page fetched before one of our revises that
  // fell in the record's modifiedtime second, stored after its write-back, brought older values back, and
  // only a re-read of that second brings Vtiger's current record (tests/push/push_interleave_test.cpp).
  const bool changed = stats.cursor_moved || stats.inserted + stats.updated > 0;
  reread_left_ = changed ? settings_.reread_cycles : std::max(0, reread_left_ - 1);
  co_return stats;
}

asio::awaitable<std::uint64_t> module_puller::remote_count() {
  const auto counted = co_await count_remote();
  co_return static_cast<std::uint64_t>(std::max<std::int64_t>(0, counted.value_or(0)));
}

asio::awaitable<bool> module_puller::resync_record(const std::string& id) {
  auto answer = co_await client_.retrieve(id);
  if (!answer) {
    if (detail::is_access_denied(answer.error())) co_return false;
    throw pull_error("retrieve " + id + ": " + answer.error().code + ": " + answer.error().message);
  }
  const std::vector<flat_record> one{record::to_flat_record(*answer)};
  std::size_t queries = 0;
  co_await fetch_relations(client_, one, queries, true);  // its related lists too, read whatever they hold
  const storage::page_options options;
  (void)co_await store(storage_.rows, one, options);
  co_return true;
}

}  // namespace vtsync::sync

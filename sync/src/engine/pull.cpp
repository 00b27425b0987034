#include "vtsync/sync/engine/pull.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <span>

#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using nlohmann::json;

namespace {

std::int64_t id_number(std::string_view id) { return record::vtiger_id_number(id).value_or(0); }

std::string field_text(const flat_record& record, const char* field) {
  return std::string{record.text(field)};
}
storage::cursor_position position_of(const flat_record& record) {
  return {field_text(record, "modifiedtime"), field_text(record, "id")};
}

bool is_access_denied(const vtiger::api_error& e) { return e.code == "ACCESS_DENIED"; }

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
  return id_number(a.last_id) < id_number(b.last_id);
}

asio::awaitable<storage::mirror_table> prepare_mirror_table(vtiger::client& client, storage::store& store,
                                                            const std::string& module) {
  auto described = co_await client.describe(module);
  if (!described) {
    throw pull_error("describe " + module + ": " + described.error().code + ": " + described.error().message);
  }
  auto table = record::table_from_describe(store.options().mirror_schema, *described);
  const auto change = co_await store.ensure_table(table);
  if (change.created) spdlog::info("module={} created mirror table {}", module, table.qualified_name());
  for (const auto& c : change.added_columns)
    spdlog::info("module={} new Vtiger field {}: column added", module, c);
  for (const auto& c : change.kept_columns) {
    spdlog::warn("module={} field {} left Vtiger's describe: its column is kept but no longer written",
                 module, c);
  }
  co_return table;
}

module_puller::module_puller(vtiger::client& client, storage::store& store, storage::mirror_table table,
                             pull_settings settings, pull_observer observer)
    : client_(client),
      store_(store),
      table_(std::move(table)),
      settings_(settings),
      observer_(std::move(observer)) {}

asio::awaitable<std::vector<flat_record>> module_puller::fetch(vtiger::client& client, std::string vtql,
                                                               std::size_t& queries) {
  ++queries;
  auto answer = co_await client.query_records(vtql);
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

asio::awaitable<storage::page_result> module_puller::store(storage::store& db,
                                                           std::span<const flat_record> records,
                                                           const storage::page_options& options) {
  // Converted here, inside the coroutine, so a page is converted while the next one is being fetched.
  const auto rows = record::to_rows(table_, records);
  co_return co_await db.store_page(table_, rows, options);
}

asio::awaitable<void> module_puller::probe_sync() {
  try {
    sync_supported_ = co_await client_.probe_sync(table_.module);
  } catch (const vtiger::client_error& e) {
    spdlog::warn("module={} sync probe failed ({}); deletions will be found by id scans", table_.module,
                 e.what());
    sync_supported_ = false;
  }
  spdlog::info(
      "module={} Vtiger's sync operation {}", table_.module,
      sync_supported_ ? "works: deletions come from it" : "is unavailable: deletions come from id scans");
}

asio::awaitable<cycle_stats> module_puller::pull_changes(std::optional<std::string> since) {
  cycle_stats stats;
  const auto stored = co_await store_.load_cursor(table_.module);
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
    const std::vector<std::string> all_columns;
    if (from_pos) return vtiger::vtql::modified_page(table_.module, all_columns, from_pos);
    if (from_time) return vtiger::vtql::modified_since_page(table_.module, all_columns, *from_time);
    return vtiger::vtql::modified_page(table_.module, all_columns, std::nullopt);
  };

  std::string first_query = query_for(read_since, after);
  auto page = co_await fetch(client_, first_query, stats.queries);
  while (!page.empty()) {
    const auto last = position_of(page.back());
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
    // Fetch the next page while this one is stored.
    auto [next_page, result] =
        co_await (fetch(client_, next_query, stats.queries) && store(store_, rows, options));
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
  co_await store_.record_success(table_.module);
  // Keep re-reading the overlap window for a few cycles after a change, then go back to one query.
  reread_left_ = stats.cursor_moved ? settings_.reread_cycles : std::max(0, reread_left_ - 1);
  co_return stats;
}

asio::awaitable<std::size_t> module_puller::detect_deletions() {
  ++deletion_passes_;
  std::size_t deleted = 0;
  if (sync_supported_ && sync_since_ && deletion_passes_ % settings_.id_scan_every != 0) {
    deleted = co_await sync_deletions();
  } else {
    // The first pass after start-up is always a full scan: deletions made while the daemon was down are
    // before any sync window it could ask for.
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    deleted = co_await scan_ids();
    if (sync_supported_) sync_since_ = now - 60;
  }
  if (deleted > 0 && observer_.on_deleted) observer_.on_deleted(table_.module, deleted);
  co_return deleted;
}

asio::awaitable<std::size_t> module_puller::sync_deletions() {
  std::vector<std::string> deleted_ids;
  bool more = true;
  int guard = 0;
  while (more && guard++ < 10000) {
    const std::string module = table_.module;
    const std::int64_t since = *sync_since_;
    auto answer = co_await client_.sync(module, since);
    if (!answer)
      throw pull_error("sync on " + module + " rejected: " + answer.error().code + ": " +
                       answer.error().message);
    if (!answer->has_value()) {
      sync_supported_ = false;
      co_return co_await scan_ids();
    }
    const json& body = **answer;
    for (const auto& id : body.value("deleted", json::array())) {
      if (id.is_string()) deleted_ids.push_back(id.get<std::string>());
    }
    more = body.value("more", false);
    const auto& last = body.value("lastModifiedTime", json(since));
    std::int64_t next = since;
    if (last.is_number_integer()) next = last.get<std::int64_t>();
    if (last.is_string()) next = std::strtoll(last.get<std::string>().c_str(), nullptr, 10);
    // Re-ask the last second next time (a record saved later in the same second would be skipped).
    sync_since_ = std::max<std::int64_t>(1, next - 1);
    if (next <= since) break;
  }
  if (deleted_ids.empty()) co_return 0;
  const auto mode = settings_.on_remote_delete;
  std::span<const std::string> ids{deleted_ids};
  co_return co_await store_.apply_remote_deletes(table_, ids, mode);
}

asio::awaitable<std::size_t> module_puller::scan_ids() {
  // Every id Vtiger shows, in id order (8 bytes each: a million records cost 8 MB for the duration).
  std::vector<std::int64_t> remote;
  std::size_t queries = 0;
  std::optional<std::string> after;
  const std::vector<std::string> id_only{"id"};
  for (;;) {
    const auto q = vtiger::vtql::id_page(table_.module, id_only, after);
    const auto page = co_await fetch(client_, q, queries);
    if (page.empty()) break;
    for (const auto& row : page) remote.push_back(id_number(field_text(row, "id")));
    after = field_text(page.back(), "id");
  }
  std::sort(remote.begin(), remote.end());

  // Local ids missing remotely are candidates; each is confirmed by a retrieve before it goes.
  std::vector<std::string> candidates;
  std::string local_after;
  for (;;) {
    const auto local = co_await store_.list_vtiger_ids(table_, local_after, 1000);
    if (local.empty()) break;
    for (const auto& id : local) {
      if (!std::binary_search(remote.begin(), remote.end(), id_number(id))) candidates.push_back(id);
    }
    local_after = local.back();
  }
  std::vector<std::string> confirmed;
  for (const auto& id : candidates) {
    const std::string id_copy = id;
    auto answer = co_await client_.retrieve(id_copy);
    if (!answer && is_access_denied(answer.error())) {
      confirmed.push_back(id);
    } else if (answer) {
      // It exists after all (the scan raced with a change): store what Vtiger has now.
      const std::vector<flat_record> one{record::to_flat_record(*answer)};
      const storage::page_options options;
      (void)co_await store(store_, one, options);
    } else {
      spdlog::warn("module={} record {} missing from the id scan but retrieve says {}: kept", table_.module,
                   id, answer.error().code);
    }
  }
  if (confirmed.empty()) co_return 0;
  spdlog::info("module={} {} record(s) deleted in Vtiger", table_.module, confirmed.size());
  const auto mode = settings_.on_remote_delete;
  std::span<const std::string> ids{confirmed};
  co_return co_await store_.apply_remote_deletes(table_, ids, mode);
}

asio::awaitable<std::uint64_t> module_puller::remote_count() {
  const std::string q = "SELECT count(*) FROM " + table_.module + ";";
  auto answer = co_await client_.query(q);
  if (!answer || !answer->is_array() || answer->empty()) co_return 0;
  const auto& first = (*answer)[0];
  const auto it = first.find("count");
  if (it == first.end()) co_return 0;
  if (it->is_string()) co_return std::strtoull(it->get<std::string>().c_str(), nullptr, 10);
  if (it->is_number_unsigned() || it->is_number_integer()) co_return it->get<std::uint64_t>();
  co_return 0;
}

asio::awaitable<bool> module_puller::unfinished_backfill() {
  const auto ranges = co_await store_.load_backfill(table_.module);
  co_return std::any_of(ranges.begin(), ranges.end(), [](const auto& r) { return !r.done; });
}

asio::awaitable<cycle_stats> module_puller::backfill_range(worker w, storage::backfill_range range,
                                                           std::function<void(std::size_t)> on_page) {
  cycle_stats stats;
  std::optional<std::int64_t> after = range.last_id_done;
  if (!after) after = range.lower_id - 1;
  const std::vector<std::string> all_columns;
  auto query_after = [&](std::int64_t from) {
    vtiger::vtql::select_query q{table_.module, all_columns};
    q.where("id", ">", id_prefix_ + "x" + std::to_string(from))
        .and_where("id", "<=", id_prefix_ + "x" + std::to_string(range.upper_id))
        .order_by({"id"})
        .limit(vtiger::vtql::max_page_size);
    return *q.str();
  };
  const std::string first_query = query_after(*after);
  auto page = co_await fetch(*w.client, first_query, stats.queries);
  while (!page.empty()) {
    const std::int64_t last = id_number(field_text(page.back(), "id"));
    storage::page_options options;
    options.backfill = storage::backfill_progress{range.range_no, last, false};
    std::span<const flat_record> rows{page};
    // A page ending on the range's upper id ends the range: no query can find more (saves one query per
    // range where ids are dense; the last range always ends on the highest id).
    const bool range_end = last >= range.upper_id;
    const std::string next_query = range_end ? std::string{} : query_after(last);
    std::vector<flat_record> next_page;
    storage::page_result result;
    if (range_end) {
      result = co_await store(*w.store, rows, options);
    } else {
      // Fetch the range's next page while this one is stored (as pull_changes does); a stop discards the
      // fetched page, and the range resumes after `last`.
      auto [fetched, stored] =
          co_await (fetch(*w.client, next_query, stats.queries) && store(*w.store, rows, options));
      next_page = std::move(fetched);
      result = std::move(stored);
    }
    stats.fetched += page.size();
    stats.inserted += result.inserted;
    stats.updated += result.updated;
    stats.unchanged += result.unchanged;
    if (observer_.on_records && result.inserted + result.updated > 0) {
      observer_.on_records(table_.module, result.inserted + result.updated);
    }
    if (on_page) on_page(page.size());
    after = last;
    page = std::move(next_page);
    if (stop_check_ && stop_check_()) co_return stats;
  }
  storage::page_options done;
  done.backfill = storage::backfill_progress{range.range_no, *after, true};
  const storage::row_batch none;
  (void)co_await w.store->store_page(table_, none, done);
  co_return stats;
}

asio::awaitable<cycle_stats> module_puller::backfill(std::vector<worker> workers,
                                                     std::function<void(std::uint64_t)> progress) {
  std::uint64_t done_rows = 0;
  if (workers.size() <= 1 && !(co_await unfinished_backfill())) {
    page_hook_ = [&](std::size_t n) {
      done_rows += n;
      if (progress) progress(done_rows);
    };
    auto stats = co_await pull_changes();
    page_hook_ = nullptr;
    co_return stats;
  }
  if (workers.empty()) workers.push_back(worker{&client_, &store_});

  cycle_stats total;
  const std::vector<std::string> id_only{"id"};
  const std::vector<std::string> id_time{"id", "modifiedtime"};
  auto lowest =
      co_await fetch(client_, vtiger::vtql::id_page(table_.module, id_only, std::nullopt, 1), total.queries);
  if (lowest.empty()) {
    co_await store_.record_success(table_.module);
    co_return total;
  }
  const std::string first_id = field_text(lowest.front(), "id");
  id_prefix_ = first_id.substr(0, first_id.find('x'));

  auto ranges = co_await store_.load_backfill(table_.module);
  const bool resume = std::any_of(ranges.begin(), ranges.end(), [](const auto& r) { return !r.done; });
  if (!resume) {
    vtiger::vtql::select_query highest_q{table_.module, id_only};
    highest_q.order_by({"id"}, true).limit(1);
    auto highest = co_await fetch(client_, *highest_q.str(), total.queries);
    vtiger::vtql::select_query newest_q{table_.module, id_time};
    newest_q.order_by({"modifiedtime"}, true).limit(1);
    auto newest = co_await fetch(client_, *newest_q.str(), total.queries);
    if (highest.empty() || newest.empty()) co_return total;
    // The incremental pull afterwards starts where Vtiger stood now, so changes made during the backfill
    // are picked up; an existing older cursor is kept (it is the safer of the two).
    const storage::cursor_position start{field_text(newest.front(), "modifiedtime"), ""};
    const auto existing = co_await store_.load_cursor(table_.module);
    if (!existing || position_less(start, *existing)) {
      storage::page_options set_cursor;
      set_cursor.cursor = start;
      const storage::row_batch none;
      (void)co_await store_.store_page(table_, none, set_cursor);
    }
    ranges = storage::split_id_range(id_number(first_id), id_number(field_text(highest.front(), "id")),
                                     static_cast<int>(workers.size() * 4));
    std::span<const storage::backfill_range> plan{ranges};
    co_await store_.plan_backfill(table_.module, plan);
  }

  // Workers take the unfinished ranges one after another; each range is resumable on its own.
  std::vector<storage::backfill_range> todo;
  for (const auto& r : ranges) {
    if (!r.done) todo.push_back(r);
  }
  std::size_t next = 0;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done{executor, std::chrono::steady_clock::time_point::max()};
  std::size_t running = workers.size();
  std::exception_ptr failure;
  for (auto w : workers) {
    asio::co_spawn(
        executor,
        [&, w]() -> asio::awaitable<void> {
          while (next < todo.size() && !failure && !(stop_check_ && stop_check_())) {
            const auto range = todo[next++];
            auto stats = co_await backfill_range(w, range, [&](std::size_t n) {
              done_rows += n;
              if (progress) progress(done_rows);
            });
            total.queries += stats.queries;
            total.fetched += stats.fetched;
            total.inserted += stats.inserted;
            total.updated += stats.updated;
            total.unchanged += stats.unchanged;
          }
        },
        [&](const std::exception_ptr& e) {
          if (e && !failure) failure = e;
          if (--running == 0) all_done.cancel();
        });
  }
  (void)co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (failure) std::rethrow_exception(failure);
  if (stop_check_ && stop_check_()) co_return total;
  // Then everything that changed since the backfill started.
  auto tail = co_await pull_changes();
  total.queries += tail.queries;
  total.fetched += tail.fetched;
  total.inserted += tail.inserted;
  total.updated += tail.updated;
  co_return total;
}

asio::awaitable<bool> module_puller::resync_record(const std::string& id) {
  auto answer = co_await client_.retrieve(id);
  if (!answer) {
    if (is_access_denied(answer.error())) co_return false;
    throw pull_error("retrieve " + id + ": " + answer.error().code + ": " + answer.error().message);
  }
  const std::vector<flat_record> one{record::to_flat_record(*answer)};
  const storage::page_options options;
  (void)co_await store(store_, one, options);
  co_return true;
}

}  // namespace vtsync::sync

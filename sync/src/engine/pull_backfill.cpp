// The backfill (pull.hpp): with one worker the incremental walk from the start; with more, the id space
// split into ranges (storage::backfill_ranges), each fetched by one session and resumable on its own.
#include "vtsync/sync/engine/pull.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <span>

#include "pull_fields.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using detail::field_text;
using detail::id_number;

asio::awaitable<bool> module_puller::unfinished_backfill() {
  const auto ranges = co_await storage_.backfill.load_backfill(table_.module);
  co_return std::any_of(ranges.begin(), ranges.end(), [](const auto& r) { return !r.done; });
}

asio::awaitable<cycle_stats> module_puller::backfill_range(worker w, storage::backfill_range range,
                                                           std::function<void(std::size_t)> on_page) {
  cycle_stats stats;
  std::optional<std::int64_t> after = range.last_id_done;
  if (!after) after = range.lower_id - 1;
  const std::vector<std::string> columns = page_columns();
  auto query_after = [&](std::int64_t from) {
    vtiger::vtql::select_query q{table_.module, columns};
    q.where("id", ">", id_prefix_ + "x" + std::to_string(from))
        .and_where("id", "<=", id_prefix_ + "x" + std::to_string(range.upper_id))
        .order_by({"id"})
        .limit(vtiger::vtql::max_page_size);
    return *q.str();
  };
  const std::string first_query = query_after(*after);
  auto page = co_await fetch_page(*w.client, first_query, stats.queries);
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
      result = co_await store(*w.rows, rows, options);
    } else {
      // Fetch the range's next page while this one is stored (as pull_changes does); a stop discards the
      // fetched page, and the range resumes after `last`.
      auto [fetched, stored] =
          co_await (fetch_page(*w.client, next_query, stats.queries) && store(*w.rows, rows, options));
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
  (void)co_await w.rows->store_page(table_, none, done);
  co_return stats;
}

asio::awaitable<cycle_stats> module_puller::backfill(std::vector<worker> workers,
                                                     std::function<void(std::uint64_t)> progress) {
  if (!has_cursor_field()) {
    auto whole = co_await pull_whole();
    if (progress) progress(whole.fetched);
    co_return whole;
  }
  if (workers.size() <= 1 && !(co_await unfinished_backfill()) &&
      (co_await storage_.cursors.load_cursor(table_.module))) {
    // Pulled before: the changes since the cursor (by modifiedtime, which is what changed).
    std::uint64_t done_rows = 0;
    page_hook_ = [&](std::size_t n) {
      done_rows += n;
      if (progress) progress(done_rows);
    };
    auto stats = co_await pull_changes();
    page_hook_ = nullptr;
    co_return stats;
  }
  co_return co_await backfill_by_ranges(std::move(workers), std::move(progress));
}

asio::awaitable<cycle_stats> module_puller::backfill_by_ranges(std::vector<worker> workers,
                                                               std::function<void(std::uint64_t)> progress) {
  std::uint64_t done_rows = 0;
  if (workers.empty()) workers.push_back(worker{&client_, &storage_.rows});

  cycle_stats total;
  const std::vector<std::string> id_only{"id"};
  const std::vector<std::string> id_time{"id", "modifiedtime"};
  auto lowest =
      co_await fetch(client_, vtiger::vtql::id_page(table_.module, id_only, std::nullopt, 1), total.queries);
  if (lowest.empty()) {
    co_await storage_.cursors.record_success(table_.module);
    co_return total;
  }
  const std::string first_id = field_text(lowest.front(), "id");
  id_prefix_ = first_id.substr(0, first_id.find('x'));

  auto ranges = co_await storage_.backfill.load_backfill(table_.module);
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
    const auto existing = co_await storage_.cursors.load_cursor(table_.module);
    if (!existing || position_less(start, *existing)) {
      storage::page_options set_cursor;
      set_cursor.cursor = start;
      const storage::row_batch none;
      (void)co_await storage_.rows.store_page(table_, none, set_cursor);
    }
    // One session walks one range (its pages are the plain id keyset); several share 4 ranges each.
    const int ranges_planned = workers.size() == 1 ? 1 : static_cast<int>(workers.size() * 4);
    ranges = storage::split_id_range(id_number(first_id), id_number(field_text(highest.front(), "id")),
                                     ranges_planned);
    std::span<const storage::backfill_range> plan{ranges};
    co_await storage_.backfill.plan_backfill(table_.module, plan);
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
  // Then everything that changed since the backfill started (the cursor set when it was planned), minus
  // the overlap for saves that committed late: the same window a poll re-reads.
  const auto started_at = co_await storage_.cursors.load_cursor(table_.module);
  if (!started_at) co_return total;  // cannot happen: planning sets it (and a cursor never goes away)
  std::optional<std::string> catch_up_from = shift_datetime(started_at->modifiedtime, -settings_.overlap);
  if (!catch_up_from) catch_up_from = started_at->modifiedtime;
  auto tail = co_await pull_changes(catch_up_from, pass_end::short_page);
  total.queries += tail.queries;
  total.fetched += tail.fetched;
  total.inserted += tail.inserted;
  total.updated += tail.updated;
  co_return total;
}

}  // namespace vtsync::sync

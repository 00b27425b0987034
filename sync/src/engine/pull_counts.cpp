// Remote deletions by range counts (pull.hpp). Once per cycle, Vtiger's
// `SELECT count(*) FROM M WHERE id < '<the mirror's largest id + 1>';` is compared with the mirror's count
// of the ids Vtiger should show (mirror_rows::count_known) in that range. Equal: done,
// one query. Fewer in Vtiger: the id space is bisected at the mirror's median id, one count(*) per split
// (the other half's count is the difference), until a range holds at most a page of records; that range's
// ids (`SELECT id ... WHERE id >= a AND id < b`) are compared with the mirror's: a local id Vtiger lacks
// is confirmed by a retrieve before its row goes, a record the mirror lacks is retrieved and stored.
// More in Vtiger: most often a record created after this cycle's pull, which the next pull brings; only
// when the surplus is still there next cycle is it bisected (a missed create).
// A bisection left unfinished at the deadline goes on next cycle from the ranges it had left.
// What counts cannot see: a deletion and a record the mirror lacks that cancel out in the same range (the
// total first): they show once any other difference makes the bisection split them apart, or at an id
// scan (sync.deletion_detection = "scan"). Vtiger counts only what the sync user may see, like its query:
// a record that became invisible looks deleted, and goes only if `retrieve` says ACCESS_DENIED too.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "pull_fields.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using detail::field_text;
using detail::id_number;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto page_size = static_cast<std::int64_t>(vtiger::vtql::max_page_size);

}  // namespace

asio::awaitable<std::optional<std::int64_t>> module_puller::count_remote(
    std::optional<storage::id_range> range) {
  std::string q = "SELECT count(*) FROM " + table_.module;
  if (range) {
    // Numbers only (no quoting needed); VTQL has no parentheses, and AND of two conditions works.
    std::string joiner = " WHERE ";
    if (range->from > 0) {
      q += joiner + "id >= '" + id_text(range->from) + "'";
      joiner = " AND ";
    }
    if (range->to) q += joiner + "id < '" + id_text(*range->to) + "'";
  }
  q += ";";
  q = vtiger::vtql::and_condition(q, settings_.filter);
  auto answer = co_await client_.query(q);
  if (!answer) {
    spdlog::warn("module={} count(*) rejected: {}: {}", table_.module, answer.error().code,
                 answer.error().message);
    co_return std::nullopt;
  }
  // Vtiger 8.2 answers [{"count":"254"}] (a string); 8.4's code gives [].
  if (!answer->is_array() || answer->empty() || !(*answer)[0].is_object()) co_return std::nullopt;
  const auto& first = (*answer)[0];
  const auto it = first.find("count");
  if (it == first.end()) co_return std::nullopt;
  if (it->is_string()) co_return std::strtoll(it->get<std::string>().c_str(), nullptr, 10);
  if (it->is_number_integer()) co_return it->get<std::int64_t>();
  co_return std::nullopt;
}

asio::awaitable<std::optional<std::size_t>> module_puller::count_deletions(steady::time_point deadline) {
  if (ranges_left_.empty()) {
    // Up to the mirror's largest id: records created after it (Vtiger's ids only grow) are the pull's
    // business, and a create pushed but not yet written back (no id in the mirror yet) does not hide a
    // deletion in the count.
    const auto ids = co_await storage_.rows.local_id_range(table_);
    std::optional<storage::id_range> top;
    if (ids) {
      if (id_prefix_.empty()) {
        const auto first = co_await storage_.rows.known_id_at(table_, {}, 0);
        if (first) id_prefix_ = first->substr(0, first->find('x'));
      }
      if (!id_prefix_.empty()) top = storage::id_range{0, ids->second + 1};
    }
    const auto remote = co_await count_remote(top);
    if (!remote) {
      count_supported_ = false;
      co_return std::nullopt;
    }
    if (!count_supported_) {
      spdlog::info("module={} deletions come from range counts (count(*) answers)", table_.module);
      count_supported_ = true;
    }
    const std::array<storage::id_range, 1> all{top.value_or(storage::id_range{})};
    const auto local = (co_await storage_.rows.count_known(table_, all)).at(0);
    if (*remote == local || (*remote > local && !surplus_seen_)) {
      surplus_seen_ = *remote > local;
      co_return 0;
    }
    surplus_seen_ = false;
    spdlog::debug("module={} Vtiger counts {} record(s), the mirror {}: looking for the difference",
                  table_.module, *remote, local);
    ranges_left_.push_back({all[0], *remote, local});
  }
  std::size_t deleted = 0;
  do {
    const auto r = ranges_left_.back();
    ranges_left_.pop_back();
    if (r.remote == r.local) continue;
    if (r.remote <= page_size || r.local < 2) {
      deleted += co_await reconcile_range(r.range, r.remote);
      continue;
    }
    // Split at the mirror's median id: each half holds half the local rows, so a difference is found in
    // about log2(N / 100) splits.
    const auto median = co_await storage_.rows.known_id_at(table_, r.range, r.local / 2);
    if (!median) {
      deleted += co_await reconcile_range(r.range, r.remote);  // the mirror changed meanwhile
      continue;
    }
    id_prefix_ = median->substr(0, median->find('x'));
    const auto mid = id_number(*median);
    range_count left{{r.range.from, mid}}, right{{mid, r.range.to}};
    const auto left_remote = co_await count_remote(left.range);
    if (!left_remote) {
      ranges_left_.clear();
      co_return deleted;  // the next cycle starts again with the total
    }
    left.remote = *left_remote;
    right.remote = std::max<std::int64_t>(0, r.remote - left.remote);
    const std::array<storage::id_range, 2> halves{left.range, right.range};
    const auto local = co_await storage_.rows.count_known(table_, halves);
    left.local = local.at(0);
    right.local = local.at(1);
    for (const auto& half : {right, left}) {
      if (half.remote != half.local) ranges_left_.push_back(half);
    }
  } while (!ranges_left_.empty() && steady::now() < deadline && !(stop_check_ && stop_check_()));
  co_return deleted;
}

asio::awaitable<std::size_t> module_puller::reconcile_range(storage::id_range range, std::int64_t expected) {
  // Vtiger's ids in the range, in keyset pages; a short page ends it only once the range's count is
  // reached (Vtiger drops rows it will not show after LIMIT), else an empty one does.
  std::vector<std::string> remote;
  std::size_t queries = 0;
  const std::vector<std::string> id_only{"id"};
  std::optional<std::string> after;
  for (;;) {
    vtiger::vtql::select_query q(table_.module, id_only);
    bool any = false;
    const auto condition = [&](std::string_view op, const std::string& value) {
      if (any) {
        q.and_where("id", op, value);
      } else {
        q.where("id", op, value);
      }
      any = true;
    };
    if (after) {
      condition(">", *after);
    } else if (range.from > 0) {
      condition(">=", id_text(range.from));
    }
    if (range.to) condition("<", id_text(*range.to));
    q.order_by({"id"}).limit(vtiger::vtql::max_page_size);
    const auto page = co_await fetch(client_, *q.str(), queries);
    for (const auto& row : page) remote.push_back(field_text(row, "id"));
    if (page.empty()) break;
    const bool reached = static_cast<std::int64_t>(remote.size()) >= expected;
    if (static_cast<std::int64_t>(page.size()) < page_size && reached) break;
    after = remote.back();
  }
  const auto local = co_await storage_.rows.known_ids(table_, range);
  const auto by_number = [](const std::string& a, const std::string& b) {
    return id_number(a) < id_number(b);
  };
  std::sort(remote.begin(), remote.end(), by_number);
  std::vector<std::string> gone, missing;
  std::set_difference(local.begin(), local.end(), remote.begin(), remote.end(), std::back_inserter(gone),
                      by_number);
  std::set_difference(remote.begin(), remote.end(), local.begin(), local.end(), std::back_inserter(missing),
                      by_number);
  for (const auto& id : missing) {
    // A record the mirror lacks (a create the pull has not brought yet, or missed): stored as the pull does.
    if (co_await resync_record(id))
      spdlog::info("module={} record {} shown by Vtiger was not in the mirror: stored", table_.module, id);
  }
  co_return co_await confirm_deletions(gone);
}

}  // namespace vtsync::sync

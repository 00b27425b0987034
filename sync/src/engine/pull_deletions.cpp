// Deletions (pull.hpp): which method runs in a cycle (range counts, Vtiger's `sync` list, the id scan),
// the id scan in slices, and the retrieve that confirms each deletion before its row goes. The range
// counts themselves are pull_counts.cpp's.
#include "vtsync/sync/engine/pull.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <span>

#include "pull_fields.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using detail::field_text;
using detail::id_number;
using nlohmann::json;
using steady = std::chrono::steady_clock;

std::string_view module_puller::deletion_method_name() const {
  if (count_supported_.value_or(false)) return "count";
  if (sync_supported_ && settings_.deletions != deletion_method::scan) return "sync";
  return "scan";
}

asio::awaitable<std::size_t> module_puller::detect_deletions(steady::time_point deadline) {
  if (!has_cursor_field()) co_return 0;  // pull_whole found them already
  std::size_t deleted = 0;
  const auto now = steady::now();
  const auto backstop = settings_.scan_interval * settings_.id_scan_every;
  const bool counts_wanted =
      settings_.deletions == deletion_method::automatic || settings_.deletions == deletion_method::count;
  if (!scan_after_) {
    if (counts_wanted && count_supported_ != false) {
      // The counts also cover deletions made while the daemon was down, and need no backstop scan (see
      // pull_counts.cpp for what they cannot see).
      const auto counted = co_await count_deletions(deadline);
      if (counted) {
        deleted = *counted;
      } else {
        spdlog::info("module={} Vtiger answers no count(*): deletions come from {}", table_.module,
                     sync_supported_ && settings_.deletions != deletion_method::scan ? "sync" : "id scans");
      }
    }
    if (count_supported_ != true && now >= next_pass_) {
      const bool use_sync = sync_supported_ && settings_.deletions != deletion_method::scan;
      if (use_sync && sync_since_ && now < next_backstop_) {
        deleted += co_await sync_deletions();
      } else {
        // The first pass after start-up is always a full scan: deletions made while the daemon was down
        // are before any sync window it could ask for.
        scan_after_ = std::string{};
        next_backstop_ = now + backstop;
        if (use_sync) {
          sync_since_ = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() -
                        60;
        }
      }
      next_pass_ = now + settings_.scan_interval;
    }
  }
  if (scan_after_) deleted += co_await scan_ids(deadline);
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
      scan_after_ = std::string{};  // the id scan takes over, from this cycle on
      co_return 0;
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
  co_return co_await storage_.rows.apply_remote_deletes(table_, ids, mode);
}

asio::awaitable<std::size_t> module_puller::scan_ids(steady::time_point deadline) {
  // Page after page of remote ids in id order, each compared with the mirror's ids of the same id range
  // (only one page in memory); at least one page per call, then until the deadline.
  std::size_t deleted = 0;
  std::size_t queries = 0;
  const std::vector<std::string> id_only{"id"};
  do {
    const std::optional<std::string> after =
        scan_after_->empty() ? std::nullopt : std::optional<std::string>{*scan_after_};
    const auto q = vtiger::vtql::id_page(table_.module, id_only, after);
    const auto page = co_await fetch(client_, q, queries);
    storage::id_range range{after ? id_number(*after) + 1 : 0, std::nullopt};
    std::vector<std::int64_t> remote;
    remote.reserve(page.size());
    for (const auto& row : page) remote.push_back(id_number(field_text(row, "id")));
    std::sort(remote.begin(), remote.end());
    if (!page.empty()) range.to = remote.back() + 1;
    const auto local = co_await storage_.rows.known_ids(table_, range);
    std::vector<std::string> candidates;
    for (const auto& id : local) {
      if (!std::binary_search(remote.begin(), remote.end(), id_number(id))) candidates.push_back(id);
    }
    deleted += co_await confirm_deletions(candidates);
    if (page.empty()) {
      spdlog::info("module={} id scan complete", table_.module);
      scan_after_.reset();
      break;
    }
    scan_after_ = field_text(page.back(), "id");
  } while (steady::now() < deadline && !(stop_check_ && stop_check_()));
  if (scan_after_)
    spdlog::debug("module={} id scan: {} page(s) this cycle, up to {}", table_.module, queries, *scan_after_);
  co_return deleted;
}

asio::awaitable<std::size_t> module_puller::confirm_deletions(const std::vector<std::string>& candidates) {
  std::vector<std::string> confirmed;
  for (const auto& id : candidates) {
    const std::string id_copy = id;
    auto answer = co_await client_.retrieve(id_copy);
    bool outside_filter = false;
    if (answer && !settings_.filter.empty()) {
      const bool matches = co_await matches_filter(id_copy);
      outside_filter = !matches;
    }
    if (!answer && detail::is_access_denied(answer.error())) {
      confirmed.push_back(id);
    } else if (outside_filter) {
      // It exists but no longer matches the filter (edited in Vtiger, or created here not matching): it
      // leaves the mirror like a deleted record.
      spdlog::info("module={} record {} no longer matches modules.{}.filter: it leaves the mirror",
                   table_.module, id, table_.module);
      confirmed.push_back(id);
    } else if (answer) {
      // It exists after all (the ids raced with a change): store what Vtiger has now.
      const std::vector<flat_record> one{record::to_flat_record(*answer)};
      const storage::page_options options;
      (void)co_await store(storage_.rows, one, options);
    } else {
      spdlog::warn("module={} record {} missing from Vtiger's ids but retrieve says {}: kept", table_.module,
                   id, answer.error().code);
    }
  }
  if (confirmed.empty()) co_return 0;
  spdlog::info("module={} {} record(s) deleted in Vtiger{}", table_.module, confirmed.size(),
               settings_.filter.empty() ? "" : " or outside the filter");
  const auto mode = settings_.on_remote_delete;
  std::span<const std::string> ids{confirmed};
  co_return co_await storage_.rows.apply_remote_deletes(table_, ids, mode);
}

}  // namespace vtsync::sync

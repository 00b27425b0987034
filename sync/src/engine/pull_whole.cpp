// Modules without modifiedtime (Users, Groups: recordings 213, 214): no cursor can say what changed, so
// each cycle reads the module whole, by id, and compares (pull.hpp: pull_whole). Their pages are small
// (a CRM has tens of users, a few groups) and Vtiger reads them from vtiger_users / vtiger_groups, not from
// vtiger_crmentity, so a whole read costs a few milliseconds of Vtiger's time.
#include "vtsync/sync/engine/pull.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>

#include "pull_fields.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using detail::field_text;
using detail::id_number;

// Vtiger's describe has it (a module's field list may leave its column out: the pages still name it).
bool module_puller::has_cursor_field() const {
  const auto& skipped = table_.skipped_fields;
  return table_.find("modifiedtime") != nullptr ||
         std::find(skipped.begin(), skipped.end(), "modifiedtime") != skipped.end();
}

asio::awaitable<cycle_stats> module_puller::pull_whole() {
  cycle_stats stats;
  const auto waited_before = vtiger_time_;
  const std::vector<std::string> all_columns;
  std::vector<std::int64_t> remote;
  std::optional<std::string> after;
  // Ends on an empty page, not a short one: Vtiger may drop rows it will not show after applying LIMIT,
  // and a record missing from a whole read becomes a deletion candidate (confirmed by retrieve).
  while (true) {
    const auto q = vtiger::vtql::id_page(table_.module, all_columns, after);
    const auto page = co_await fetch(client_, q, stats.queries);
    if (page.empty()) break;
    co_await take_new_fields(page);
    std::span<const flat_record> rows{page};
    const storage::page_options options;
    const auto result = co_await store(storage_.rows, rows, options);
    stats.fetched += page.size();
    stats.inserted += result.inserted;
    stats.updated += result.updated;
    stats.unchanged += result.unchanged;
    if (observer_.on_records && result.inserted + result.updated > 0)
      observer_.on_records(table_.module, result.inserted + result.updated);
    for (const auto& row : page) remote.push_back(id_number(field_text(row, "id")));
    if (id_prefix_.empty()) {
      const auto id = field_text(page.front(), "id");
      id_prefix_ = id.substr(0, id.find('x'));
    }
    after = field_text(page.back(), "id");
    if (stop_check_ && stop_check_()) co_return stats;
  }
  stats.vtiger_time = vtiger_time_ - waited_before;
  // What the mirror knows that the whole read did not bring: deleted in Vtiger, once a retrieve agrees.
  std::sort(remote.begin(), remote.end());
  const auto local = co_await storage_.rows.known_ids(table_, storage::id_range{0, std::nullopt});
  std::vector<std::string> candidates;
  for (const auto& id : local) {
    if (!std::binary_search(remote.begin(), remote.end(), id_number(id))) candidates.push_back(id);
  }
  const auto deleted = co_await confirm_deletions(candidates);
  if (deleted > 0 && observer_.on_deleted) observer_.on_deleted(table_.module, deleted);
  co_await storage_.cursors.record_success(table_.module);
  co_return stats;
}

}  // namespace vtsync::sync

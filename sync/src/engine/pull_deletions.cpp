// Deletions (pull.hpp): Vtiger's `sync` list where it works, else (and periodically as a backstop) the id
// scan, each local row missing from it confirmed by a retrieve before it goes.
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
  co_return co_await storage_.rows.apply_remote_deletes(table_, ids, mode);
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
    const auto local = co_await storage_.rows.list_vtiger_ids(table_, local_after, 1000);
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
    if (!answer && detail::is_access_denied(answer.error())) {
      confirmed.push_back(id);
    } else if (answer) {
      // It exists after all (the scan raced with a change): store what Vtiger has now.
      const std::vector<flat_record> one{record::to_flat_record(*answer)};
      const storage::page_options options;
      (void)co_await store(storage_.rows, one, options);
    } else {
      spdlog::warn("module={} record {} missing from the id scan but retrieve says {}: kept", table_.module,
                   id, answer.error().code);
    }
  }
  if (confirmed.empty()) co_return 0;
  spdlog::info("module={} {} record(s) deleted in Vtiger", table_.module, confirmed.size());
  const auto mode = settings_.on_remote_delete;
  std::span<const std::string> ids{confirmed};
  co_return co_await storage_.rows.apply_remote_deletes(table_, ids, mode);
}

}  // namespace vtsync::sync

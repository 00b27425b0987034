#pragma once
// Giving up rejected local changes (`vtsyncd discard`): the failed outbox entries a selector names are
// closed and each row goes back to Vtiger's values, read with retrieve and written as the pull writes (a
// daemon write: nothing is pushed back). A row whose create Vtiger never accepted is removed; a record
// Vtiger no longer has is handled as a remote delete (`on_remote_delete`). Each row is one transaction
// taking the push's locks (storage::outbox::discard), so a running daemon is no danger: a row whose change
// is being pushed right now, or that the user edited again since it was found, is left alone and reported
// busy (run discard again). Every row given up is logged like a conflict decision: an info line and an
// entry in vtsync.conflicts with decision "discarded".
#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <vector>

#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::sync {

struct discarded_row {
  storage::failed_row row;
  storage::discard_outcome outcome = storage::discard_outcome::busy;
  std::string note;  // why busy, or a missing mirror table
};

// Throws vtiger::client_error when Vtiger cannot be asked, std::runtime_error when it refuses a retrieve
// for another reason than ACCESS_DENIED (rows done before stay done), storage::pg_error. `tables` by module.
boost::asio::awaitable<std::vector<discarded_row>> discard_changes(
    vtiger::client& client, storage::outbox& outbox,
    const std::map<std::string, storage::mirror_table>& tables, const storage::discard_selector& which,
    bool mark_deleted);

// "restored" | "removed" | "gone" | "busy"
[[nodiscard]] std::string_view to_string(storage::discard_outcome outcome) noexcept;

}  // namespace vtsync::sync

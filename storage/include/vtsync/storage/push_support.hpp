#pragma once
// Queries the push engine (sync/engine/push.hpp) needs besides the outbox calls of state.hpp: folding
// quick successive edits of one row into one outbox entry, reading a row as the push sees it, and turning
// PostgreSQL instants into Vtiger's server-zone time strings.
//
// Error policy: as state.hpp. Every call throws pg_error for infrastructure and data failures; writes run
// in one transaction through run_transaction() (retried on connection loss, serialization failure or
// deadlock; safe to run twice). Expected outcomes are values: a row that no longer exists is nullopt.
// Writes are marked as the daemon's own, so nothing here reaches the outbox.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/state.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

// Folds later pending UPDATE entries of the same row into each claimed insert/update entry (in place):
// the claimed entry gets the union of changed_columns, the latest new_values, and for each column the
// old value from the first entry that changed it (what the user saw before the burst). The folded entries
// become 'done' with error "coalesced into <id>". Folding stops at the first later entry that is not a
// pending update (a delete, or an entry another claimer holds), so commit order per row is kept.
// Claimed entries must be in_flight (as claim() returns them). Returns how many entries were folded.
asio::awaitable<std::size_t> coalesce_pending(store& db, std::span<outbox_entry> claimed);

// A mirror row as the push needs it.
struct row_snapshot {
  std::int64_t row_id = 0;
  std::optional<std::string> vtiger_id;
  nlohmann::json sync_base;  // the record as last agreed with Vtiger (null when never agreed)
  // Every data column's current value in its to_jsonb() form, timestamptz values shifted into the Vtiger
  // server's zone ("YYYY-MM-DD HH:MM:SS"), keyed by column name (sync/record/table.hpp: to_vtiger_values
  // makes Vtiger's strings of them).
  nlohmann::json values;
  std::string sync_state;
};

// The row `row_id` of `table`, or nullopt when it no longer exists (the user deleted it).
asio::awaitable<std::optional<row_snapshot>> load_row(store& db, const mirror_table& table,
                                                      std::int64_t row_id);

// Those of `vtiger_ids` that some row of `table` already holds.
asio::awaitable<std::vector<std::string>> held_vtiger_ids(store& db, const mirror_table& table,
                                                          std::span<const std::string> vtiger_ids);

// The instant `timestamptz_text` (as PostgreSQL prints a timestamptz, e.g. outbox_entry::created_at)
// plus `shift`, written as Vtiger writes times: "YYYY-MM-DD HH:MM:SS" in the server's zone
// (store options: vtiger_timezone), seconds truncated.
asio::awaitable<std::string> to_vtiger_time(store& db, std::string_view timestamptz_text,
                                            std::chrono::seconds shift = std::chrono::seconds{0});

}  // namespace vtsync::storage

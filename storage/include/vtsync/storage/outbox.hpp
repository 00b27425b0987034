#pragma once
// The outbox repository: users' changes to the mirror tables waiting to go to Vtiger, and what becomes of
// them. The capture triggers (migrations.cpp) write the entries in the user's own transaction; the push
// engine (sync/engine/push.hpp) claims them, folds quick successive edits of a row together, and finishes
// each one: done (with the record Vtiger answered written back into the row), failed, or released.
//
// Exactly once for creates: the moment Vtiger accepts a create, record_created() makes its id durable on
// the entry (and on the row's later entries) before anything else can fail; an entry that carries an id is
// never created again, it is adopted. The write-back (mark_done) merges away a row the pull stored for the
// same record meanwhile; when the pull's row was not yet visible (its transaction commits while ours runs,
// so the unique index on vtiger_id rejects ours), the write-back runs again and then sees, and merges, it.
//
// Error policy: as state.hpp. Every call throws pg_error for infrastructure and data failures; writes run
// in one transaction (retried on connection loss, serialization failure or deadlock; safe to run twice).
// Expected outcomes are values: a row that no longer exists is an entry without `row`, a claim with nothing
// to do is an empty vector. Writes are marked as the daemon's own, so nothing here reaches the outbox.
//
// Every call sees only the entries of this repository's mirror schema (one Vtiger instance): daemons with
// different postgres.schema share one state schema without taking, or resetting, each other's changes.
#include "vtsync/storage/call_gate.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/state.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

// The NOTIFY channel the capture triggers signal (payload: "<schema>.<table>").
inline constexpr std::string_view outbox_channel = "vtsync_outbox";

enum class outbox_op { insert, update, remove };

[[nodiscard]] std::string_view to_string(outbox_op op) noexcept;  // "insert" | "update" | "delete"

// A mirror row as the push needs it.
struct row_snapshot {
  std::optional<std::string> vtiger_id;
  nlohmann::json sync_base;  // the record as last agreed with Vtiger (null when never agreed)
  // Every data column's current value in its to_jsonb() form, timestamptz values shifted into the Vtiger
  // server's zone ("YYYY-MM-DD HH:MM:SS"), keyed by column name (sync/record/table.hpp: to_vtiger_values
  // makes Vtiger's strings of them).
  nlohmann::json values;
  std::string sync_state;
};

struct outbox_entry {
  std::int64_t id = 0;
  std::string schema;
  std::string table;
  std::string module;
  std::int64_t row_id = 0;
  // The record's id when known: the row's at capture time, or the id of a create Vtiger accepted for this
  // row (record_created), even when the write-back has not happened yet.
  std::optional<std::string> vtiger_id;
  outbox_op op = outbox_op::insert;
  std::vector<std::string> changed_columns;
  nlohmann::json old_values;  // to_jsonb form (null for insert)
  nlohmann::json new_values;  // to_jsonb form (null for delete)
  int attempts = 0;           // including this one
  std::string idempotency_key;
  std::string created_at;  // when the change was committed, as PostgreSQL prints a timestamptz
  // created_at as Vtiger writes times: "YYYY-MM-DD HH:MM:SS" in the server's zone (state_options::
  // vtiger_timezone), seconds truncated; compared with modifiedtime/createdtime without a round trip.
  std::string created_at_vtiger;
  // The row as it is now, read by claim() (for inserts and updates); nullopt when the user deleted it.
  std::optional<row_snapshot> row;
};

struct conflict_record {
  std::string module;
  std::string vtiger_id;
  std::string field;
  std::optional<std::string> local_value;
  std::optional<std::string> remote_value;
  std::string decision;  // e.g. "remote_wins"
};

struct outbox_counts {
  std::int64_t pending = 0;
  std::int64_t in_flight = 0;
  std::int64_t failed = 0;
};

// An entry not yet done, as `vtsyncd pending` lists it.
struct open_entry {
  outbox_entry entry;  // with `row` read as the claim reads it
  std::string state;   // "pending" | "in_flight" | "failed"
  std::string error;   // the last error (failed; or a transient one of a pending entry), "" if none
  std::string since;   // when it reached this state, as PostgreSQL prints a timestamptz
};

// Which rejected changes `vtsyncd discard` gives up: those of the record `vtiger_id`, of the row
// `table`:`row_id`, or of `module` (set exactly one).
struct discard_selector {
  std::string vtiger_id;
  std::string table;
  std::optional<std::int64_t> row_id;
  std::string module;
};

// A row with rejected (failed) changes, as found for a discard.
struct failed_row {
  std::string schema;
  std::string table;
  std::string module;
  std::int64_t row_id = 0;
  std::optional<std::string> vtiger_id;  // the newest id its entries know (none: never created)
  std::int64_t last_entry = 0;           // the newest of its open entries (pending or failed) when found
  std::vector<std::string> ops;          // its failed entries' ops, oldest first
  std::string error;                     // its newest failed entry's error
};

// What a discard did to a row.
enum class discard_outcome {
  restored,  // written back with Vtiger's record
  removed,   // never created in Vtiger: the row is deleted
  gone,      // Vtiger no longer has the record: deleted (or marked) as a remote delete would
  busy,      // an entry of the row is being pushed now, or the row changed since it was found: untouched
};

// What claim() gives: the entries, and how many later edits were folded into them.
struct claimed_batch {
  std::vector<outbox_entry> entries;
  std::size_t coalesced = 0;
};

// All calls on one connection. Several coroutines may call at once (the push's parallel writes): the calls
// take turns (call_gate), each one whole, in order of arrival. co_await each call in the expression that
// makes it (GCC 12: see state.hpp).
class outbox {
 public:
  outbox(connection& conn, state_options options);

  [[nodiscard]] const state_options& options() const noexcept { return options_; }
  [[nodiscard]] connection& conn() noexcept { return conn_; }

  // Claims up to `limit` pending entries, oldest first, at most one per row and none for a row that still
  // has an older entry pending or in flight (so each record's changes go out in commit order); they become
  // in_flight with attempts + 1 (FOR UPDATE SKIP LOCKED: concurrent claimers never get the same entry).
  // Then folds later pending UPDATE entries of the same row into each claimed insert/update: the claimed
  // entry gets the union of changed_columns, the latest new_values, and for each column the old value from
  // the first entry that changed it; the folded entries become 'done' ("coalesced into <id>"). Folding stops
  // at the first later entry that is not a pending update, so commit order per row is kept. Finally reads
  // each insert/update's row as it is now (entry.row). Round trips: one for the claim, one per mirror table
  // in the batch for the rows, and one more only when there is something to fold.
  asio::awaitable<claimed_batch> claim(std::span<const mirror_table> tables, int limit);

  // Vtiger accepted a create of `entry`'s row as `vtiger_id`: the id is stored on the entry and on the row's
  // later entries that know no id yet (a delete captured before the write-back then deletes the record),
  // in one statement, before anything else is done.
  asio::awaitable<void> record_created(const outbox_entry& entry, const std::string& vtiger_id);

  // The push succeeded (or there was nothing to send). `written_back` is the record Vtiger returned (create,
  // revise or adopted) as a row of one (sync/record/table.hpp: to_row), if any: the row gets its vtiger_id,
  // the server's values and _sync_state = 'synced' (a daemon write, through the same columns as the pull's
  // upsert), unless the user changed the row again meanwhile (a later entry is pending): then only
  // vtiger_id and _sync_base are set and the row stays 'pending'. `vtiger_id`: the record's id (the written
  // back record's, or entry.vtiger_id): the row's later entries without one get it. A row the pull stored
  // for the same vtiger_id is merged away. One round trip (a pipeline), run again if the pull's row became
  // visible only while it ran (unique violation on vtiger_id).
  asio::awaitable<void> mark_done(const mirror_table& table, const outbox_entry& entry,
                                  const std::optional<row_batch>& written_back,
                                  const std::optional<std::string>& vtiger_id = std::nullopt);
  // The push was rejected (a data problem): entry 'failed', row _sync_state = 'failed', _sync_error.
  asio::awaitable<void> mark_failed(const outbox_entry& entry, std::string_view error);
  // A transient failure: back to pending (attempts stay counted), error remembered. `attempted = false`:
  // nothing was sent for this claim (the entry waits for another row), so the claim's attempt is not counted.
  asio::awaitable<void> release(const outbox_entry& entry, std::string_view error, bool attempted = true);
  // At start-up (or on taking the push lease): entries left in flight by a previous holder go back to
  // pending. Returns how many.
  asio::awaitable<std::size_t> reset_in_flight();
  // Failed entries (of one module, or all when empty) go back to pending. Returns how many.
  asio::awaitable<std::size_t> retry_failed(std::string_view module = {});
  asio::awaitable<outbox_counts> count(std::string_view module = {});

  // Entries not done (pending, in flight, failed) of `module` (all when empty), oldest first, at most
  // `limit`, each with its row as the claim reads it (outbox_control.cpp).
  asio::awaitable<std::vector<open_entry>> list_open(std::span<const mirror_table> tables,
                                                     std::string_view module, int limit);
  // The rows with failed entries that `which` selects (outbox_control.cpp).
  asio::awaitable<std::vector<failed_row>> failed_rows(const discard_selector& which);
  // Gives up the row's local changes not yet in Vtiger, in one transaction that takes the locks the push
  // takes (the row's, as mark_done; the entries', which a claim skips): its failed and pending entries
  // become done ("discarded"); the row becomes `record` (Vtiger's, read by the caller with retrieve: a
  // row of one, written through the pull's columns as a daemon write, so nothing is pushed back), or, when
  // `record` is nullopt, is deleted (never created in Vtiger: removed; else gone, handled as `on_delete`
  // says). Nothing is done (busy) while an entry of the row is in flight or one newer than
  // `row.last_entry` exists (the user edited the row meanwhile).
  asio::awaitable<discard_outcome> discard(const mirror_table& table, const failed_row& row,
                                           const std::optional<row_batch>& record, bool mark_deleted);
  // Deletes done entries last updated more than `retention` ago, `batch` rows per statement (each its own
  // transaction), until none is left. Failed entries stay. Returns how many were deleted.
  asio::awaitable<std::size_t> prune_done(std::chrono::milliseconds retention, int batch = 1000);
  // Refreshes the planner's statistics of the outbox and of `tables` (ANALYZE): after a bulk change queued
  // thousands of entries into a young outbox, plans made for a nearly empty table would scan it whole for
  // every change until autovacuum got round to it.
  asio::awaitable<void> analyze(std::span<const mirror_table> tables);
  // Entries finished (done or failed) within the last `window`: how fast the push goes (vtsyncd status).
  asio::awaitable<std::int64_t> finished_within(std::chrono::seconds window);
  // Wakes the push engine of whichever daemon holds the push lease (NOTIFY on outbox_channel).
  asio::awaitable<void> notify(std::string_view payload);

  asio::awaitable<void> log_conflict(const conflict_record& conflict);

  // What the push needs of rows another row's reference names (`@<table>:<_row_id>`): each existing row of
  // `row_ids` in `table`, by _row_id: its vtiger_id (nullopt while not created) and _sync_state.
  struct local_row {
    std::optional<std::string> vtiger_id;
    std::string sync_state;
  };
  asio::awaitable<std::map<std::int64_t, local_row>> local_rows(const mirror_table& table,
                                                                std::span<const std::int64_t> row_ids);

  // Inventory headers (line_rows.hpp): the lines of header row `row_id` as they are now, in the order the
  // push sends them (outbox_lines.cpp).
  asio::awaitable<std::vector<nlohmann::json>> line_values(const mirror_table& table, std::int64_t row_id);
  // After a create or revise of header row `row_id` (Vtiger's `vtiger_id`) that carried its lines: the lines
  // are numbered as sent and become Vtiger's `lines` (rows of table.lines; ids, values), as daemon writes, in
  // one transaction. Skipped when the header has a newer pending entry (the user changed it or its lines
  // again: that entry sends them, and its write-back brings Vtiger's lines). Returns whether it wrote.
  asio::awaitable<bool> write_back_lines(const mirror_table& table, std::int64_t row_id,
                                         const std::string& vtiger_id, const row_batch& lines);

  // Those of `vtiger_ids` that some row of `table` already holds.
  asio::awaitable<std::vector<std::string>> held_vtiger_ids(const mirror_table& table,
                                                            std::span<const std::string> vtiger_ids);

 private:
  // The SELECT list of an entry `k` as read_entry() reads it (columns 0 to 13).
  [[nodiscard]] static std::string entry_columns();
  [[nodiscard]] static outbox_entry read_entry(const result& res, int row);
  asio::awaitable<std::size_t> coalesce(std::span<outbox_entry> claimed);
  asio::awaitable<void> load_rows(std::span<const mirror_table> tables, std::span<outbox_entry> claimed);

  connection& conn_;
  state_options options_;
  call_gate gate_;
};

}  // namespace vtsync::storage

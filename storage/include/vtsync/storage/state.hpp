#pragma once
// The daemon's state in PostgreSQL (schema `vtsync` by default): the state tables, their versioned
// migrations, and the options every repository on them shares. Each concept has a repository of its own:
//   mirror_rows.hpp      the mirror tables' rows: pulled pages, remote deletions, the deletion scan's ids
//   cursors.hpp          where each module's incremental pull stands
//   backfill_ranges.hpp  a parallel backfill's id ranges and how far each got
//   outbox.hpp           local changes waiting for Vtiger, their outcomes and the conflicts log
//   lease.hpp            which daemon works which module, and which one pushes
// The mirror tables' DDL is schema.hpp's (ensure_mirror_table).
//
// Error policy (every repository): every operation throws pg_error (pg.hpp) for infrastructure and data
// failures. Each write runs in one transaction through run_transaction(): connection loss, timeouts,
// serialization failures and deadlocks are retried there (every operation is safe to run twice); data
// errors (SQLSTATE 22/23) and anything else are thrown at once and the transaction leaves nothing behind.
// Expected outcomes are values: an absent cursor is nullopt, rows skipped because of unpushed local changes
// are listed in page_result::skipped_local, a claim with nothing to do is an empty vector. Every
// transaction is marked as the daemon's own, so none of these writes reaches the outbox.
//
// Repositories take their arguments by reference: co_await each call in the expression that makes it (as
// usual with Asio awaitables). Inside a coroutine, pass an options struct as a named variable, not a braced
// temporary: GCC 12 destroys non-trivial temporaries of a co_await expression twice (a compiler bug; see
// params() in pg.hpp).
//
// State tables (schema <state>, default "vtsync"; created by migrate()):
//   schema_version(version, description, applied_at)
//   mirror_tables(schema_name, table_name, module)                   registered mirror tables
//   cursors(schema_name, module, modifiedtime, last_id, last_success_at, updated_at)
//       modifiedtime is kept as Vtiger sent it ("YYYY-MM-DD HH:MM:SS", server zone); last_id is the
//       last web-service id seen at that modifiedtime (ties).
//   backfill_ranges(schema_name, module, range_no, lower_id, upper_id, last_id_done, done, updated_at)
//       a resumable backfill: the id space split into ranges, each remembering how far it got.
//   outbox(id, schema_name, table_name, module, row_id, vtiger_id, op, changed_columns, old_values,
//          new_values, state, attempts, error, idempotency_key, created_at, updated_at)
//       op: insert | update | delete; state: pending -> in_flight -> done | failed. vtiger_id: the row's
//       id at capture, or the id of an accepted create (outbox.hpp). old/new values are
//       to_jsonb() of the changed data columns (all data columns for insert (new) and delete (old)).
//       idempotency_key: a uuid on inserts, for engines that make creates idempotent.
//   conflicts(id, module, vtiger_id, field, local_value, remote_value, decision, at, schema_name)
//       schema_name (version 2) is the mirror schema, i.e. the Vtiger instance; NULL on older rows.
#include "vtsync/storage/pg.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

[[nodiscard]] int latest_state_version() noexcept;
// The vtsync release (CHANGELOG.md version) that brought each migration, in order (one per version).
[[nodiscard]] std::vector<std::string> migration_releases();

// Applies the missing migrations under an advisory lock: several daemons starting at once are safe (the
// others wait, then find nothing to do). Returns how many migrations this call applied.
asio::awaitable<int> migrate(connection& conn, std::string_view state_schema = "vtsync");

struct state_options {
  std::string state_schema = "vtsync";
  std::string mirror_schema = "vtiger";  // postgres.schema
  std::string vtiger_timezone = "UTC";   // the Vtiger server's zone (IANA name or UTC offset)
  retry_policy retry;
};

}  // namespace vtsync::storage

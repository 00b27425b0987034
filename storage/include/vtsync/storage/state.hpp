#pragma once
// The daemon's state in PostgreSQL (schema `vtsync` by default) and the pull's operations on the mirror:
// versioned migrations, the page store with its cursor, deletion scans and backfill ranges. The outbox of
// local changes and the conflicts log are the outbox repository's (outbox.hpp).
//
// Error policy: every operation throws pg_error (pg.hpp) for infrastructure and data failures. Each write
// runs in one transaction through run_transaction(): connection loss, timeouts, serialization failures and
// deadlocks are retried there (every operation here is safe to run twice); data errors (SQLSTATE 22/23)
// and anything else are thrown at once and the transaction leaves nothing behind. Expected outcomes are
// values: an absent cursor is nullopt, rows skipped because of unpushed local changes are listed in
// page_result::skipped_local, a claim with nothing to do is an empty vector. Every transaction here is
// marked as the daemon's own, so none of these writes reaches the outbox.
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
#include "vtsync/storage/columns.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
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

struct cursor_position {
  std::string modifiedtime;  // as Vtiger sent it
  std::string last_id;       // "" when unknown

  friend bool operator==(const cursor_position&, const cursor_position&) = default;
};

struct module_cursor {
  std::string module;
  std::optional<cursor_position> position;
  std::optional<std::string> last_success_at;  // ISO 8601 UTC
  std::optional<std::int64_t> lag_seconds;     // now() - last_success_at, whole seconds
};

struct backfill_range {
  int range_no = 0;
  std::int64_t lower_id = 0;  // inclusive, numeric part of the web-service id
  std::int64_t upper_id = 0;  // inclusive
  std::optional<std::int64_t> last_id_done;
  bool done = false;

  friend bool operator==(const backfill_range&, const backfill_range&) = default;
};

struct backfill_progress {
  int range_no = 0;
  std::int64_t last_id_done = 0;
  bool done = false;
};

// Splits [lower, upper] into at most `parts` contiguous ranges of near-equal size (pure).
[[nodiscard]] std::vector<backfill_range> split_id_range(std::int64_t lower, std::int64_t upper, int parts);

enum class local_changes {
  keep,       // rows whose _sync_state is 'pending' or 'failed' are left alone and listed in skipped_local
  overwrite,  // the pulled record wins (the outbox entries stay: cancel them if that is the policy)
};

struct page_options {
  std::optional<cursor_position> cursor;      // advanced in the same transaction as the rows
  std::optional<backfill_progress> backfill;  // likewise, for a backfill page
  local_changes on_local_changes = local_changes::keep;
  // Test hook for fault injection: runs inside the transaction after the rows are written and before
  // the cursor/backfill progress is; an exception thrown here rolls back both.
  std::function<void()> before_progress;
};

struct page_result {
  std::size_t inserted = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;               // identical rows, not rewritten
  std::vector<std::string> skipped_local;  // vtiger_ids with local changes not yet pushed (keep mode)
  std::size_t malformed_values = 0;        // values that did not fit their column and were stored as NULL
  bool copied = false;                     // stored by COPY (all new), not by the upsert
};

enum class remote_delete { remove, mark };  // on_remote_delete = "delete" | "mark"

// The state and mirror operations, all on one connection (used by one coroutine at a time). Arguments are
// taken by reference: co_await each call in the expression that makes it (as usual with Asio awaitables).
// Inside a coroutine, pass page_options as a named variable, not a braced temporary: GCC 12 destroys
// non-trivial temporaries of a co_await expression twice (a compiler bug; see params() in pg.hpp).
class store {
 public:
  store(connection& conn, state_options options);

  [[nodiscard]] const state_options& options() const noexcept { return options_; }
  [[nodiscard]] connection& conn() noexcept { return conn_; }

  asio::awaitable<int> migrate();
  asio::awaitable<schema_change> ensure_table(const mirror_table& table);

  // --- pull side -------------------------------------------------------------------------------------
  // Upserts rows (sync/record/table.hpp: to_rows makes them from pulled records, one per vtiger_id) into
  // the mirror and advances the cursor / backfill progress in one transaction: both happen or neither.
  // Rows whose content is already equal are not rewritten.
  // A page of rows the mirror does not hold yet (a backfill, new records) is COPYed straight into the
  // table (a fraction of the upsert's cost for PostgreSQL); when the COPY meets a stored id it is rolled
  // back to a savepoint and the page is upserted instead, and COPY is tried again only after a page that
  // turned out to be all new.
  asio::awaitable<page_result> store_page(const mirror_table& table, const row_batch& rows,
                                          const page_options& options = {});
  asio::awaitable<std::optional<cursor_position>> load_cursor(std::string_view module);
  asio::awaitable<std::vector<module_cursor>> load_cursors();
  // Records a successful cycle with nothing to store (last_success_at = now()).
  asio::awaitable<void> record_success(std::string_view module);

  // Records deleted in Vtiger: DELETE the rows, or mark them _sync_state = 'deleted'. Returns rows touched.
  asio::awaitable<std::size_t> apply_remote_deletes(const mirror_table& table,
                                                    std::span<const std::string> vtiger_ids,
                                                    remote_delete mode);
  // Local vtiger_ids in ascending text order after `after` ("" = from the start), at most `limit`: a keyset
  // page for the deletion scan.
  asio::awaitable<std::vector<std::string>> list_vtiger_ids(const mirror_table& table, std::string_view after,
                                                            int limit);
  // The smallest and largest numeric id part among local rows (nullopt when there are none).
  asio::awaitable<std::optional<std::pair<std::int64_t, std::int64_t>>> local_id_range(
      const mirror_table& table);

  // Replaces the module's backfill plan; loads it (ordered by range_no).
  asio::awaitable<void> plan_backfill(std::string_view module, std::span<const backfill_range> ranges);
  asio::awaitable<std::vector<backfill_range>> load_backfill(std::string_view module);

 private:
  connection& conn_;
  state_options options_;
  std::unordered_set<std::string> upsert_first_;  // tables whose last page held stored records
};

}  // namespace vtsync::storage

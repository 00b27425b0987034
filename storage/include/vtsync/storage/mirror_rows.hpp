#pragma once
// The mirror rows repository: the rows of the mirror tables as the pull writes them. Pulled pages are
// upserted (or COPYed) with the cursor or backfill progress they reach in the same transaction; records
// deleted in Vtiger are deleted or marked; the deletion detection counts and lists the local ids per id range
// (mirror_ranges.cpp). The tables themselves are
// made by ensure_mirror_table (schema.hpp); the push's write-back goes through the outbox (outbox.hpp),
// which reads its rows through the same row source and column conversion as the upsert here
// (sql_text.hpp: rows_source, converted_columns). Error policy: as state.hpp.
#include "vtsync/storage/backfill_ranges.hpp"
#include "vtsync/storage/columns.hpp"
#include "vtsync/storage/cursors.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/state.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace vtsync::storage {

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
  // Runs inside the page's transaction after its rows are written (an inventory module's line items,
  // line_rows.hpp): the rows, the lines and the cursor are stored together or not at all.
  std::function<asio::awaitable<void>(connection&)> with_rows;
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

// Vtiger id numbers (the part after the `x`) from `from` (included) up to `to` (excluded; none: no end).
struct id_range {
  std::int64_t from = 0;
  std::optional<std::int64_t> to;
};

// The mirror tables' rows, on one connection (used by one coroutine at a time).
class mirror_rows {
 public:
  mirror_rows(connection& conn, state_options options);

  [[nodiscard]] const state_options& options() const noexcept { return options_; }
  [[nodiscard]] connection& conn() noexcept { return conn_; }

  // Upserts rows (sync/record/table.hpp: to_rows makes them from pulled records, one per vtiger_id) into
  // the mirror and advances the cursor / backfill progress in one transaction: both happen or neither.
  // Rows whose content is already equal are not rewritten.
  // A page of rows the mirror does not hold yet (a backfill, new records) is COPYed straight into the
  // table (a fraction of the upsert's cost for PostgreSQL); when the COPY meets a stored id it is rolled
  // back to a savepoint and the page is upserted instead, and COPY is tried again only after a page that
  // turned out to be all new.
  asio::awaitable<page_result> store_page(const mirror_table& table, const row_batch& rows,
                                          const page_options& options = {});

  // Records deleted in Vtiger: DELETE the rows, or mark them _sync_state = 'deleted'. Returns rows touched.
  asio::awaitable<std::size_t> apply_remote_deletes(const mirror_table& table,
                                                    std::span<const std::string> vtiger_ids,
                                                    remote_delete mode);
  // The ids Vtiger should also show ("known"): rows with a vtiger_id not marked 'deleted', plus the ids
  // whose local DELETE is not pushed yet (an open or failed outbox entry), so that the record is not
  // fetched back meanwhile. Rows without a vtiger_id (creates not pushed or not confirmed) are not known.
  // How many known ids each range holds, in one query.
  asio::awaitable<std::vector<std::int64_t>> count_known(const mirror_table& table,
                                                         std::span<const id_range> ranges);
  // The known id at 0-based position `k` in id order within `range` (nullopt past the end).
  asio::awaitable<std::optional<std::string>> known_id_at(const mirror_table& table, id_range range,
                                                          std::int64_t k);
  // Every known id in `range`, in id order.
  asio::awaitable<std::vector<std::string>> known_ids(const mirror_table& table, id_range range);
  // The smallest and largest numeric id part among the live local rows (not marked deleted; nullopt when
  // none).
  asio::awaitable<std::optional<std::pair<std::int64_t, std::int64_t>>> local_id_range(
      const mirror_table& table);

 private:
  connection& conn_;
  state_options options_;
  std::unordered_set<std::string> upsert_first_;  // tables whose last page held stored records
};

}  // namespace vtsync::storage

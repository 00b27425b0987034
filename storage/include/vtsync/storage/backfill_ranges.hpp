#pragma once
// The backfill ranges repository: a parallel backfill's plan (vtsync.backfill_ranges), the id space of a
// module split into ranges, each remembering how far it got, so an interrupted backfill resumes where each
// range stopped. A page's rows and its range's progress are written in ONE transaction:
// mirror_rows::store_page writes the progress through backfill_ranges::save_progress, inside its own
// transaction. Error policy: as state.hpp.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/state.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

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

// The backfill plans of this repository's mirror schema (options: mirror_schema), on one connection.
class backfill_ranges {
 public:
  backfill_ranges(connection& conn, state_options options);

  [[nodiscard]] const state_options& options() const noexcept { return options_; }

  // Replaces the module's backfill plan; loads it (ordered by range_no).
  asio::awaitable<void> plan_backfill(std::string_view module, std::span<const backfill_range> ranges);
  asio::awaitable<std::vector<backfill_range>> load_backfill(std::string_view module);

  // Records `progress` on a planned range of (`mirror_schema`, `module`) inside the caller's transaction
  // `tx`; throws pg_error (error_kind::other) when no such range is planned.
  static asio::awaitable<void> save_progress(connection& tx, const std::string& state_schema,
                                             const std::string& mirror_schema, const std::string& module,
                                             const backfill_progress& progress);

 private:
  connection& conn_;
  state_options options_;
};

}  // namespace vtsync::storage

#pragma once
// What a query costs a real Vtiger 8.2 (PHP 8.2, MariaDB 10.11), as time the fake waits before answering
// (`--cost-model vtiger-8.2`; off by default). Measured on 100,320 Contacts (docs/performance.md):
// - vtiger_crmentity has no index on modifiedtime and the SQL Vtiger makes for a modifiedtime-filtered or
//   -ordered query has no setype filter: MariaDB reads and sorts every record of ALL modules,
//   ~1.4 us each (the same for any other scan: a filter or order on another field, count(*));
// - an `id` keyset page uses the primary key: a small constant;
// - `LIMIT offset, n` examines ~6 joined rows per skipped row;
// - every returned row costs ~0.6 ms (Vtiger runs ~4 more SQL statements per row).
// The work runs on `cores` database/PHP cores: requests beyond that many queue, as on the real server
// (one session reads ~1,580 rows/s; 4 sessions saturated 2 cores at ~2,850).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace vtsync::fake {

enum class cost_model { none, vtiger_82 };

// "vtiger-8.2" or "none"; nullopt for anything else.
[[nodiscard]] std::optional<cost_model> parse_cost_model(std::string_view name);

struct query_shape {
  bool scans_entities = false;  // modifiedtime (or any non-id) filter or order, count(*)
  std::uint64_t offset = 0;     // LIMIT offset, n
  std::size_t rows = 0;         // rows answered
};

// Microseconds of the server's time the query takes.
[[nodiscard]] std::int64_t query_cost_us(cost_model model, const query_shape& shape,
                                         std::uint64_t records_all_modules);

// When each core is free again: a request's delay is its wait for a core plus its own cost.
class cost_clock {
 public:
  explicit cost_clock(int cores);
  // The delay, in ms, of a request arriving at `now_us` (any monotonic clock) costing `cost_us`.
  [[nodiscard]] int reserve(std::int64_t now_us, std::int64_t cost_us);

 private:
  std::vector<std::int64_t> free_at_;
};

}  // namespace vtsync::fake

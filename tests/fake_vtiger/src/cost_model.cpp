// The fake's cost model (cost_model.hpp).
#include "fake_vtiger/cost_model.hpp"

#include <algorithm>

namespace vtsync::fake {

namespace {

constexpr double scan_us_per_record = 1.4;
constexpr std::int64_t keyset_page_us = 4'000;
constexpr std::int64_t offset_us_per_row = 8;  // ~6 joined rows examined per skipped row
constexpr std::int64_t row_us = 600;

}  // namespace

std::optional<cost_model> parse_cost_model(std::string_view name) {
  if (name == "vtiger-8.2") return cost_model::vtiger_82;
  if (name == "none") return cost_model::none;
  return std::nullopt;
}

std::int64_t query_cost_us(cost_model model, const query_shape& shape, std::uint64_t records_all_modules) {
  if (model == cost_model::none) return 0;
  const std::int64_t base =
      shape.scans_entities
          ? static_cast<std::int64_t>(scan_us_per_record * static_cast<double>(records_all_modules))
          : keyset_page_us;
  return base + offset_us_per_row * static_cast<std::int64_t>(shape.offset) +
         row_us * static_cast<std::int64_t>(shape.rows);
}

cost_clock::cost_clock(int cores) : free_at_(static_cast<std::size_t>(std::max(1, cores)), 0) {}

int cost_clock::reserve(std::int64_t now_us, std::int64_t cost_us) {
  auto core = std::min_element(free_at_.begin(), free_at_.end());
  const std::int64_t start = std::max(now_us, *core);
  *core = start + cost_us;
  return static_cast<int>((*core - now_us + 500) / 1000);
}

}  // namespace vtsync::fake

#pragma once
// Records as Vtiger sends them (JSON objects) as the rows the page store takes: the pull's own path
// (sync/record: to_flat_record, then to_rows). Header-only: a test that includes it links vtsync_record.
#include <nlohmann/json.hpp>

#include <vector>

#include "vtsync/storage/columns.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"

namespace vtsync::test {

inline storage::row_batch rows(const storage::mirror_table& table,
                               const std::vector<nlohmann::json>& records) {
  std::vector<flat_record> flat;
  flat.reserve(records.size());
  for (const auto& r : records) flat.push_back(record::to_flat_record(r));
  return record::to_rows(table, flat);
}

// One record Vtiger returned, as the row a push writes back (mark_done).
inline std::optional<storage::row_batch> written_back(const storage::mirror_table& table,
                                                      const nlohmann::json& record) {
  return record::to_row(table, record::to_flat_record(record));
}

}  // namespace vtsync::test

#pragma once
// What the pull's parts (pull.cpp, pull_deletions.cpp, pull_backfill.cpp) read off Vtiger's records:
// the numeric part of an id, a field's text, the keyset position of a record.
#include <string>
#include <string_view>

#include "vtsync/storage/cursors.hpp"
#include "vtsync/sync/record/flat_record.hpp"
#include "vtsync/sync/record/values.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::sync::detail {

inline std::int64_t id_number(std::string_view id) { return record::vtiger_id_number(id).value_or(0); }

inline std::string field_text(const flat_record& record, const char* field) {
  return std::string{record.text(field)};
}

inline storage::cursor_position position_of(const flat_record& record) {
  return {field_text(record, "modifiedtime"), field_text(record, "id")};
}

// ACCESS_DENIED: the record is deleted, or no longer visible to this user (never proof on its own).
inline bool is_access_denied(const vtiger::api_error& e) { return e.code == "ACCESS_DENIED"; }

}  // namespace vtsync::sync::detail

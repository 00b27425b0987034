#pragma once
// Private helpers of the push engine's files (push.cpp, push_create.cpp, push_update.cpp).
#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string_view>

#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/engine/push_outcomes.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"

namespace vtsync::sync {

// The record Vtiger answered (create, revise, or one found and adopted) as the row written back, through the
// same columns as the pull's pages; nullopt when the answer is no record. The answer of create, revise and
// retrieve carries `label` (the record's display name), which `query` - the pull - never returns: kept, it
// would make the row's _sync_base differ from the pull's record, and the next pull would rewrite every
// pushed row once. Dropped, unless the module really has a field of that name.
inline std::optional<storage::row_batch> written_back(const storage::mirror_table& table,
                                                      const nlohmann::json& answer) {
  if (!answer.is_object()) return std::nullopt;
  auto record = record::to_flat_record(answer);
  if (table.find("label") == nullptr)
    std::erase_if(record.fields, [](const flat_field& f) { return f.name == "label"; });
  return record::to_row(table, record);
}

inline bool empty_value(const nlohmann::json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_array() && v.empty());
}

// Runs a client call and captures how it ended, so that the reaction (which co_awaits) happens outside a
// catch block (a coroutine cannot co_await inside one). Takes the call by reference, bound to a named
// variable by the caller: GCC 12 destroys non-trivial temporaries of a co_await expression twice.
template <class T>
boost::asio::awaitable<call_result<T>> capture(boost::asio::awaitable<vtiger::api_result<T>>& call) {
  call_result<T> out;
  try {
    out.answer.emplace(co_await std::move(call));
  } catch (const vtiger::client_error& e) {
    out.error.emplace(e);
  }
  co_return out;
}

// How a captured call ended (push_outcomes.hpp), for web-service operation `operation`.
template <class T>
call_end end_of(const call_result<T>& r, std::string_view operation) {
  std::optional<vtiger::api_error> answer_error;
  if (r.answer && r.answer->has_error()) answer_error = r.answer->error();
  return classify(answer_error, r.error, operation);
}

}  // namespace vtsync::sync

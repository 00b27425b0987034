#pragma once
// The fake Vtiger's Users and Groups (Vtiger's "actors"): not records of vtiger_crmentity, so they live
// apart from store.hpp, as the rows an admin's `SELECT * FROM Users;` / `SELECT * FROM Groups;` answered
// on a real 8.2 (recordings 381, 383: data/users.json, data/groups.json). Neither has a modifiedtime.
//
// What the recordings show and this serves: admin queries and retrieves both; a non-admin gets
// ACCESS_DENIED for any Users query, retrieve or describe (382, 387-389) but reads Groups (384). A Groups
// retrieve adds `groupid` first (386). Query and retrieve never carry accesskey or user_password, although
// describe lists them (213).
//
// Error policy: query() returns the Vtiger error code and message for what it cannot answer; nothing throws
// for bad input.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "fake_vtiger/vtql.hpp"

namespace vtsync::fake {

class actors {
 public:
  actors() { reset(); }
  // Back to the recorded rows.
  void reset();

  [[nodiscard]] static bool is_actor_module(std::string_view module) {
    return module == "Users" || module == "Groups";
  }
  [[nodiscard]] static bool is_actor_id(std::string_view id) {
    return id.rfind("19x", 0) == 0 || id.rfind("20x", 0) == 0;
  }

  // The answer's `result` JSON for a parsed query on Users or Groups: `*` or columns (id always added),
  // WHERE on id (=, <, >, <=, >=, IN) or any field (= only) joined by AND/OR, ORDER BY id, LIMIT.
  // Otherwise {code, message}.
  [[nodiscard]] std::variant<std::string, std::pair<std::string, std::string>> query(
      const vtql_query& q) const;
  // Groups' describe result (recording 214); Users' is the store's.
  [[nodiscard]] const nlohmann::ordered_json& groups_describe() const { return groups_describe_; }
  // A retrieve's result JSON; nullopt when no such user or group.
  [[nodiscard]] std::optional<std::string> retrieve(std::string_view id) const;

  // A CRM admin's change (test endpoints /_fake/edit, /_fake/delete): false when no such id or field.
  bool edit(std::string_view id, const nlohmann::json& fields);
  bool remove(std::string_view id);

 private:
  nlohmann::ordered_json* find(std::string_view id);
  [[nodiscard]] const nlohmann::ordered_json& rows_of(std::string_view module) const {
    return module == "Users" ? users_ : groups_;
  }
  nlohmann::ordered_json users_;
  nlohmann::ordered_json groups_;
  nlohmann::ordered_json groups_describe_;
};

}  // namespace vtsync::fake

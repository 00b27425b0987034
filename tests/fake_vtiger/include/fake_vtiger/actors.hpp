#pragma once
// The fake Vtiger's Users and Groups and the other modules Vtiger serves through VtigerActorOperation:
// not records of vtiger_crmentity, so they live apart from store.hpp, as the rows an admin's
// `SELECT * FROM <module>;` answered on a real 8.2 (data/*.json): Users (381), Groups (383), Currency
// (21x, 415), Tax (34x, 417), ProductTaxes (none, 418), DocumentFolders (22x, 403), CompanyDetails (23x,
// describe 226; its row was not recorded, so it has none). None has a modifiedtime.
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
#include <vector>

#include "fake_vtiger/vtql.hpp"

namespace vtsync::fake {

class actors {
 public:
  actors() { reset(); }
  // Back to the recorded rows.
  void reset();

  [[nodiscard]] static bool is_actor_module(std::string_view module);
  [[nodiscard]] static bool is_actor_id(std::string_view id);

  // The answer's `result` JSON for a parsed query on Users or Groups: `*` or columns (id always added),
  // WHERE on id (=, <, >, <=, >=, IN) or any field (= only) joined by AND/OR, ORDER BY id, LIMIT.
  // Otherwise {code, message}.
  [[nodiscard]] std::variant<std::string, std::pair<std::string, std::string>> query(
      const vtql_query& q) const;
  // The describe result of an actor module but Users (the store's): Groups 214, Currency 215, Tax 216,
  // ProductTaxes 217, DocumentFolders 225, CompanyDetails 226; nullptr for any other module.
  [[nodiscard]] const nlohmann::ordered_json* describe(std::string_view module) const;
  // A retrieve's result JSON; nullopt when no such user or group.
  [[nodiscard]] std::optional<std::string> retrieve(std::string_view id) const;

  // A CRM admin's change (test endpoints /_fake/edit, /_fake/delete): false when no such id or field.
  bool edit(std::string_view id, const nlohmann::json& fields);
  // The row of a user, group or other actor; nullptr when there is none.
  [[nodiscard]] const nlohmann::ordered_json* find_row(std::string_view id) const {
    return const_cast<actors*>(this)->find(id);
  }
  bool remove(std::string_view id);

 private:
  struct table {
    std::string module;
    std::string prefix;  // "19x"
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    nlohmann::ordered_json describe;
  };
  nlohmann::ordered_json* find(std::string_view id);
  [[nodiscard]] const table* table_of_module(std::string_view module) const;
  [[nodiscard]] table* table_of_id(std::string_view id);
  std::vector<table> tables_;
};

}  // namespace vtsync::fake

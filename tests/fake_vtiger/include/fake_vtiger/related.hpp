#pragma once
// The fake Vtiger's related lists (Vtiger's relatedtypes / retrieve_related / query_related / add_related),
// as a real 8.2 answers them (recordings 350-374):
// - Each module has a list of relation labels ("Contacts", "Sales Order", "Activities", ...), each naming a
//   target module. relatedtypes lists the target names (repeats kept: Calendar twice) and an `information`
//   object keyed by label. Contacts' and Potentials' lists are the recorded ones (350, 351); the others
//   are plausible 8.2 lists, not recorded.
// - Links are pairs of records, seen from both ends: Potential->Contacts and Contact->Potentials show the
//   same link (356, 359). Activities and ModComments are field links (contact_id/parent_id, related_to),
//   not pairs. Contact->Documents answers [] even after a link (INDEX.md).
// - add_related answers success for any label (371), a repeat (369) and unrelated modules (372), and
//   stores a pair only when the label belongs to the source's module and the related record is of the
//   label's module. There is no way to remove a link through the web service (373: no delete_related);
//   POST /_fake/unlink does it as a CRM user would in the UI.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vtsync::fake {

class relations {
 public:
  // The module a label of `module` names, or nullopt when `module` has no such label.
  [[nodiscard]] static std::optional<std::string> target(std::string_view module, std::string_view label);
  // relatedtypes' result for `module` ({"types": [], "information": {}} for a module without relations).
  [[nodiscard]] static nlohmann::ordered_json types(std::string_view module);
  // Links whose result is always [] (Contacts -> Documents).
  [[nodiscard]] static bool always_empty(std::string_view module, std::string_view label);
  // Field links: the field of the target module that points at the source, or "" for a pair link.
  [[nodiscard]] static std::vector<std::string> link_fields(std::string_view label);

  // Pairs (crmids, smaller first). link/unlink return whether anything changed.
  bool link(std::uint32_t a, std::uint32_t b);
  bool unlink(std::uint32_t a, std::uint32_t b);
  [[nodiscard]] std::vector<std::uint32_t> linked(std::uint32_t crmid) const;
  void reset() { pairs_.clear(); }

 private:
  std::set<std::pair<std::uint32_t, std::uint32_t>> pairs_;
};

}  // namespace vtsync::fake

#include "fake_vtiger/related.hpp"

#include <map>

namespace vtsync::fake {

namespace {

struct relation {
  const char* label;
  const char* module;
};

const std::map<std::string_view, std::vector<relation>>& table() {
  static const std::map<std::string_view, std::vector<relation>> t = {
      // Recorded (350).
      {"Contacts",
       {{"Potentials", "Potentials"},
        {"Activities", "Calendar"},
        {"Emails", "Emails"},
        {"HelpDesk", "HelpDesk"},
        {"Quotes", "Quotes"},
        {"Purchase Order", "PurchaseOrder"},
        {"Sales Order", "SalesOrder"},
        {"Products", "Products"},
        {"Activity History", "Calendar"},
        {"Documents", "Documents"},
        {"Campaigns", "Campaigns"},
        {"Invoice", "Invoice"},
        {"PBXManager", "PBXManager"},
        {"Service Contracts", "ServiceContracts"},
        {"Services", "Services"},
        {"Projects", "Project"},
        {"ModComments", "ModComments"},
        {"Assets", "Assets"},
        {"Vendors", "Vendors"}}},
      // Recorded (351).
      {"Potentials",
       {{"Activities", "Calendar"},
        {"Contacts", "Contacts"},
        {"Products", "Products"},
        {"Documents", "Documents"},
        {"Quotes", "Quotes"},
        {"Sales Order", "SalesOrder"},
        {"Activity History", "Calendar"},
        {"Services", "Services"},
        {"ModComments", "ModComments"},
        {"Invoice", "Invoice"},
        {"Emails", "Emails"}}},
      // Not recorded: 8.2's lists as its vtiger_relatedlists seed them (add_related 365 used "Products").
      {"Accounts",
       {{"Contacts", "Contacts"},
        {"Potentials", "Potentials"},
        {"Quotes", "Quotes"},
        {"Sales Order", "SalesOrder"},
        {"Invoice", "Invoice"},
        {"Activities", "Calendar"},
        {"Emails", "Emails"},
        {"Activity History", "Calendar"},
        {"Documents", "Documents"},
        {"HelpDesk", "HelpDesk"},
        {"Products", "Products"},
        {"Campaigns", "Campaigns"},
        {"Services", "Services"},
        {"ModComments", "ModComments"}}},
      {"Products",
       {{"HelpDesk", "HelpDesk"},
        {"Documents", "Documents"},
        {"Accounts", "Accounts"},
        {"Contacts", "Contacts"},
        {"Potentials", "Potentials"},
        {"Leads", "Leads"},
        {"Quotes", "Quotes"},
        {"Purchase Order", "PurchaseOrder"},
        {"Sales Order", "SalesOrder"},
        {"Invoice", "Invoice"},
        {"Vendors", "Vendors"},
        {"ModComments", "ModComments"}}},
      {"Leads",
       {{"Activities", "Calendar"},
        {"Emails", "Emails"},
        {"Activity History", "Calendar"},
        {"Documents", "Documents"},
        {"Products", "Products"},
        {"Campaigns", "Campaigns"},
        {"Services", "Services"},
        {"ModComments", "ModComments"}}},
      {"Campaigns",
       {{"Contacts", "Contacts"},
        {"Leads", "Leads"},
        {"Potentials", "Potentials"},
        {"Activities", "Calendar"},
        {"Accounts", "Accounts"}}},
  };
  return t;
}

}  // namespace

std::optional<std::string> relations::target(std::string_view module, std::string_view label) {
  const auto it = table().find(module);
  if (it == table().end()) return std::nullopt;
  for (const auto& r : it->second) {
    if (label == r.label) return std::string(r.module);
  }
  return std::nullopt;
}

nlohmann::ordered_json relations::types(std::string_view module) {
  nlohmann::ordered_json out = {{"types", nlohmann::ordered_json::array()},
                                {"information", nlohmann::ordered_json::object()}};
  const auto it = table().find(module);
  if (it == table().end()) return out;
  for (const auto& r : it->second) {
    out["types"].push_back(r.module);
    out["information"][r.label] = {{"name", r.module}, {"label", r.label}, {"isEntity", "1"}};
  }
  return out;
}

bool relations::always_empty(std::string_view module, std::string_view label) {
  return module == "Contacts" && label == "Documents";
}

std::vector<std::string> relations::link_fields(std::string_view label) {
  if (label == "Activities") return {"contact_id", "parent_id"};
  if (label == "ModComments") return {"related_to"};
  return {};
}

bool relations::link(std::uint32_t a, std::uint32_t b) {
  if (a == b) return false;
  return pairs_.insert({std::min(a, b), std::max(a, b)}).second;
}

bool relations::unlink(std::uint32_t a, std::uint32_t b) {
  return pairs_.erase({std::min(a, b), std::max(a, b)}) > 0;
}

std::vector<std::uint32_t> relations::linked(std::uint32_t crmid) const {
  std::vector<std::uint32_t> out;
  for (const auto& [a, b] : pairs_) {
    if (a == crmid) out.push_back(b);
    if (b == crmid) out.push_back(a);
  }
  return out;
}

}  // namespace vtsync::fake

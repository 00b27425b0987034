#pragma once
// The fake Vtiger's inventory line items (Vtiger's `LineItem` entity, ids `33xN`): the lines of Quotes,
// SalesOrder, PurchaseOrder and Invoice records, as a real 8.2 keeps them (recordings 208, 237-295):
// - Ids are table-wide MAX(id)+1 and every write of a record's `LineItems` assigns new ones; ids sent with
//   the lines are ignored (290). sequence_no counts 1.. in the order sent.
// - A line stores quantity with 3 decimals, prices and amounts with 8, tax and percent with 3; a line that
//   names no listprice gets the product's unit price (250).
// - `query` on LineItem: `*`, columns or count(*); WHERE on parent_id (=, IN) and id (=, <, >, <=, >=, IN)
//   joined by AND/OR; ORDER BY id; LIMIT (the 100-row cap of every query). (parent_id = and no WHERE are
//   recorded, 240/241; IN and the id keyset are VTQL's grammar, which vtsync's batched reads use.)
// - Writing a LineItem directly (create/revise/delete) changes the line only, never the parent's totals or
//   modifiedtime (264-267); its delete answers HTTP 500 and deletes (260-262).
// Totals are the record's business (service's inventory glue); this class keeps the rows.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fake_vtiger/vtql.hpp"

namespace vtsync::fake {

class line_items {
 public:
  line_items() { reset(); }
  void reset();

  [[nodiscard]] static bool is_inventory(std::string_view module) {
    return module == "Quotes" || module == "SalesOrder" || module == "PurchaseOrder" || module == "Invoice";
  }
  [[nodiscard]] static bool is_line_id(std::string_view id) { return id.rfind("33x", 0) == 0; }
  [[nodiscard]] const nlohmann::ordered_json& describe() const { return describe_; }

  // What a line shows of its product or service: the unit price (for lines that name no listprice), the
  // name, the number (PRO1, SER1) and the stock ("" for a service). found is false for no such live record.
  struct product_info {
    bool found = false;
    bool service = false;
    std::string price, name, code, stock;
  };
  using product_lookup = std::function<product_info(const std::string& productid)>;

  // Replaces every line of `parent` ("7x12") with `lines` (the LineItems array as sent). Returns the
  // field that is wrong ("productid") when a line cannot be stored; then nothing changes.
  std::optional<std::string> replace(const std::string& parent, const nlohmann::ordered_json& lines,
                                     const product_lookup& products);
  // The stored lines of `parent`, by sequence_no (rows as query returns them).
  [[nodiscard]] std::vector<const nlohmann::ordered_json*> of(const std::string& parent) const;
  // The parent's lines gone (the parent was deleted).
  void remove_parent(const std::string& parent);

  // A line created, revised or deleted directly; nullopt/false when there is no such line.
  std::optional<std::string> create(const nlohmann::ordered_json& element, const product_lookup& products);
  std::optional<std::string> revise(const nlohmann::ordered_json& element);
  bool remove(std::string_view id);
  [[nodiscard]] std::optional<std::string> retrieve(std::string_view id) const;

  // The `result` JSON of a query, or {code, message}.
  [[nodiscard]] std::variant<std::string, std::pair<std::string, std::string>> query(
      const vtql_query& q) const;

  // A retrieve's `LineItems` entries for `parent` (module prefix `prefix`): parent_id "<prefix>xArray",
  // with product_name, entity_type and deleted (238).
  [[nodiscard]] nlohmann::ordered_json as_retrieved(const std::string& parent, int prefix,
                                                    const product_lookup& products) const;

 private:
  nlohmann::ordered_json make_line(const std::string& parent, const nlohmann::ordered_json& sent,
                                   int sequence, const product_lookup& products);
  std::map<std::uint32_t, nlohmann::ordered_json> rows_;  // by line id
  std::uint32_t next_id_ = 1;
  nlohmann::ordered_json describe_;
};

// Vtiger's totals of an inventory record from its lines and header (237, 250, 275): subtotal = sum of
// quantity * listprice less each line's discount; pre-tax total = subtotal less the header discount plus
// S&H; grand total = pre-tax total + adjustment (the fake charges no taxes). Numbers, not text.
struct inventory_totals {
  double subtotal = 0;
  double pre_tax_total = 0;
  double grand_total = 0;
};
[[nodiscard]] inventory_totals compute_totals(const std::vector<const nlohmann::ordered_json*>& lines,
                                              double discount_percent, double discount_amount, double s_h,
                                              double adjustment);

}  // namespace vtsync::fake

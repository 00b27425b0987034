// The service's inventory glue (Quotes, SalesOrder, PurchaseOrder, Invoice with their line items,
// line_items.hpp): the lines a create or revise sends, the totals Vtiger computes from them, and the shape
// of inventory answers (recordings 237-295).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fake_vtiger/service.hpp"
#include "fake_vtiger/zend_json.hpp"

namespace vtsync::fake {

namespace {

using ojson = nlohmann::ordered_json;

std::string decimal8(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8f", d);
  return buf;
}

double number_or_zero(const std::optional<std::string>& s) {
  if (!s || s->empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(s->c_str(), &end);
  return end == s->c_str() ? 0 : d;
}

// A currency text as a JSON number, as create and revise answer totals (237: 333.75).
ojson as_number(const ojson& v) {
  if (!v.is_string()) return v;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return v;
  const double d = std::strtod(s.c_str(), nullptr);
  if (d == std::floor(d) && std::abs(d) < 1e15) return static_cast<long long>(d);
  return d;
}

// The header's copies of line columns: query rows carry the LAST line's (239, 244); retrieve leaves them
// out and adds the first line's productid after LineItems (238).
const char* const k_line_columns[] = {
    "productid",        "quantity", "listprice", "comment", "discount_amount",
    "discount_percent", "tax1",     "tax2",      "tax3"};

}  // namespace

line_items::product_lookup service::products() const {
  return [this](const std::string& productid) -> std::pair<std::string, std::string> {
    const auto x = productid.find('x');
    if (x == std::string::npos) return {};
    const int prefix = std::atoi(productid.substr(0, x).c_str());
    if (prefix != 14 && prefix != 26) return {};
    const auto v = store_.view(static_cast<std::uint32_t>(std::atoll(productid.c_str() + x + 1)));
    if (!v || v->deleted() || v->module().prefix != prefix) return {};
    const module_meta& m = v->module();
    const int price = m.find("unit_price");
    const int name = m.find(prefix == 14 ? "productname" : "servicename");
    return {price < 0 ? "" : v->value(price).value_or(""), name < 0 ? "" : v->value(name).value_or("")};
  };
}

std::optional<std::string> service::write_lines(record& r, const ojson& lines) {
  const module_meta& m = store_.modules()[static_cast<std::size_t>(r.module)];
  const std::string parent = std::to_string(m.prefix) + "x" + std::to_string(r.crmid);
  if (auto bad = lines_.replace(parent, lines, products())) return bad;
  refresh_totals(r);
  return std::nullopt;
}

void service::refresh_totals(record& r) {
  const module_meta& m = store_.modules()[static_cast<std::size_t>(r.module)];
  const std::string parent = std::to_string(m.prefix) + "x" + std::to_string(r.crmid);
  auto value = [&](const char* name) -> std::optional<std::string>& {
    static std::optional<std::string> none;
    const int fi = m.find(name);
    return fi < 0 ? none : r.values[static_cast<std::size_t>(fi)];
  };
  const auto lines = lines_.of(parent);
  const auto t = compute_totals(
      lines, number_or_zero(value("hdnDiscountPercent")), number_or_zero(value("hdnDiscountAmount")),
      number_or_zero(value("hdnS_H_Amount")), number_or_zero(value("txtAdjustment")));
  value("hdnSubTotal") = decimal8(t.subtotal);
  value("pre_tax_total") = decimal8(t.pre_tax_total);
  value("hdnGrandTotal") = decimal8(t.grand_total);
  if (!lines.empty()) {
    const ojson& last = *lines.back();
    for (const char* c : k_line_columns)
      if (last.contains(c)) value(c) = last[c].get<std::string>();
  }
}

std::string service::inventory_query_row(const record_view& v, const std::vector<int>* columns,
                                         const ojson* line, bool sorted_keys) const {
  std::string flat;
  append_record(flat, v, columns, false, true, sorted_keys);
  const ojson rec = ojson::parse(flat);
  auto line_value = [&](const char* c, const ojson& fallback) {
    return line != nullptr && line->contains(c) ? (*line)[c] : fallback;
  };
  ojson out = ojson::object();
  if (columns != nullptr) {
    for (const auto& [k, val] : rec.items()) out[k] = line_value(k.c_str(), val);
    return to_zend_json(out);
  }
  // `SELECT *` (560, 562): the header discounts come as the joined line's discount_percent/discount_amount
  // (in their place), image/purchase_cost/margin of the line before `source`, no shipping_&_handling*.
  bool line_extras = false;
  auto add_line_extras = [&] {
    if (line_extras) return;
    for (const char* c : {"image", "purchase_cost", "margin"}) out[c] = line_value(c, ojson());
    line_extras = true;
  };
  for (const auto& [k, val] : rec.items()) {
    if (k.rfind("shipping_&_handling", 0) == 0 || k == "discount_percent" || k == "discount_amount") continue;
    if (k == "source") add_line_extras();
    if (k == "hdnDiscountPercent") {
      out["discount_percent"] = line_value("discount_percent", val);
    } else if (k == "hdnDiscountAmount") {
      out["discount_amount"] = line_value("discount_amount", val);
    } else {
      bool is_line_column = false;
      for (const char* c : k_line_columns) is_line_column = is_line_column || k == c;
      out[k] = is_line_column ? line_value(k.c_str(), val) : val;
    }
  }
  add_line_extras();
  return to_zend_json(out);
}

std::string service::inventory_answer(const record_view& v, bool written, bool created) const {
  std::string flat;
  append_record(flat, v, nullptr, true, false, false);
  ojson rec = ojson::parse(flat);
  const module_meta& m = v.module();
  const std::string parent = std::to_string(m.prefix) + "x" + std::to_string(v.crmid());
  // A record without stored lines (a seeded one) shows its header productid.
  const ojson header_product = rec.contains("productid") ? rec["productid"] : ojson();
  for (const char* c : k_line_columns) rec.erase(c);
  if (written) {
    // create and revise answer the totals as numbers (237, 250); the create's balance is stale (237).
    for (const char* c : {"hdnSubTotal", "hdnGrandTotal", "pre_tax_total"})
      if (rec.contains(c)) rec[c] = as_number(rec[c]);
    if (created && rec.contains("balance")) rec["balance"] = "0.00000000";
  }
  if (rec.contains("shipping_&_handling")) rec["shipping_&_handling"] = nullptr;
  for (const char* c :
       {"shipping_&_handling_shtax1", "shipping_&_handling_shtax2", "shipping_&_handling_shtax3"})
    if (rec.contains(c)) rec[c] = 0;  // JSON numbers (511, 564, 565)
  rec["LineItems"] = lines_.as_retrieved(parent, m.prefix, products());
  const auto lines = lines_.of(parent);
  rec["productid"] = written ? ojson() : lines.empty() ? header_product : (*lines.front())["productid"];
  rec["LineItems_FinalDetails"] = ojson::object();
  if (created) rec["new"] = true;  // a create's answer ends with it (511)
  return to_zend_json(rec);
}

}  // namespace vtsync::fake

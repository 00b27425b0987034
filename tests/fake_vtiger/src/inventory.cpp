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

std::string decimal(double d, int places) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", places, d);
  return buf;
}

// PHP's number_format($d, 2, '.', ''): rounded half away from zero.
std::string money(double d) {
  const double r = std::round(d * 100 + (d >= 0 ? 1e-9 : -1e-9)) / 100;
  return decimal(r == 0 ? 0 : r, 2);
}

double number_of(const std::string& s) {
  if (s.empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0 : d;
}

double number_or_zero(const std::optional<std::string>& s) { return s ? number_of(*s) : 0; }

bool json_is_empty_text(const ojson& v) {
  return v.is_null() || (v.is_string() && v.get<std::string>().empty());
}

double number_of_json(const ojson& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return number_of(v.get<std::string>());
  return 0;
}

// Vtiger's decimalFormat(): trailing zeros of the fraction dropped ("3.000" -> "3", "2.500" -> "2.5").
std::string decimal_format(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
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

// The header's copies of line columns: query rows carry the last joined line's inside the LIMIT window
// (239, 244, 560); retrieve leaves them out and adds the first line's productid after LineItems (238).
const char* const k_line_columns[] = {
    "productid",        "quantity", "listprice", "comment", "discount_amount",
    "discount_percent", "tax1",     "tax2",      "tax3"};
// The line columns a `*` query row adds before `source` (239, 562) and a header-only revise answers empty
// (248).
const char* const k_line_extras[] = {"image", "purchase_cost", "margin"};
// The S&H charge and its taxes: in create, update and retrieve answers, never in query rows (239).
const char* const k_charge_fields[] = {"shipping_&_handling", "shipping_&_handling_shtax1",
                                       "shipping_&_handling_shtax2", "shipping_&_handling_shtax3"};

// The three taxes of a stock 8.2 (the Tax module, recording 417), shown in every LineItems_FinalDetails.
struct tax_def {
  const char* name;
  const char* label;
  const char* percentage;
};
const tax_def k_taxes[] = {
    {"tax1", "VAT", "4.500"}, {"tax2", "Sales", "10.000"}, {"tax3", "Service", "12.500"}};

ojson tax_entry(const tax_def& t, int id, ojson percentage, ojson amount) {
  return ojson{
      {"taxname", t.name},           {"taxlabel", t.label},         {"percentage", std::move(percentage)},
      {"amount", std::move(amount)}, {"taxid", std::to_string(id)}, {"type", "Fixed"},
      {"method", "Simple"},          {"regions", ojson::array()},   {"compoundon", ojson::array()}};
}

// A tax amount as getAssociatedProducts() gives it: number_format() text, but a float where the third
// decimal is a 5 (238: "15.02", 33.38, "41.72").
ojson tax_amount(double amount) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.14g", amount);
  const std::string text = buf;
  const auto dot = text.find('.');
  if (dot != std::string::npos && dot + 3 < text.size() && text[dot + 3] == '5')
    return std::round(amount * 100) / 100;
  return money(amount);
}

// What final_details is computed from: the header values getAssociatedProducts() reads from the record.
struct header_totals {
  std::string taxtype;  // "" none, "group", "individual"
  double subtotal = 0, grand_total = 0, discount_percent = 0, discount_amount = 0, s_h = 0, adjustment = 0;
  std::vector<double> group_percentages;  // group tax: the first line's tax1..3; none when no lines
  std::optional<std::string> charge;      // the S&H charge as sent (chargesAndItsTaxes value)
};

ojson final_details(const header_totals& h) {
  ojson fd;
  fd["taxtype"] = h.taxtype.empty() ? ojson() : ojson(h.taxtype);
  fd["discount_type_final"] = "zero";
  fd["hdnSubTotal"] = money(h.subtotal);
  fd["discount_percentage_final"] = 0;
  fd["discount_amount_final"] = "0.00";
  double discount = 0;
  if (h.discount_percent != 0) {
    discount = h.subtotal * h.discount_percent / 100;
    fd["discount_type_final"] = "percentage";
    fd["discount_percentage_final"] = decimal(h.discount_percent, 3);
    fd["checked_discount_percentage_final"] = " checked";
    fd["style_discount_percentage_final"] = " style=\"visibility:visible\"";
    fd["style_discount_amount_final"] = " style=\"visibility:hidden\"";
  } else if (h.discount_amount != 0) {
    discount = h.discount_amount;
    fd["discount_type_final"] = "amount";
    fd["discount_amount_final"] = decimal(h.discount_amount, 8);
    fd["checked_discount_amount_final"] = " checked";
    fd["style_discount_amount_final"] = " style=\"visibility:visible\"";
    fd["style_discount_percentage_final"] = " style=\"visibility:hidden\"";
  }
  fd["discountTotal_final"] = money(discount);
  ojson taxes = ojson::object();
  double tax_total = 0;
  for (int i = 0; i < 3; ++i) {
    const tax_def& t = k_taxes[i];
    ojson percentage = t.percentage;
    double pct = number_of(t.percentage);
    if (h.taxtype == "group") {
      // Read from the first line row: 0 (a number) when there is none yet (275, 276).
      pct = i < static_cast<int>(h.group_percentages.size())
                ? h.group_percentages[static_cast<std::size_t>(i)]
                : 0.0;
      percentage = h.group_percentages.empty() ? ojson(0) : ojson(decimal(pct, 3));
    }
    const ojson amount = tax_amount((h.subtotal - discount) * pct / 100);
    tax_total += number_of_json(amount);
    taxes[std::to_string(i + 1)] = tax_entry(t, i + 1, percentage, amount);
  }
  fd["taxes"] = taxes;
  fd["tax_totalamount"] = money(tax_total);
  fd["shipping_handling_charge"] = money(h.s_h);
  ojson sh_taxes = ojson::array();
  for (int i = 0; i < 3; ++i) {
    const tax_def& t = k_taxes[i];
    ojson e = tax_entry(t, i + 1, 0, 0);
    e["taxname"] = std::string("sh") + t.name;
    sh_taxes.push_back(std::move(e));
  }
  fd["sh_taxes"] = sh_taxes;
  fd["shtax_totalamount"] = "0.00";
  fd["adjustment"] = money(h.adjustment);
  fd["grandTotal"] = money(h.grand_total);
  fd["preTaxTotal"] = money(h.subtotal - discount + h.s_h);
  fd["totalAfterDiscount"] = money(h.subtotal - discount);
  // The S&H charge as stored; with group tax it carries no taxes of its own (275, 276).
  ojson charge = {{"value", h.charge ? ojson(*h.charge) : ojson()}};
  if (h.taxtype != "group") charge["taxes"] = ojson{{"1", 0}, {"2", 0}, {"3", 0}};
  fd["chargesAndItsTaxes"] = ojson{{"1", charge}};
  fd["deductTaxes"] = ojson::array();
  fd["deductTaxesTotalAmount"] = "0.00";
  return fd;
}

// One line as getAssociatedProducts() shows it (238: keys numbered from 1).
ojson line_details(const ojson& line, int i, bool purchase_order, const line_items::product_info& p) {
  const std::string n = std::to_string(i);
  ojson d;
  d["purchaseCost" + n] = money(number_of(line["purchase_cost"].get<std::string>()));
  d["margin" + n] = money(number_of(line["margin"].get<std::string>()));
  d["productDeleted" + n] = !p.found;
  d["entityType" + n] = p.service ? "Services" : "Products";
  if (i != 1) d["delRow" + n] = "Del";
  const std::string product = line["productid"].get<std::string>();
  d["hdnProductId" + n] = product.substr(product.find('x') + 1);
  d["productName" + n] = p.name;
  d["hdnProductcode" + n] = p.code;
  d["productDescription" + n] = line["description"];
  d["comment" + n] = line["comment"];
  if (!purchase_order) d["qtyInStock" + n] = p.service ? "NA" : decimal_format(p.stock);
  const double qty = number_of(line["quantity"].get<std::string>());
  const double price = number_of(line["listprice"].get<std::string>());
  d["qty" + n] = decimal_format(line["quantity"].get<std::string>());
  d["listPrice" + n] = money(price);
  d["unitPrice" + n] = money(number_of(p.price));
  d["productTotal" + n] = money(qty * price);
  d["subproduct_ids" + n] = "";
  if (!p.service) {
    d["subprod_qty_list" + n] = ojson::array();
    d["subprod_names" + n] = "";
  }
  const std::string percent = decimal_format(line["discount_percent"].get<std::string>());
  const std::string amount = decimal_format(money(number_of(line["discount_amount"].get<std::string>())));
  d["discount_percent" + n] = 0;
  d["discount_amount" + n] = 0;
  double discount = 0;
  if (number_of(percent) != 0) {
    d["discount_type" + n] = "percentage";
    d["discount_percent" + n] = percent;
    d["checked_discount_percent" + n] = " checked";
    d["style_discount_percent" + n] = " style=\"visibility:visible\"";
    d["style_discount_amount" + n] = " style=\"visibility:hidden\"";
    discount = qty * price * number_of(percent) / 100;
  } else if (number_of(amount) != 0) {
    d["discount_type" + n] = "amount";
    d["discount_amount" + n] = amount;
    d["checked_discount_amount" + n] = " checked";
    d["style_discount_amount" + n] = " style=\"visibility:visible\"";
    d["style_discount_percent" + n] = " style=\"visibility:hidden\"";
    discount = number_of(amount);
  } else {
    d["checked_discount_zero" + n] = " checked";
  }
  d["discountTotal" + n] = money(discount);
  d["totalAfterDiscount" + n] = money(qty * price - discount);
  d["taxTotal" + n] = "0.00";
  d["netPrice" + n] = money(qty * price - discount);
  return d;
}

}  // namespace

line_items::product_lookup service::products() const {
  return [this](const std::string& productid) -> line_items::product_info {
    line_items::product_info info;
    const auto x = productid.find('x');
    if (x == std::string::npos) return info;
    const int prefix = std::atoi(productid.substr(0, x).c_str());
    info.service = prefix == 26;
    if (prefix != 14 && prefix != 26) return info;
    const auto v = store_.view(static_cast<std::uint32_t>(std::atoll(productid.c_str() + x + 1)));
    if (!v || v->deleted() || v->module().prefix != prefix) return info;
    const module_meta& m = v->module();
    auto text = [&](const char* field) {
      const int f = m.find(field);
      return f < 0 ? std::string() : v->value(f).value_or("");
    };
    info.found = true;
    info.price = text("unit_price");
    info.name = text(info.service ? "servicename" : "productname");
    info.code = text(info.service ? "service_no" : "product_no");
    info.stock = text("qtyinstock");
    return info;
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
  value("hdnSubTotal") = decimal(t.subtotal, 8);
  value("pre_tax_total") = decimal(t.pre_tax_total, 8);
  value("hdnGrandTotal") = decimal(t.grand_total, 8);
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
  // `SELECT *` (239, 560, 562): the header discounts come as the joined line's discount_percent/
  // discount_amount (in their place), image/purchase_cost/margin of the line before `source`, no
  // shipping_&_handling*. A record without lines (a seeded one) shows a line's defaults.
  bool line_extras = false;
  auto add_line_extras = [&] {
    if (line_extras) return;
    for (const char* c : k_line_extras)
      out[c] = line_value(c, std::string_view(c) == "image" ? ojson("") : ojson("0.00000000"));
    line_extras = true;
  };
  for (const auto& [k, val] : rec.items()) {
    if (k.rfind("shipping_&_handling", 0) == 0 || k == "discount_percent" || k == "discount_amount") continue;
    if (k == "source") add_line_extras();
    if (k == "hdnDiscountPercent" || k == "hdnDiscountAmount") {
      // Without a line, the header's copy of the line column (as refresh_totals keeps it).
      const std::string column = k == "hdnDiscountPercent" ? "discount_percent" : "discount_amount";
      out[column] = line_value(column.c_str(), rec.contains(column) ? rec[column] : val);
    } else {
      bool is_line_column = false;
      for (const char* c : k_line_columns) is_line_column = is_line_column || k == c;
      out[k] = is_line_column ? line_value(k.c_str(), val) : val;
    }
  }
  add_line_extras();
  return to_zend_json(out);
}

void service::inventory_input(record& r, const ojson& element, bool creating, bool writes_lines) const {
  const module_meta& m = store_.modules()[static_cast<std::size_t>(r.module)];
  auto value = [&](const char* name) -> std::optional<std::string>& {
    static std::optional<std::string> none;
    const int fi = m.find(name);
    return fi < 0 ? none : r.values[static_cast<std::size_t>(fi)];
  };
  auto sent = [&](const char* name) { return element.contains(name) && !element[name].is_null(); };
  auto text = [&](const char* name) {
    const ojson& v = element[name];
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  // Header discounts left out stay empty (237: "", not 0).
  for (const char* f : {"hdnDiscountPercent", "hdnDiscountAmount"}) {
    if (creating && !sent(f)) value(f) = "";
  }
  // The S&H charge: `shipping_&_handling` as sent, else hdnS_H_Amount (258); kept verbatim as the charge
  // (275: "20"), its amount in hdnS_H_Amount and, oddly, hdnS_H_Percent (275: "20.00000000").
  std::optional<std::string> charge;
  if (sent("shipping_&_handling"))
    charge = text("shipping_&_handling");
  else if (sent("hdnS_H_Amount"))
    charge = text("hdnS_H_Amount");
  if (!charge && writes_lines && !creating) {
    // Lines written without a charge drop the stored one (290), the amounts stay.
    value("shipping_&_handling") = std::nullopt;
  } else if (charge || creating) {
    const double s_h = charge ? number_of(*charge) : 0;
    value("shipping_&_handling") = charge;
    value("hdnS_H_Amount") = decimal(s_h, 8);
    // Invoice keeps it with 8 decimals, the other modules with 3 (237, 277).
    value("hdnS_H_Percent") = decimal(s_h, m.name == "Invoice" ? 8 : 3);
  }
  for (const char* f :
       {"shipping_&_handling_shtax1", "shipping_&_handling_shtax2", "shipping_&_handling_shtax3"})
    value(f) = "0";
  // A tax region sent empty (an update of a retrieved record) is stored as 0 (273, 274).
  if (element.contains("region_id") && json_is_empty_text(element["region_id"])) value("region_id") = "0";
  // SalesOrder's invoicestatus is mandatory, echoed by the create, and yet never stored (281, 282).
  if (m.name == "SalesOrder") value("invoicestatus") = "";
}

std::string service::inventory_answer(const record_view& v, inventory_answer_kind kind,
                                      const ojson* sent) const {
  using kinds = inventory_answer_kind;
  std::string flat;
  append_record(flat, v, nullptr, true, false, false);
  ojson rec = ojson::parse(flat);
  const module_meta& m = v.module();
  const std::string parent = std::to_string(m.prefix) + "x" + std::to_string(v.crmid());
  const auto lines = lines_.of(parent);
  const auto product_of = products();
  auto stored = [&](const char* name) {
    const int fi = m.find(name);
    return fi < 0 ? std::optional<std::string>() : v.value(fi);
  };
  const std::string taxtype = stored("hdnTaxType").value_or("");
  // A record without stored lines (a seeded one) shows its header productid.
  const ojson header_product = rec.contains("productid") ? rec["productid"] : ojson();
  const ojson charge = stored("shipping_&_handling") ? ojson(*stored("shipping_&_handling")) : ojson();

  if (kind == kinds::revised_header) {
    // A revise that writes no lines answers the flat record with the FIRST line's columns and no
    // charge, no LineItems_FinalDetails (248, 263, 283).
    if (!lines.empty()) {
      for (const char* c : k_line_columns) rec[c] = (*lines.front())[c];
    }
    for (const char* c : k_line_extras) rec[c] = "";
    for (const char* c : k_charge_fields) rec.erase(c);
    rec["LineItems"] = lines_.as_retrieved(parent, m.prefix, product_of);
    return to_zend_json(rec);
  }
  if (kind == kinds::updated) {
    // An update with lines answers the record as saved before its lines: empty line columns and no
    // LineItems (257, 258, 273).
    for (const char* c : k_line_columns) rec[c] = "";
    for (const char* c : k_line_extras) rec[c] = "";
    rec["productid"] = nullptr;
  } else {
    for (const char* c : k_line_columns) rec.erase(c);
  }
  const bool written = kind != kinds::retrieve;
  if (written) {
    // create, revise and update answer the totals as numbers (237, 250, 257); the create's balance is
    // stale (237).
    for (const char* c : {"hdnSubTotal", "hdnGrandTotal", "pre_tax_total"})
      if (rec.contains(c)) rec[c] = as_number(rec[c]);
    if (kind == kinds::created && rec.contains("balance")) rec["balance"] = "0.00000000";
    if (kind == kinds::created && m.name == "SalesOrder" && sent != nullptr &&
        sent->contains("invoicestatus"))
      rec["invoicestatus"] = (*sent)["invoicestatus"];
  }
  rec["shipping_&_handling"] = charge;
  for (const char* c :
       {"shipping_&_handling_shtax1", "shipping_&_handling_shtax2", "shipping_&_handling_shtax3"}) {
    if (taxtype == "group")
      rec.erase(c);  // group tax: the charge has no taxes of its own (275, 276)
    else
      rec[c] = 0;
  }
  if (kind == kinds::updated) {
    rec["LineItems"] = ojson::array();
  } else {
    rec["LineItems"] = lines_.as_retrieved(parent, m.prefix, product_of);
    rec["productid"] = written ? ojson() : lines.empty() ? header_product : (*lines.front())["productid"];
  }

  header_totals h;
  h.taxtype = taxtype;
  h.discount_percent = number_or_zero(stored("hdnDiscountPercent"));
  h.discount_amount = number_or_zero(stored("hdnDiscountAmount"));
  h.s_h = number_or_zero(stored("hdnS_H_Amount"));
  h.adjustment = number_or_zero(stored("txtAdjustment"));
  if (charge.is_string()) h.charge = charge.get<std::string>();
  ojson details = ojson::object();
  if (written) {
    // Computed before the lines are saved, from the totals as SENT (none in a create or revise: 0).
    auto sent_number = [&](const char* name) {
      return sent != nullptr && sent->contains(name) ? number_of_json((*sent)[name]) : 0.0;
    };
    h.subtotal = sent_number("hdnSubTotal");
    h.grand_total = sent_number("hdnGrandTotal");
    ojson first = {{"final_details", final_details(h)}};
    if (taxtype == "individual") first["netPrice1"] = "0.00";
    details["1"] = first;
  } else {
    h.subtotal = number_or_zero(stored("hdnSubTotal"));
    h.grand_total = number_or_zero(stored("hdnGrandTotal"));
    if (taxtype == "group" && !lines.empty()) {
      for (const char* t : {"tax1", "tax2", "tax3"})
        h.group_percentages.push_back(number_of((*lines.front())[t].get<std::string>()));
    }
    int i = 1;
    for (const ojson* line : lines) {
      details[std::to_string(i)] = line_details(*line, i, m.name == "PurchaseOrder",
                                                product_of((*line)["productid"].get<std::string>()));
      ++i;
    }
    details["1"]["final_details"] = final_details(h);
  }
  rec["LineItems_FinalDetails"] = details;
  if (kind == kinds::created) rec["new"] = true;
  return to_zend_json(rec);
}

}  // namespace vtsync::fake

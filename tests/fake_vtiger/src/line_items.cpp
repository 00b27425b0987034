#include "fake_vtiger/line_items.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "fake_vtiger/zend_json.hpp"

namespace vtsync::fake {

std::string_view embedded_json(std::string_view name);  // generated from data/*.json at build time

namespace {

using ojson = nlohmann::ordered_json;
using error = std::pair<std::string, std::string>;

const char* const k_database = "Database error while performing requested operation";

long long id_number(std::string_view id) {
  const auto x = id.find('x');
  long long n = -1;
  if (x == std::string_view::npos) return n;
  std::from_chars(id.data() + x + 1, id.data() + id.size(), n);
  return n;
}

bool compare(vtql_op op, long long a, long long b) {
  switch (op) {
    case vtql_op::eq:
    case vtql_op::in:
      return a == b;
    case vtql_op::ne:
      return a != b;
    case vtql_op::lt:
      return a < b;
    case vtql_op::gt:
      return a > b;
    case vtql_op::le:
      return a <= b;
    case vtql_op::ge:
      return a >= b;
    case vtql_op::like:
      return false;
  }
  return false;
}

std::string text_of(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump();
}

double number_of(const ojson& v) {
  const std::string t = text_of(v);
  if (t.empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  return end == t.c_str() ? 0 : d;
}

std::string decimal(double d, int places) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", places, d);
  return buf;
}

// The fields of a line in the order query and retrieve return them (240, 245).
const char* const k_fields[] = {"parent_id",
                                "productid",
                                "sequence_no",
                                "quantity",
                                "listprice",
                                "discount_percent",
                                "discount_amount",
                                "comment",
                                "description",
                                "incrementondel",
                                "id",
                                "tax1",
                                "tax2",
                                "tax3",
                                "image",
                                "purchase_cost",
                                "margin"};

}  // namespace

void line_items::reset() {
  rows_.clear();
  next_id_ = 1;
  describe_ = ojson::parse(embedded_json("describe-LineItem"));
}

ojson line_items::make_line(const std::string& parent, const ojson& sent, int sequence,
                            const product_lookup& products) {
  const std::string product = sent.contains("productid") ? text_of(sent["productid"]) : "";
  std::string price = sent.contains("listprice") ? text_of(sent["listprice"]) : "";
  if (price.empty()) price = products(product).price;
  auto num = [&](const char* key) { return sent.contains(key) ? number_of(sent[key]) : 0.0; };
  ojson line;
  line["parent_id"] = parent;
  line["productid"] = product;
  line["sequence_no"] = std::to_string(sequence);
  line["quantity"] = decimal(num("quantity"), 3);
  line["listprice"] = decimal(price.empty() ? 0 : number_of(ojson(price)), 8);
  line["discount_percent"] = decimal(num("discount_percent"), 3);
  line["discount_amount"] = decimal(num("discount_amount"), 8);
  line["comment"] = sent.contains("comment") ? text_of(sent["comment"]) : "";
  line["description"] = "";
  line["incrementondel"] = "1";
  line["id"] = "33x" + std::to_string(next_id_++);
  line["tax1"] = decimal(num("tax1"), 3);
  line["tax2"] = decimal(num("tax2"), 3);
  line["tax3"] = decimal(num("tax3"), 3);
  line["image"] = "";
  line["purchase_cost"] = decimal(num("purchase_cost"), 8);
  line["margin"] = decimal(num("margin"), 8);
  return line;
}

std::optional<std::string> line_items::replace(const std::string& parent, const ojson& lines,
                                               const product_lookup& products) {
  for (const auto& sent : lines) {
    if (!sent.is_object() || !sent.contains("productid") || text_of(sent["productid"]).empty() ||
        !products(text_of(sent["productid"])).found)
      return std::string("productid");
  }
  remove_parent(parent);
  // New ids past every line there is now, the record's own old lines deleted first (table-wide MAX + 1,
  // 290): when they were the highest, the same ids come back (566 -> 567).
  next_id_ = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
  int sequence = 1;
  for (const auto& sent : lines) {
    const std::uint32_t id = next_id_;
    rows_.emplace(id, make_line(parent, sent, sequence++, products));
  }
  return std::nullopt;
}

std::vector<const ojson*> line_items::of(const std::string& parent) const {
  std::vector<const ojson*> out;
  for (const auto& [id, row] : rows_)
    if (row["parent_id"] == parent) out.push_back(&row);
  std::stable_sort(out.begin(), out.end(), [](const ojson* a, const ojson* b) {
    return std::stoi((*a)["sequence_no"].get<std::string>()) <
           std::stoi((*b)["sequence_no"].get<std::string>());
  });
  return out;
}

void line_items::remove_parent(const std::string& parent) {
  for (auto it = rows_.begin(); it != rows_.end();) {
    if ((*it).second["parent_id"] == parent)
      it = rows_.erase(it);
    else
      ++it;
  }
  // Vtiger's next id is MAX + 1 of what is left (250: the replaced lines' ids come back).
  next_id_ = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
}

std::optional<std::string> line_items::create(const ojson& element, const product_lookup& products) {
  const std::string parent = element.contains("parent_id") ? text_of(element["parent_id"]) : "";
  if (parent.empty()) return std::nullopt;
  next_id_ = rows_.empty() ? 1 : rows_.rbegin()->first + 1;
  const std::uint32_t id = next_id_;
  // A line written directly gets sequence_no 0 (264).
  auto line = make_line(parent, element, 0, products);
  rows_.emplace(id, line);
  return to_zend_json(line);
}

std::optional<std::string> line_items::revise(const ojson& element) {
  const auto it = rows_.find(static_cast<std::uint32_t>(id_number(text_of(element.value("id", ojson())))));
  if (it == rows_.end()) return std::nullopt;
  auto& row = it->second;
  for (const auto& [k, v] : element.items()) {
    if (k == "id" || !row.contains(k)) continue;
    if (k == "quantity")
      row[k] = decimal(number_of(v), 3);
    else if (k == "listprice" || k == "discount_amount" || k == "purchase_cost" || k == "margin")
      row[k] = decimal(number_of(v), 8);
    else if (k == "discount_percent" || k == "tax1" || k == "tax2" || k == "tax3")
      row[k] = decimal(number_of(v), 3);
    else
      row[k] = text_of(v);
  }
  // A revise of a line without a discount clears it (266: discount_percent 10 -> 0).
  if (!element.contains("discount_percent")) row["discount_percent"] = "0.000";
  return to_zend_json(row);
}

bool line_items::remove(std::string_view id) {
  return rows_.erase(static_cast<std::uint32_t>(id_number(id))) > 0;
}

std::optional<std::string> line_items::retrieve(std::string_view id) const {
  const auto it = rows_.find(static_cast<std::uint32_t>(id_number(id)));
  if (it == rows_.end()) return std::nullopt;
  return to_zend_json(it->second);
}

std::variant<std::string, error> line_items::query(const vtql_query& q) const {
  auto known = [](const std::string& f) {
    return std::find(std::begin(k_fields), std::end(k_fields), f) != std::end(k_fields);
  };
  for (const auto& group : q.where)
    for (const auto& p : group) {
      if (!known(p.field))
        return error{"ACCESS_DENIED", "Permission to access " + p.field + " attribute denied."};
      if (p.field != "id" && p.field != "parent_id" && p.op != vtql_op::eq)
        return error{"DATABASE_QUERY_ERROR", k_database};
    }
  for (const auto& c : q.columns)
    if (!known(c)) return error{"ACCESS_DENIED", "Permission to access " + c + " attribute denied."};
  for (const auto& o : q.order_by)
    if (o != "id") return error{"DATABASE_QUERY_ERROR", k_database};

  auto matches = [&](const ojson& row) {
    if (q.where.empty()) return true;
    for (const auto& group : q.where) {
      bool all = true;
      for (const auto& p : group) {
        const std::string value = row[p.field].get<std::string>();
        bool one = false;
        if (p.field == "id") {
          for (const auto& v : p.values) one = one || compare(p.op, id_number(value), id_number(v.text));
        } else if (p.field == "parent_id") {
          for (const auto& v : p.values) one = one || value == v.text;
        } else {
          one = !p.values.empty() && value == p.values.front().text;
        }
        all = all && one;
      }
      if (all) return true;
    }
    return false;
  };
  std::vector<const ojson*> picked;
  for (const auto& [id, row] : rows_)
    if (matches(row)) picked.push_back(&row);  // by id: the primary key's order
  if (q.order_desc) std::reverse(picked.begin(), picked.end());
  if (q.select == vtql_query::select_kind::count)
    return to_zend_json(ojson::array({ojson{{"count", std::to_string(picked.size())}}}));
  ojson out = ojson::array();
  for (std::size_t i = static_cast<std::size_t>(std::max(0LL, q.offset));
       i < picked.size() && out.size() < static_cast<std::size_t>(q.limit); ++i) {
    if (q.select == vtql_query::select_kind::star) {
      out.push_back(*picked[i]);
      continue;
    }
    ojson row = ojson::object();
    for (const auto& c : q.columns) row[c] = (*picked[i])[c];
    row["id"] = (*picked[i])["id"];
    out.push_back(std::move(row));
  }
  return to_zend_json(out);
}

ojson line_items::as_retrieved(const std::string& parent, int prefix, const product_lookup& products) const {
  ojson out = ojson::array();
  for (const auto* row : of(parent)) {
    ojson line;
    for (const auto& [k, v] : row->items())
      if (k != "id") line[k] = v;
    line["parent_id"] = std::to_string(prefix) + "xArray";
    line["id"] = (*row)["id"];
    const std::string product = (*row)["productid"].get<std::string>();
    const auto info = products(product);
    line["product_name"] = info.name;
    line["entity_type"] = info.service ? "Services" : "Products";
    line["deleted"] = "0";
    out.push_back(std::move(line));
  }
  return out;
}

inventory_totals compute_totals(const std::vector<const ojson*>& lines, double discount_percent,
                                double discount_amount, double s_h, double adjustment) {
  inventory_totals t;
  for (const auto* l : lines) {
    const double gross = number_of((*l)["quantity"]) * number_of((*l)["listprice"]);
    const double discount =
        gross * number_of((*l)["discount_percent"]) / 100.0 + number_of((*l)["discount_amount"]);
    t.subtotal += gross - discount;
  }
  t.subtotal = std::round(t.subtotal * 100) / 100;
  const double header_discount = t.subtotal * discount_percent / 100.0 + discount_amount;
  t.pre_tax_total = std::round((t.subtotal - header_discount + s_h) * 100) / 100;
  t.grand_total = std::round((t.pre_tax_total + adjustment) * 100) / 100;
  return t;
}

}  // namespace vtsync::fake

// Users and Groups of the fake (actors.hpp).
#include "fake_vtiger/actors.hpp"

#include <algorithm>
#include <cstdlib>

#include "fake_vtiger/zend_json.hpp"

namespace vtsync::fake {

std::string_view embedded_json(std::string_view name);  // generated from data/*.json at build time

namespace {

using ojson = nlohmann::ordered_json;

std::string id_of(const ojson& row) { return row.value("id", std::string{}); }

long long id_number(std::string_view id) {
  const auto x = id.find('x');
  if (x == std::string_view::npos) return -1;
  return std::strtoll(std::string{id.substr(x + 1)}.c_str(), nullptr, 10);
}

bool compare(vtql_op op, long long a, long long b) {
  switch (op) {
    case vtql_op::eq:
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
    default:
      return false;
  }
}

// Module, id prefix, rows (data/<rows>.json, "" for none).
struct actor_def {
  const char* module;
  const char* prefix;
  const char* rows;
};
const actor_def k_actors[] = {{"Users", "19x", "users"},       {"Groups", "20x", "groups"},
                              {"Currency", "21x", "currency"}, {"DocumentFolders", "22x", "documentfolders"},
                              {"CompanyDetails", "23x", ""},   {"Tax", "34x", "tax"},
                              {"ProductTaxes", "35x", ""}};

}  // namespace

bool actors::is_actor_module(std::string_view module) {
  for (const auto& d : k_actors)
    if (module == d.module) return true;
  return false;
}

bool actors::is_actor_id(std::string_view id) {
  for (const auto& d : k_actors)
    if (id.rfind(d.prefix, 0) == 0) return true;
  return false;
}

void actors::reset() {
  tables_.clear();
  for (const auto& d : k_actors) {
    table t{d.module, d.prefix};
    if (*d.rows != '\0') t.rows = ojson::parse(embedded_json(d.rows));
    // Users' describe is the store's (service answers it, and refuses it to non-admins).
    if (std::string_view(d.module) != "Users")
      t.describe = ojson::parse(embedded_json(std::string("describe-") + d.module));
    tables_.push_back(std::move(t));
  }
}

const actors::table* actors::table_of_module(std::string_view module) const {
  for (const auto& t : tables_)
    if (t.module == module) return &t;
  return nullptr;
}

actors::table* actors::table_of_id(std::string_view id) {
  for (auto& t : tables_)
    if (id.rfind(t.prefix, 0) == 0) return &t;
  return nullptr;
}

const ojson* actors::describe(std::string_view module) const {
  const table* t = table_of_module(module);
  return t == nullptr || t->describe.is_null() ? nullptr : &t->describe;
}

std::variant<std::string, std::pair<std::string, std::string>> actors::query(const vtql_query& q) const {
  using error = std::pair<std::string, std::string>;
  const table* t = table_of_module(q.module);
  static const ojson none = ojson::array();
  const auto& rows = t == nullptr ? none : t->rows;
  const ojson& first = rows.empty() ? ojson::object() : rows.front();
  // The columns of the rows; a module without rows knows its describe's fields.
  auto known = [&](const std::string& field) {
    if (field == "id" || first.contains(field)) return true;
    if (!rows.empty() || t == nullptr || !t->describe.contains("fields")) return false;
    for (const auto& f : t->describe["fields"])
      if (f.value("name", "") == field) return true;
    return false;
  };
  for (const auto& group : q.where) {
    for (const auto& p : group) {
      if (!known(p.field))
        return error{"ACCESS_DENIED", "Permission to access " + p.field + " attribute denied."};
      if (p.field != "id" && p.op != vtql_op::eq)
        return error{"DATABASE_QUERY_ERROR", "Database error while performing requested operation"};
    }
  }
  for (const auto& c : q.columns)
    if (!known(c)) return error{"ACCESS_DENIED", "Permission to access " + c + " attribute denied."};
  for (const auto& o : q.order_by)
    if (o != "id")
      return error{"DATABASE_QUERY_ERROR", "Database error while performing requested operation"};

  auto matches = [&](const ojson& row) {
    if (q.where.empty()) return true;
    for (const auto& group : q.where) {
      bool all = true;
      for (const auto& p : group) {
        const std::string value = row.value(p.field, std::string{});
        bool one = false;
        if (p.field == "id") {
          for (const auto& v : p.values)
            one =
                one || compare(p.op == vtql_op::in ? vtql_op::eq : p.op, id_number(value), id_number(v.text));
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
  for (const auto& row : rows)
    if (matches(row)) picked.push_back(&row);
  if (!q.order_by.empty()) {
    std::stable_sort(picked.begin(), picked.end(), [&](const ojson* a, const ojson* b) {
      const auto x = id_number((*a)["id"].get<std::string>());
      const auto y = id_number((*b)["id"].get<std::string>());
      return q.order_desc ? y < x : x < y;
    });
  }
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

std::optional<std::string> actors::retrieve(std::string_view id) const {
  const table* t = const_cast<actors*>(this)->table_of_id(id);
  if (t == nullptr) return std::nullopt;
  for (const auto& row : t->rows) {
    if (id_of(row) != id) continue;
    if (t->module != "Groups") return to_zend_json(row);  // 385, 416
    // Recording 386: groupid first, then the fields, id last.
    ojson out = {{"groupid", std::to_string(id_number(id))}};
    for (const auto& [k, v] : row.items())
      if (k != "id") out[k] = v;
    out["id"] = row["id"];
    return to_zend_json(out);
  }
  return std::nullopt;
}

ojson* actors::find(std::string_view id) {
  table* t = table_of_id(id);
  if (t == nullptr) return nullptr;
  for (auto& row : t->rows)
    if (id_of(row) == id) return &row;
  return nullptr;
}

bool actors::edit(std::string_view id, const nlohmann::json& fields) {
  auto* row = find(id);
  if (row == nullptr || !fields.is_object()) return false;
  for (const auto& item : fields.items())
    if (item.key() == "id" || !row->contains(item.key())) return false;
  for (const auto& [k, v] : fields.items()) (*row)[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return true;
}

bool actors::remove(std::string_view id) {
  table* t = table_of_id(id);
  if (t == nullptr) return false;
  auto& rows = t->rows;
  for (auto it = rows.begin(); it != rows.end(); ++it) {
    if (id_of(*it) != id) continue;
    rows.erase(it);
    return true;
  }
  return false;
}

}  // namespace vtsync::fake

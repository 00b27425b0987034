#include "vtsync/sync/vtiger/vtql.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace vtsync::vtiger::vtql {
namespace {

std::string checked_identifier(std::string_view name) {
  if (!is_identifier(name))
    throw std::invalid_argument("not a VTQL field or module name: " + std::string(name));
  return std::string(name);
}

std::string checked_operator(std::string_view op) {
  static constexpr std::array<std::string_view, 7> ops{"=", "<", ">", "<=", ">=", "!=", "LIKE"};
  std::string upper(op);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (std::find(ops.begin(), ops.end(), upper) == ops.end()) {
    throw std::invalid_argument("not a VTQL operator: " + std::string(op));
  }
  return upper;
}

std::string column_list(const std::vector<std::string>& columns) {
  if (columns.empty()) return "*";
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out += checked_identifier(c);
  }
  return out;
}

std::vector<std::string> with_modifiedtime(std::vector<std::string> columns) {
  if (!columns.empty() && std::find(columns.begin(), columns.end(), "modifiedtime") == columns.end()) {
    columns.emplace_back("modifiedtime");
  }
  return columns;
}

std::string quoted_cursor_value(std::string_view value, std::string_view what) {
  auto q = quote_literal(value);
  if (!q) throw std::invalid_argument("empty " + std::string(what) + " in a keyset cursor");
  return *q;
}

}  // namespace

std::optional<std::string> quote_literal(std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::string out;
  out.reserve(value.size() + 2);
  out += '\'';
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

bool is_identifier(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

select_query::select_query(const std::string& module, const std::vector<std::string>& columns)
    : head_("SELECT " + column_list(columns) + " FROM " + checked_identifier(module)) {}

select_query& select_query::add(std::string_view joiner, std::string_view field, std::string_view op,
                                std::string_view value) {
  std::string condition = checked_identifier(field) + " " + checked_operator(op) + " ";
  auto literal = quote_literal(value);
  if (!literal) unexpressible_ = true;
  condition += literal.value_or("''");
  where_ += where_.empty() ? std::string() : std::string(" ") + std::string(joiner) + " ";
  where_ += condition;
  return *this;
}

select_query& select_query::where(std::string_view field, std::string_view op, std::string_view value) {
  return add("AND", field, op, value);
}
select_query& select_query::and_where(std::string_view field, std::string_view op, std::string_view value) {
  return add("AND", field, op, value);
}
select_query& select_query::or_where(std::string_view field, std::string_view op, std::string_view value) {
  return add("OR", field, op, value);
}

select_query& select_query::where_in(std::string_view field, const std::vector<std::string>& values) {
  if (values.empty()) throw std::invalid_argument("VTQL IN needs at least one value");
  std::string condition = checked_identifier(field) + " IN (";
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto literal = quote_literal(values[i]);
    if (!literal) unexpressible_ = true;
    condition += (i ? ", " : "") + literal.value_or("''");
  }
  condition += ")";
  where_ += where_.empty() ? std::string() : std::string(" AND ");
  where_ += condition;
  return *this;
}

select_query& select_query::order_by(const std::vector<std::string>& fields, bool descending) {
  if (fields.empty()) throw std::invalid_argument("VTQL ORDER BY needs a field");
  tail_order_ = " ORDER BY " + column_list(fields) + (descending ? " DESC" : "");
  return *this;
}

select_query& select_query::limit(std::size_t count) {
  tail_limit_ = " LIMIT " + std::to_string(count);
  return *this;
}

select_query& select_query::limit(std::size_t offset, std::size_t count) {
  tail_limit_ = " LIMIT " + std::to_string(offset) + ", " + std::to_string(count);
  return *this;
}

std::optional<std::string> select_query::str() const {
  if (unexpressible_) return std::nullopt;
  return head_ + (where_.empty() ? "" : " WHERE " + where_) + tail_order_ + tail_limit_ + ";";
}

std::string modified_page(std::string_view module, const std::vector<std::string>& columns,
                          const std::optional<modified_cursor>& after, std::size_t limit) {
  std::string q = "SELECT " + column_list(with_modifiedtime(columns)) + " FROM " + checked_identifier(module);
  if (after) {
    const auto t = quoted_cursor_value(after->modifiedtime, "modifiedtime");
    // No parentheses in VTQL; AND binds tighter than OR, which is what the keyset condition needs (§12.4).
    q += " WHERE modifiedtime > " + t + " OR modifiedtime = " + t + " AND id > " +
         quoted_cursor_value(after->id, "id");
  }
  return q + " ORDER BY modifiedtime, id LIMIT " + std::to_string(limit) + ";";
}

std::string modified_since_page(std::string_view module, const std::vector<std::string>& columns,
                                std::string_view since, std::size_t limit) {
  return "SELECT " + column_list(with_modifiedtime(columns)) + " FROM " + checked_identifier(module) +
         " WHERE modifiedtime >= " + quoted_cursor_value(since, "since time") +
         " ORDER BY modifiedtime, id LIMIT " + std::to_string(limit) + ";";
}

std::string id_page(std::string_view module, const std::vector<std::string>& columns,
                    const std::optional<std::string>& after_id, std::size_t limit) {
  std::string q = "SELECT " + column_list(columns) + " FROM " + checked_identifier(module);
  if (after_id) q += " WHERE id > " + quoted_cursor_value(*after_id, "id");
  return q + " ORDER BY id LIMIT " + std::to_string(limit) + ";";
}

}  // namespace vtsync::vtiger::vtql

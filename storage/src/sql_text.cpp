#include "sql_text.hpp"

#include "vtsync/common/escape.hpp"
#include "vtsync/storage/columns.hpp"

#include <algorithm>

namespace vtsync::storage::detail {

bool is_internal_name(std::string_view name) noexcept {
  if (!name.empty() && name.front() == '_') return true;  // reserved for internal columns
  return std::find(std::begin(internal_columns), std::end(internal_columns), name) !=
         std::end(internal_columns);
}

std::string quote_literal(std::string_view text) { return quote_with(text, '\''); }

std::int64_t lock_key(std::string_view name) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<std::int64_t>(h);
}

std::string converted_columns(const mirror_table& table, std::string_view alias, std::string_view zone) {
  const std::string a{alias};
  std::string out = a + ".vtiger_id";
  for (const auto& c : table.columns) {
    const std::string ref = a + "." + quote_ident(c.name);
    out += ", ";
    switch (c.type) {
      case column_type::text:
        out += ref;
        break;
      case column_type::timestamptz:
        // Vtiger's wall-clock time is in the server's zone: make it an instant explicitly.
        out += "(" + ref + "::timestamp AT TIME ZONE " + std::string{zone} + ")";
        break;
      default:
        out += ref + "::" + std::string{sql_type_name(c.type)};
        break;
    }
  }
  out += ", " + a + "._sync_base";
  return out;
}

std::string column_list(const mirror_table& table, std::string_view prefix) {
  const std::string p{prefix};
  std::string out = p + "vtiger_id";
  for (const auto& c : table.columns) out += ", " + p + quote_ident(c.name);
  out += ", " + p + "_sync_base";
  return out;
}

std::string array_literal(const std::vector<std::optional<std::string>>& elements) {
  std::size_t size = 2;
  for (const auto& e : elements) size += e ? e->size() + 3 : 5;
  std::string out;
  out.reserve(size + size / 16);
  out += '{';
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    if (!elements[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    // Copy runs of ordinary characters at once; quote and backslash are escaped, NUL dropped.
    const char* run = elements[i]->data();
    const char* const end = run + elements[i]->size();
    for (const char* p = run; p != end; ++p) {
      const char c = *p;
      if (c != '"' && c != '\\' && c != '\0') continue;
      out.append(run, p);
      if (c != '\0') {
        out += '\\';
        out += c;
      }
      run = p + 1;
    }
    out.append(run, end);
    out += '"';
  }
  out += '}';
  return out;
}

std::string copy_rows(const row_batch& arrays) {
  std::size_t size = 0;
  for (const auto& v : arrays.bases) size += v ? v->size() + 1 : 3;
  for (const auto& column : arrays.columns)
    for (const auto& v : column) size += v ? v->size() + 1 : 3;
  std::string out;
  out.reserve(size + size / 32 + arrays.vtiger_ids.size() * 24);
  for (std::size_t row = 0; row < arrays.vtiger_ids.size(); ++row) {
    append_copy_field(out, arrays.vtiger_ids[row]);
    for (const auto& column : arrays.columns) {
      out += '\t';
      append_copy_field(out, column[row]);
    }
    out += '\t';
    append_copy_field(out, arrays.bases[row]);
    out += "\tsynced\n";
  }
  return out;
}

std::string copy_column_list(const mirror_table& table) { return column_list(table) + ", _sync_state"; }

std::string rows_source(const mirror_table& table) {
  std::string unnest = "unnest($1::text[]), unnest($3::text[])";
  std::string aliases = "vtiger_id, _sync_base";
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    unnest += ", unnest($" + std::to_string(i + 4) + "::text[])";
    aliases += ", " + quote_ident(table.columns[i].name);
  }
  return "ROWS FROM (" + unnest + ") AS r(" + aliases + ")";
}

std::vector<param> rows_params(const row_batch& rows, const std::string& zone) {
  std::vector<param> values;
  values.reserve(rows.columns.size() + 4);
  values.emplace_back(detail::array_literal(rows.vtiger_ids));
  values.emplace_back(zone);
  values.emplace_back(detail::array_literal(rows.bases));
  for (const auto& column : rows.columns) values.emplace_back(detail::array_literal(column));
  return values;
}

std::string to_param(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::int64_t to_i64(std::string_view text) { return text.empty() ? 0 : std::stoll(std::string{text}); }

nlohmann::json parse_json(std::string_view text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text);
}

std::string id_number_of(std::string_view column) {
  return "substring(" + std::string{column} + " FROM 'x([0-9]{1,18})$')::bigint";
}

}  // namespace vtsync::storage::detail

#include "sql_text.hpp"

#include "vtsync/storage/values.hpp"

#include <algorithm>

namespace vtsync::storage::detail {

bool is_internal_name(std::string_view name) noexcept {
  if (!name.empty() && name.front() == '_') return true;  // reserved for internal columns
  return std::find(std::begin(internal_columns), std::end(internal_columns), name) !=
         std::end(internal_columns);
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\0') continue;
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

std::int64_t lock_key(std::string_view name) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<std::int64_t>(h);
}

std::string record_definition(const mirror_table& table) {
  std::string out = "vtiger_id text, _sync_base text";
  for (const auto& c : table.columns) {
    out += ", ";
    out += quote_ident(c.name);
    out += " text";
  }
  return out;
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

namespace {

// Whether any string (or key) of `v` holds a NUL character. Records almost never do: checking first spares
// the deep copy of without_nul (a map insert per field), which was a large share of a backfill's CPU.
bool has_nul(const nlohmann::json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key().find('\0') != std::string::npos || has_nul(it.value())) return true;
    }
    return false;
  }
  if (v.is_array())
    return std::any_of(v.begin(), v.end(), [](const nlohmann::json& item) { return has_nul(item); });
  return false;
}

// PostgreSQL text and jsonb cannot hold NUL characters: drop them from every string of a record.
nlohmann::json without_nul(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.find('\0') == std::string::npos) return v;
    std::string clean;
    for (char c : s)
      if (c != '\0') clean += c;
    return clean;
  }
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string key;
      for (char c : it.key())
        if (c != '\0') key += c;
      out[key] = without_nul(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : v) out.push_back(without_nul(item));
    return out;
  }
  return v;
}

// A record as _sync_base holds it: compact JSON, keys sorted, NULs dropped. The page store and the push's
// write-back both use it, so the pull of a record we just wrote back finds it unchanged.
std::string base_text(const nlohmann::json& record) {
  return has_nul(record) ? to_param(without_nul(record)) : to_param(record);
}

}  // namespace

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

namespace {

bool has_nul(const flat_record& record) {
  return std::any_of(record.fields.begin(), record.fields.end(), [](const flat_field& f) {
    return f.name.find('\0') != std::string::npos || f.value.text.find('\0') != std::string::npos ||
           (f.value.type == flat_value::kind::json && f.value.text.find("\\u0000") != std::string::npos);
  });
}

// _sync_base for a flat record: compact_json of it, NULs dropped as base_text() does for a JSON record.
std::string base_text(const flat_record& record) {
  if (!has_nul(record)) return compact_json(record);
  nlohmann::json object = nlohmann::json::object();
  for (const auto& f : record.fields) {
    switch (f.value.type) {
      case flat_value::kind::string:
        object[f.name] = f.value.text;
        break;
      case flat_value::kind::null:
        object[f.name] = nullptr;
        break;
      case flat_value::kind::json:
        object[f.name] = nlohmann::json::parse(f.value.text);
        break;
    }
  }
  return base_text(object);
}

}  // namespace

column_arrays to_column_arrays(const mirror_table& table, const std::vector<const flat_record*>& records) {
  column_arrays out;
  out.columns.resize(table.columns.size());
  for (auto& c : out.columns) c.reserve(records.size());
  out.vtiger_ids.reserve(records.size());
  out.bases.reserve(records.size());
  // The columns in name order (std::string's <, as a flat record's fields), so each record is matched to
  // the columns in one merge walk.
  std::vector<std::size_t> by_name(table.columns.size());
  for (std::size_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  std::sort(by_name.begin(), by_name.end(),
            [&](std::size_t a, std::size_t b) { return table.columns[a].name < table.columns[b].name; });
  for (const auto* record : records) {
    const auto* id = record->find("id");
    if (id != nullptr && id->type == flat_value::kind::string) {
      std::string text = id->text;
      std::erase(text, '\0');
      out.vtiger_ids.emplace_back(std::move(text));
    } else {
      out.vtiger_ids.emplace_back(std::nullopt);
    }
    out.bases.emplace_back(base_text(*record));
    auto it = record->fields.begin();
    const auto end = record->fields.end();
    for (const std::size_t i : by_name) {
      const auto& c = table.columns[i];
      while (it != end && it->name < c.name) ++it;
      if (it == end || it->name != c.name) {
        out.columns[i].emplace_back(std::nullopt);
        continue;
      }
      auto value = to_column_value(c.type, it->value);
      if (value.malformed) ++out.malformed;
      out.columns[i].push_back(std::move(value.text));
    }
  }
  return out;
}

std::string copy_rows(const column_arrays& arrays) {
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

nlohmann::json row_object(const mirror_table& table, const nlohmann::json& record, std::size_t& malformed) {
  nlohmann::json row = nlohmann::json::object();
  const auto id = record.find("id");
  row["vtiger_id"] = (id != record.end() && id->is_string()) ? without_nul(*id) : nlohmann::json(nullptr);
  row["_sync_base"] = base_text(record);
  for (const auto& c : table.columns) {
    const auto it = record.find(c.name);
    if (it == record.end()) {
      row[c.name] = nullptr;
      continue;
    }
    auto value = to_column_value(c.type, *it);
    if (value.malformed) ++malformed;
    row[c.name] = value.text ? nlohmann::json(std::move(*value.text)) : nlohmann::json(nullptr);
  }
  return row;
}

std::string to_param(const nlohmann::json& value) { return compact_json(value); }

}  // namespace vtsync::storage::detail

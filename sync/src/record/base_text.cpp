// The canonical record text kept in _sync_base (values.hpp: base_text).
#include <algorithm>

#include "record_text.hpp"
#include "vtsync/common/escape.hpp"
#include "vtsync/sync/record/values.hpp"

namespace vtsync::record {

namespace {

using detail::dump;
using detail::without_nul;

// nlohmann's serializer's escapes (ensure_ascii = false): quote, backslash, the short forms of \b \f \n \r
// \t, \u00XX for the other control characters.
const escape_table& json_escapes() {
  static const std::array<std::string, 0x20> unicode = [] {
    static constexpr char hex[] = "0123456789abcdef";
    std::array<std::string, 0x20> u;
    for (unsigned i = 0; i < u.size(); ++i) u[i] = std::string{"\\u00"} + hex[i >> 4] + hex[i & 0xF];
    return u;
  }();
  static const escape_table table = [] {
    auto t = make_escape_table({{'"', "\\\""},
                                {'\\', "\\\\"},
                                {'\b', "\\b"},
                                {'\f', "\\f"},
                                {'\n', "\\n"},
                                {'\r', "\\r"},
                                {'\t', "\\t"}});
    for (unsigned i = 0; i < unicode.size(); ++i)
      if (t[i] == nullptr) t[i] = unicode[i].c_str();
    return t;
  }();
  return table;
}

// A JSON string as nlohmann's serializer escapes it with ensure_ascii = false. False if `s` is not valid
// UTF-8 (then dump() decides what to write).
bool append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s, json_escapes());
  out += '"';
  return vtsync::valid_utf8(s);
}

bool has_nul(const flat_record& record) {
  return std::any_of(record.fields.begin(), record.fields.end(), [](const flat_field& f) {
    return f.name.find('\0') != std::string::npos || f.value.text.find('\0') != std::string::npos ||
           (f.value.type == flat_value::kind::json && f.value.text.find("\\u0000") != std::string::npos);
  });
}

// PostgreSQL text cannot hold NUL characters: drop them from every string (and key) of a value.
nlohmann::json json_without_nul(const nlohmann::json& v) {
  if (v.is_string()) return without_nul(std::string_view{v.get_ref<const std::string&>()});
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = v.begin(); it != v.end(); ++it)
      out[without_nul(std::string_view{it.key()})] = json_without_nul(it.value());
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : v) out.push_back(json_without_nul(item));
    return out;
  }
  return v;
}

nlohmann::json to_json(const flat_value& v) {
  switch (v.type) {
    case flat_value::kind::string:
      return v.text;
    case flat_value::kind::null:
      return nullptr;
    case flat_value::kind::json:
      break;
  }
  return nlohmann::json::parse(v.text);
}

}  // namespace

std::string base_text(const flat_record& record) {
  const auto as_object = [&] {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& f : record.fields) object[f.name] = to_json(f.value);
    return object;
  };
  if (has_nul(record)) return dump(json_without_nul(as_object()));
  std::size_t size = 2;
  for (const auto& f : record.fields) size += f.name.size() + f.value.text.size() + 6;
  std::string out;
  out.reserve(size + size / 16);
  out += '{';
  bool first = true;
  for (const auto& f : record.fields) {
    if (!first) out += ',';
    first = false;
    if (!append_json_string(out, f.name)) return dump(as_object());
    out += ':';
    switch (f.value.type) {
      case flat_value::kind::string:
        if (!append_json_string(out, f.value.text)) return dump(as_object());
        break;
      case flat_value::kind::null:
        out += "null";
        break;
      case flat_value::kind::json:
        out += f.value.text;
        break;
    }
  }
  out += '}';
  return out;
}

}  // namespace vtsync::record

// The canonical record text kept in _sync_base (values.hpp: base_text).
#include <algorithm>

#include "record_text.hpp"
#include "vtsync/sync/record/values.hpp"

namespace vtsync::record {

namespace {

using detail::dump;
using detail::without_nul;

// A JSON string as nlohmann's serializer escapes it with ensure_ascii = false. False if `s` is not valid
// UTF-8 (then dump() decides what to write).
bool append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  bool ascii = true;
  out += '"';
  const char* run = s.data();
  const char* const end = run + s.size();
  for (const char* p = run; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) ascii = false;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(run, p);
    run = p + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
        break;
    }
  }
  out.append(run, end);
  out += '"';
  return ascii || vtsync::valid_utf8(s);
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

#pragma once
// The one in-memory form of a Vtiger record, from the HTTP answer to the mirror row and back: the pull's
// pages (protocol.hpp: parse_query_records), retrieve and sync answers (values.hpp: to_flat_record), the
// records a push gets back. Vtiger's records are objects of strings (and the odd null); holding them as
// sorted (name, value) pairs instead of a JSON document costs a fraction of the allocations, and
// table.hpp's to_rows matches them to the mirror's columns in one merge walk. Header-only and free of any
// library, so the web-service client can produce it without knowing the mirror.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync {

struct flat_value {
  enum class kind : std::uint8_t { string, null, json };
  kind type = kind::null;
  std::string text;  // a string's decoded value, or the compact JSON text of any other value (kind::json)
};

struct flat_field {
  std::string name;
  flat_value value;
};

struct flat_record {
  std::vector<flat_field> fields;  // sorted by name (std::string's <, as a JSON object's keys), unique

  // The field's value, or nullptr when the record has no such field.
  [[nodiscard]] const flat_value* find(std::string_view name) const noexcept {
    const auto it = std::lower_bound(fields.begin(), fields.end(), name,
                                     [](const flat_field& f, std::string_view n) { return f.name < n; });
    return it != fields.end() && it->name == name ? &it->value : nullptr;
  }
  // The field's text when it is a string, else "".
  [[nodiscard]] std::string_view text(std::string_view name) const noexcept {
    const auto* v = find(name);
    return v != nullptr && v->type == flat_value::kind::string ? std::string_view{v->text}
                                                               : std::string_view{};
  }
};

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
[[nodiscard]] inline bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += n + 1;
  }
  return true;
}

}  // namespace vtsync

#include "fake_vtiger/zend_json.hpp"

#include <array>
#include <cstdio>

namespace vtsync::fake {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  // Most bytes need no escape: test them against a table before the switch.
  static const auto escaped = [] {
    std::array<bool, 256> t{};
    for (const unsigned char c : {'"', '\\', '/', '\n', '\r', '\t', '\b', '\f'}) t[c] = true;
    return t;
  }();
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!escaped[static_cast<unsigned char>(c)]) continue;
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '/':
        esc = "\\/";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\f':
        esc = "\\f";
        break;
      default:
        continue;
    }
    out.append(s.data() + start, i - start);
    out.append(esc);
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
  out.push_back('"');
}

void append_json(std::string& out, const nlohmann::ordered_json& value) {
  using value_t = nlohmann::ordered_json::value_t;
  switch (value.type()) {
    case value_t::null:
      out += "null";
      break;
    case value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case value_t::string:
      append_json_string(out, value.get_ref<const std::string&>());
      break;
    case value_t::number_integer:
      out += std::to_string(value.get<std::int64_t>());
      break;
    case value_t::number_unsigned:
      out += std::to_string(value.get<std::uint64_t>());
      break;
    case value_t::number_float:
      out += value.dump();
      break;
    case value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.push_back(',');
        first = false;
        append_json(out, item);
      }
      out.push_back(']');
      break;
    }
    case value_t::object: {
      // PHP encodes an empty array as [] even where an object is meant.
      if (value.empty()) {
        out += "[]";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : value.items()) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, k);
        out.push_back(':');
        append_json(out, v);
      }
      out.push_back('}');
      break;
    }
    default:
      out += "null";
      break;
  }
}

std::string to_zend_json(const nlohmann::ordered_json& value) {
  std::string out;
  append_json(out, value);
  return out;
}

}  // namespace vtsync::fake

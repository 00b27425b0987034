#pragma once
// Reading one TOML value as the C++ value a key wants: the typed readers (string, boolean, integer, number,
// duration, choice, enum) and `named`, the enum <-> name lookup tables they and the docs use. Every failure
// throws config_error through origin::fail, so its message is "file:key: what is wrong".
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "vtsync/config/config.hpp"

namespace vtsync::config::detail {

// The pieces one after the other, appended to one string (no temporary strings per `+`).
template <class... Parts>
void append(std::string& out, const Parts&... parts) {
  ((out += parts), ...);
}
template <class... Parts>
[[nodiscard]] std::string concat(const Parts&... parts) {
  std::string out;
  append(out, parts...);
  return out;
}

// Where a value is being read from, for error messages.
struct origin {
  const std::string& file;
  const std::string& key;
  [[noreturn]] void fail(const std::string& problem) const {
    throw config_error(concat(file, ":", key, ": ", problem));
  }
};

// "a string", "an integer", ...: what the file holds, for "expected X, got Y".
[[nodiscard]] std::string node_type_name(const toml::node& node);

[[nodiscard]] std::string as_string(const toml::node& node, const origin& at);
[[nodiscard]] std::string as_nonempty_string(const toml::node& node, const origin& at);
[[nodiscard]] bool as_bool(const toml::node& node, const origin& at);
[[nodiscard]] std::int64_t as_integer(const toml::node& node, const origin& at, std::int64_t min,
                                      std::int64_t max);
[[nodiscard]] double as_number(const toml::node& node, const origin& at);
[[nodiscard]] std::chrono::milliseconds as_duration(const toml::node& node, const origin& at,
                                                    std::chrono::milliseconds min,
                                                    std::chrono::milliseconds max);
[[nodiscard]] std::string as_choice(const toml::node& node, const origin& at,
                                    const std::vector<std::string>& choices);

// One value of an enum and its name in the file; a table of them lists the choices in the order the docs
// show them, the default first (it also names any value missing from the table).
template <class Enum>
struct named {
  Enum value;
  std::string_view name;
};

template <class Enum, std::size_t N>
[[nodiscard]] std::vector<std::string> names_of(const named<Enum> (&table)[N]) {
  std::vector<std::string> out;
  for (const auto& n : table) out.emplace_back(n.name);
  return out;
}

template <class Enum, std::size_t N>
[[nodiscard]] std::string_view name_of(const named<Enum> (&table)[N], Enum value,
                                       std::string_view otherwise) {
  for (const auto& n : table) {
    if (n.value == value) return n.name;
  }
  return otherwise;
}
template <class Enum, std::size_t N>
[[nodiscard]] std::string_view name_of(const named<Enum> (&table)[N], Enum value) {
  return name_of(table, value, table[0].name);
}

template <class Enum, std::size_t N>
[[nodiscard]] Enum as_enum(const toml::node& node, const origin& at, const named<Enum> (&table)[N]) {
  const auto name = as_choice(node, at, names_of(table));
  for (const auto& n : table) {
    if (n.name == name) return n.value;
  }
  return table[0].value;  // not reached: as_choice accepts only the names above
}

}  // namespace vtsync::config::detail

// Escaping one string into another by a byte table: the one loop behind the record's canonical JSON text
// (record/base_text.cpp) and PostgreSQL's COPY text format (storage/columns.cpp).
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

namespace vtsync {

// For each byte: nullptr keeps it as it is; any other entry replaces it ("" drops it).
using escape_table = std::array<const char*, 256>;

struct escape {
  char byte;
  const char* replacement;
};

// A table from its entries, e.g. make_escape_table({{'\t', "\\t"}, {'\0', ""}}).
constexpr escape_table make_escape_table(std::initializer_list<escape> escapes) {
  escape_table table{};
  for (const auto& e : escapes) table[static_cast<unsigned char>(e.byte)] = e.replacement;
  return table;
}

// Appends `text` to `out`, each byte that has an entry in `table` replaced by that entry. Runs of kept bytes
// are copied in one piece.
inline void append_escaped(std::string& out, std::string_view text, const escape_table& table) {
  const char* run = text.data();
  const char* const end = run + text.size();
  for (const char* p = run; p != end; ++p) {
    const char* replacement = table[static_cast<unsigned char>(*p)];
    if (replacement == nullptr) continue;
    out.append(run, p);
    out += replacement;
    run = p + 1;
  }
  out.append(run, end);
}

// `text` between two `quote` characters, each `quote` in it doubled and NULs dropped (PostgreSQL cannot hold
// them): the one quoting behind storage's quote_literal and quote_ident.
inline std::string quote_with(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == '\0') continue;
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}

}  // namespace vtsync

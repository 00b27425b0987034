// libFuzzer target: Vtiger values -> mirror column values and back (sync/src/record/values.cpp, and
// storage/src/columns.cpp's escapers).
//
// Input: byte 0 picks the column type (and whether the rest is taken as JSON when it parses), the rest is
// the value. Properties checked against independent re-implementations of PostgreSQL's input grammar:
// every non-NULL column text is something PostgreSQL accepts for that type (so one bad value can never
// fail a whole page), text never holds NUL, text_array_literal parses back to its elements, quote_ident
// always yields one well-formed quoted identifier, base_text writes what dump writes, and nothing
// throws.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "vtsync/storage/columns.hpp"
#include "vtsync/sync/record/values.hpp"

using namespace vtsync::storage;
using namespace vtsync::record;
using vtsync::record::column_value;
using vtsync::record::to_column_value;
using json = nlohmann::json;

namespace {

bool digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// PostgreSQL's int8in: optional sign, digits, within range (surrounding spaces allowed, none produced).
bool pg_bigint(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', s.remove_prefix(1);
  if (!digits(s)) return false;
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  const std::string_view max = neg ? "9223372036854775808" : "9223372036854775807";
  return s.size() < max.size() || (s.size() == max.size() && s <= max);
}

// numeric_in: [+-] (digits [. digits*] | . digits) [e [+-] digits]
bool pg_numeric(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t before = 0, after = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++before;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++after;
  }
  if (before + after == 0) return false;
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == s.size()) return false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      exponent = exponent * 10 + (s[i++] - '0');
      if (exponent > 1000) return false;  // NUMERIC_MAX_PRECISION: "invalid input syntax"
    }
    if (neg) exponent = -exponent;
  }
  // make_result: "value overflows numeric format" beyond these (NUMERIC_DSCALE_MAX, weight limit).
  const long scale = static_cast<long>(after) - exponent;
  if (scale > 0x3FFF) return false;
  if (static_cast<long>(before) + exponent > 131072) return false;
  return i == s.size();
}

bool pg_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !digits(s.substr(0, 4)) || !digits(s.substr(5, 2)) ||
      !digits(s.substr(8, 2)))
    return false;
  const int y = std::stoi(std::string(s.substr(0, 4))), m = std::stoi(std::string(s.substr(5, 2))),
            d = std::stoi(std::string(s.substr(8, 2)));
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int mdays[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return d <= mdays[m - 1];
}

bool pg_timestamp(std::string_view s) {
  if (s.size() != 19 || !pg_date(s.substr(0, 10)) || s[10] != ' ' || s[13] != ':' || s[16] != ':')
    return false;
  if (!digits(s.substr(11, 2)) || !digits(s.substr(14, 2)) || !digits(s.substr(17, 2))) return false;
  return std::stoi(std::string(s.substr(11, 2))) < 24 && std::stoi(std::string(s.substr(14, 2))) < 60 &&
         std::stoi(std::string(s.substr(17, 2))) < 60;
}

// A text[] literal made only of double-quoted elements, as text_array_literal writes it.
std::optional<std::vector<std::string>> parse_array(std::string_view s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (!out.empty()) {
      if (s[i] != ',') return std::nullopt;
      ++i;
    }
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    ++i;
    std::string e;
    bool closed = false;
    while (i < s.size()) {
      const char c = s[i++];
      if (c == '\\') {
        if (i >= s.size()) return std::nullopt;
        e += s[i++];
      } else if (c == '"') {
        closed = true;
        break;
      } else {
        e += c;
      }
    }
    if (!closed) return std::nullopt;
    out.push_back(std::move(e));
  }
  return out;
}

std::string without_nul(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\0') out += c;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr column_type types[] = {
      column_type::text,   column_type::date,    column_type::timestamptz, column_type::boolean,
      column_type::bigint, column_type::numeric, column_type::text_array,  column_type::text};
  const column_type type = types[data[0] & 7];
  const std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  json value;
  if ((data[0] & 8) && json::accept(raw))
    value = json::parse(raw);
  else
    value = std::string(raw);

  FUZZ_CHECK(column_type_from_sql(sql_type_name(type)) == type, "sql_type_name does not map back");
  (void)column_type_for(raw);
  (void)column_type_from_sql(raw);

  // base_text writes what nlohmann's dump writes, for a record holding the value under a fuzzed key
  // (NUL characters dropped: PostgreSQL text cannot hold them).
  json record = json::object();
  record[std::string(raw.substr(0, raw.size() / 2))] = value;
  record["id"] = std::string(raw);
  const std::string dumped = record.dump(-1, ' ', false, json::error_handler_t::replace);
  if (dumped.find("\\u0000") == std::string::npos)
    FUZZ_CHECK(base_text(to_flat_record(record)) == dumped, "base_text differs from dump");

  const column_value cv = to_column_value(type, to_flat_value(value));
  FUZZ_CHECK(!(cv.malformed && cv.text), "malformed but not NULL");
  if (cv.text) {
    const std::string& t = *cv.text;
    FUZZ_CHECK(t.find('\0') == std::string::npos, "a NUL byte in column text");
    switch (type) {
      case column_type::bigint:
        FUZZ_CHECK(pg_bigint(t), "bigint text PostgreSQL would reject");
        break;
      case column_type::numeric:
        FUZZ_CHECK(pg_numeric(t), "numeric text PostgreSQL would reject");
        break;
      case column_type::date:
        FUZZ_CHECK(pg_date(t), "date text PostgreSQL would reject");
        break;
      case column_type::timestamptz:
        FUZZ_CHECK(pg_timestamp(t), "timestamp text PostgreSQL would reject");
        break;
      case column_type::boolean:
        FUZZ_CHECK(t == "true" || t == "false", "boolean text that is not true/false");
        break;
      case column_type::text_array:
        FUZZ_CHECK(parse_array(t).has_value(), "a text[] literal that does not parse");
        break;
      case column_type::text:
        if (value.is_string())
          FUZZ_CHECK(t == without_nul(value.get_ref<const std::string&>()), "text changed on the way in");
        break;
    }
    // Back towards Vtiger (what the outbox would hold is close enough to the column text for these types).
    if (type == column_type::text) {
      const json back = to_vtiger_value(type, json(t));
      FUZZ_CHECK(back.is_string() && back.get<std::string>() == t, "text did not round-trip");
    }
  } else if (value.is_string() && type == column_type::text) {
    FUZZ_CHECK(false, "a string in a text column became NULL");
  }

  // Anything the outbox can hold maps to a JSON string Vtiger accepts (text[] as "A |##| B": a JSON array
  // would keep only its first value), and a multipicklist's pieces come back from it unchanged.
  const json out = to_vtiger_value(type, value);
  FUZZ_CHECK(out.is_string(), "to_vtiger_value shape");
  if (type == column_type::text_array && value.is_string()) {
    // (A piece holding "|##|" itself, possible once NULs are dropped, has no encoding in Vtiger's form.)
    const auto pieces = split_multipicklist(value.get<std::string>());
    if (std::none_of(pieces.begin(), pieces.end(),
                     [](const std::string& p) { return p.find("|##|") != std::string::npos; }))
      FUZZ_CHECK(split_multipicklist(out.get<std::string>()) == pieces,
                 "multipicklist pieces changed on the way out");
  }

  const auto pieces = split_multipicklist(raw);
  for (const auto& p : pieces) FUZZ_CHECK(!p.empty() && p.find('\0') == std::string::npos, "bad piece");
  const auto literal = text_array_literal(pieces);
  const auto parsed = parse_array(literal);
  FUZZ_CHECK(parsed && *parsed == pieces, "text_array_literal does not parse back to its elements");

  const std::string ident = quote_ident(raw);
  FUZZ_CHECK(ident.size() >= 2 && ident.front() == '"' && ident.back() == '"', "quote_ident not quoted");
  std::string inner;
  for (std::size_t i = 1; i + 1 < ident.size(); ++i) {
    if (ident[i] == '"') {
      FUZZ_CHECK(i + 2 < ident.size() && ident[i + 1] == '"', "a lone quote inside a quoted identifier");
      ++i;
    }
    FUZZ_CHECK(ident[i] != '\0', "NUL in an identifier");
    inner += ident[i];
  }
  FUZZ_CHECK(inner == without_nul(raw), "quote_ident changed the name");

  if (const auto n = vtiger_id_number(raw)) FUZZ_CHECK(*n >= 0, "a negative id number");
  return 0;
}

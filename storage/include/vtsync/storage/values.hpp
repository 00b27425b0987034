#pragma once
// Conversions between Vtiger's web-service values and the mirror's PostgreSQL column values.
//
// Error policy: pure functions. They never throw on any input (apart from std::bad_alloc), so they can be
// fuzzed: a value that does not fit its column type becomes NULL and is reported as `malformed`, it never
// stops a page from being stored. Nothing here talks to PostgreSQL.
//
// Mapping (CONTRACT.md, "The mirror in PostgreSQL"):
//   Vtiger type             column          Vtiger -> column                      column -> Vtiger
//   date                    date            "YYYY-MM-DD"; "", null, 0000-00-00    "YYYY-MM-DD"; NULL -> ""
//                                           -> NULL
//   datetime                timestamptz     "YYYY-MM-DD HH:MM:SS" in the Vtiger    "YYYY-MM-DD HH:MM:SS" in
//   the
//                                           server's zone (the zone is applied in  server's zone (shifted in
//                                           SQL: ($text)::timestamp AT TIME ZONE)  SQL, formatted here)
//   boolean                 boolean         "1"/"0" (also true/false/on/off/yes/   "1"/"0"; NULL -> ""
//                                           no); "" -> NULL
//   integer                 bigint          decimal digits; "" -> NULL             plain decimal string
//   double, currency        numeric         plain or exponent decimal; "" -> NULL  plain decimal string
//   multipicklist           text[]          "A |##| B" -> {A,B}; "" -> {}          JSON array ["A","B"]
//   everything else         text            as sent ("" stays ""), NUL bytes       as stored; NULL -> ""
//   (string, reference "12x7", owner, ...)  removed (PostgreSQL text cannot
//                                           hold them)
//   any type: JSON null -> NULL.
#include "vtsync/common/flat_record.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

enum class column_type { text, date, timestamptz, boolean, bigint, numeric, text_array };

// The column type for a describe field's `type.name` (unknown names map to text).
[[nodiscard]] column_type column_type_for(std::string_view vtiger_type_name) noexcept;

// The SQL type as written in DDL ("timestamptz", "text[]", ...).
[[nodiscard]] std::string_view sql_type_name(column_type type) noexcept;

// The column type for PostgreSQL's format_type() spelling ("timestamp with time zone", "text[]", ...);
// nullopt for a type the mirror never creates.
[[nodiscard]] std::optional<column_type> column_type_from_sql(std::string_view format_type) noexcept;

// One column value in PostgreSQL's text input form (nullopt = NULL). For timestamptz the text is the
// wall-clock time "YYYY-MM-DD HH:MM:SS" without a zone: the caller applies the Vtiger server's zone.
struct column_value {
  std::optional<std::string> text;
  bool malformed = false;  // the Vtiger value did not fit the type and was stored as NULL

  friend bool operator==(const column_value&, const column_value&) = default;
};

// A Vtiger value (a JSON string as Vtiger sends it, or null; numbers and booleans are accepted too).
[[nodiscard]] column_value to_column_value(column_type type, const nlohmann::json& vtiger_value);
// The same for a value Vtiger sent as a JSON string (`text`, decoded).
[[nodiscard]] column_value string_to_column_value(column_type type, std::string text);
// The same for a field of a flat record.
[[nodiscard]] column_value to_column_value(column_type type, const flat_value& vtiger_value);

// A JSON object as a flat record (fields sorted, as the object's keys); anything else gives no fields.
[[nodiscard]] flat_record to_flat_record(const nlohmann::json& object);

// The value to send to Vtiger for a column value given in its to_jsonb() form (what the outbox stores),
// with timestamptz values already shifted into the server's zone as "YYYY-MM-DD HH:MM:SS" (or ISO
// "YYYY-MM-DDTHH:MM:SS[.ffffff]"). A JSON string for every type, except text[] -> a JSON array of strings.
// Vtiger clears a field when it gets "", so NULL becomes "" (text[] NULL -> []).
[[nodiscard]] nlohmann::json to_vtiger_value(column_type type, const nlohmann::json& column_json);

// Vtiger's multipicklist encoding: values joined by " |##| ". Pieces are trimmed of spaces; empty pieces
// are dropped.
[[nodiscard]] std::vector<std::string> split_multipicklist(std::string_view value);

// A PostgreSQL array literal ({"a","b\"c"}) for text[] input; every element is quoted and escaped.
[[nodiscard]] std::string text_array_literal(const std::vector<std::string>& elements);

// Appends one field in COPY's text format: backslash, tab, newline and carriage return escaped, NUL dropped
// (PostgreSQL text cannot hold it), NULL as \N.
void append_copy_field(std::string& out, const std::optional<std::string>& value);

// `value` as compact JSON text, exactly as value.dump(-1, ' ', false, error_handler_t::replace) writes it
// (keys sorted, non-ASCII kept as UTF-8, invalid UTF-8 replaced). Objects of strings and nulls (every
// record Vtiger sends) are written by a loop of our own, several times faster than nlohmann's serializer,
// which validates UTF-8 byte by byte; anything else goes to dump().
[[nodiscard]] std::string compact_json(const nlohmann::json& value);
// A flat record as compact JSON: exactly compact_json() of the object it stands for.
[[nodiscard]] std::string compact_json(const flat_record& record);

// An SQL identifier in double quotes, inner quotes doubled: any name (quotes, semicolons, spaces) is
// safe to splice into SQL text after this. NUL bytes cannot be represented and are removed.
[[nodiscard]] std::string quote_ident(std::string_view name);

// The numeric part of a web-service id ("12x87" -> 87); nullopt when it is not of that shape.
[[nodiscard]] std::optional<std::int64_t> vtiger_id_number(std::string_view vtiger_id) noexcept;

}  // namespace vtsync::storage

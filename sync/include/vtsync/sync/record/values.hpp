#pragma once
// Vtiger's values and the mirror's column values, both ways, and the few rules of Vtiger's record format
// that the engine needs (ids, multipicklists, the canonical record text kept in _sync_base). The one home of
// these rules: storage stores column values in PostgreSQL's text form and knows nothing of Vtiger.
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
//                                           server's zone (storage applies the     the server's zone
//                                           zone: state_options.vtiger_timezone)   (shifted by storage)
//   boolean                 boolean         "1"/"0" (also true/false/on/off/yes/   "1"/"0"; NULL -> ""
//                                           no); "" -> NULL
//   integer                 bigint          decimal digits; "" -> NULL             plain decimal string
//   double, currency        numeric         plain or exponent decimal; "" -> NULL  plain decimal string
//   multipicklist           text[]          "A |##| B" -> {A,B}; "" -> {}          "A |##| B"; NULL -> ""
//   everything else         text            as sent ("" stays ""), NUL bytes       as stored; NULL -> ""
//   (string, reference "12x7", owner, ...)  removed (PostgreSQL text cannot
//                                           hold them)
//   any type: JSON null -> NULL.
#include "vtsync/storage/columns.hpp"
#include "vtsync/sync/record/flat_record.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::record {

using storage::column_type;

// The column type for a describe field's `type.name` (unknown names map to text).
[[nodiscard]] column_type column_type_for(std::string_view vtiger_type_name) noexcept;

// One column value in PostgreSQL's text input form (nullopt = NULL). For timestamptz the text is the
// wall-clock time "YYYY-MM-DD HH:MM:SS" without a zone: storage applies the Vtiger server's zone.
struct column_value {
  std::optional<std::string> text;
  bool malformed = false;  // the Vtiger value did not fit the type and was stored as NULL

  friend bool operator==(const column_value&, const column_value&) = default;
};

// A field of a record as the column value of `type`.
[[nodiscard]] column_value to_column_value(column_type type, const flat_value& vtiger_value);

// A JSON value as a record's field value, and a JSON object as a record (fields sorted, as the object's
// keys; anything else gives no fields): for the answers that are not query pages (retrieve, create, ...).
[[nodiscard]] flat_value to_flat_value(const nlohmann::json& value);
[[nodiscard]] flat_record to_flat_record(const nlohmann::json& object);

// The value to send to Vtiger for a column value given in its to_jsonb() form (what the outbox and
// storage's row reads give), with timestamptz values already shifted into the server's zone as
// "YYYY-MM-DD HH:MM:SS" (or ISO "YYYY-MM-DDTHH:MM:SS[.ffffff]"). A JSON string for every type, except
// text[] -> a JSON array of strings. Vtiger clears a field when it gets "", so NULL becomes "" (text[] NULL
// -> []).
[[nodiscard]] nlohmann::json to_vtiger_value(column_type type, const nlohmann::json& column_json);

// Vtiger's multipicklist encoding: values joined by " |##| ". Pieces are trimmed of spaces; empty pieces
// are dropped.
[[nodiscard]] std::vector<std::string> split_multipicklist(std::string_view value);

// The numeric part of a web-service id ("12x87" -> 87); nullopt when it is not of that shape.
[[nodiscard]] std::optional<std::int64_t> vtiger_id_number(std::string_view vtiger_id) noexcept;

// The record as _sync_base holds it: compact JSON text with the keys sorted, byte for byte what nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) writes for the object (invalid UTF-8 replaced), NUL
// characters dropped (PostgreSQL text cannot hold them). Equal records give equal text, so the pull of a
// record the push just wrote back finds it unchanged. Records of strings and nulls (every record Vtiger
// sends) are written by a loop of our own, several times faster than nlohmann's serializer.
[[nodiscard]] std::string base_text(const flat_record& record);

}  // namespace vtsync::record

#pragma once
// Private helpers that build SQL text for the storage library. Only identifiers (quote_ident) and
// constant literals we control reach SQL text; every value travels as a parameter.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage::detail {

// The internal columns every mirror table has, besides the Vtiger fields.
inline constexpr std::string_view internal_columns[] = {"_row_id", "vtiger_id", "_sync_state", "_sync_error",
                                                        "_sync_base"};

[[nodiscard]] bool is_internal_name(std::string_view name) noexcept;

// A string literal for SQL text ('' doubled; the session has standard_conforming_strings on, so a
// backslash is an ordinary character). Used only for names in DDL, never for data.
[[nodiscard]] std::string quote_literal(std::string_view text);

// A stable advisory-lock key for a name (FNV-1a 64, as a signed bigint).
[[nodiscard]] std::int64_t lock_key(std::string_view name) noexcept;

// "<alias>.vtiger_id, <converted data columns...>, <alias>._sync_base" matching column_list(); `zone` is
// an SQL expression for the Vtiger server's zone, e.g. "z.zone".
[[nodiscard]] std::string converted_columns(const mirror_table& table, std::string_view alias,
                                            std::string_view zone);
// "vtiger_id, <data columns...>, _sync_base", quoted.
[[nodiscard]] std::string column_list(const mirror_table& table, std::string_view prefix = {});

// A PostgreSQL array literal with NULL elements ({"a",NULL}).
[[nodiscard]] std::string array_literal(const std::vector<std::optional<std::string>>& elements);

// Rows in COPY text format, one line per row: vtiger_id, the data columns, _sync_base and
// _sync_state 'synced' (the columns of copy_column_list()). Backslash, tab, newline and carriage return are
// escaped, NUL dropped, NULL is \N.
[[nodiscard]] std::string copy_rows(const row_batch& rows);
// "vtiger_id, <data columns...>, _sync_base, _sync_state", quoted: the columns of copy_rows().
[[nodiscard]] std::string copy_column_list(const mirror_table& table);

// The rows of a batch as a row source for SQL: ROWS FROM (unnest($1::text[]), unnest($3::text[]), ...)
// AS r(vtiger_id, _sync_base, <columns>), with $2 the Vtiger server's zone. Column-major parameters, one
// text[] per column unnested side by side: much cheaper for the server than a JSON document per page (no
// per-row object lookups), and ROWS FROM has no limit on columns. The pull's upsert and the push's
// write-back both read their rows from it, so both convert values in the same way (converted_columns).
[[nodiscard]] std::string rows_source(const mirror_table& table);
// The parameters of rows_source() ($1 .. $<columns + 3>).
[[nodiscard]] std::vector<param> rows_params(const row_batch& rows, const std::string& zone);

// The number of a Vtiger id column ('12x345' -> 345) as a bigint SQL expression (NULL when malformed).
[[nodiscard]] std::string id_number_of(std::string_view column);

// A bigint column's text as an integer (0 for "", i.e. NULL).
[[nodiscard]] std::int64_t to_i64(std::string_view text);
// A json/jsonb column's text as JSON (null for "", i.e. NULL).
[[nodiscard]] nlohmann::json parse_json(std::string_view text);

// JSON text for a parameter: never throws on invalid UTF-8 (it is replaced), which PostgreSQL would reject.
[[nodiscard]] std::string to_param(const nlohmann::json& value);

}  // namespace vtsync::storage::detail

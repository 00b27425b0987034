#pragma once
// The mirror's column types and column values as storage writes them: PostgreSQL's text input form, a
// row batch in column-major order (what mirror_rows::store_page COPYs or upserts, and what the push writes
// back), and the few escapers that put names and values into SQL and COPY text. Storage knows no Vtiger: the
// conversion of Vtiger's values into these texts lives in sync/record (values.hpp, table.hpp).
//
// Error policy: pure functions; nothing here throws (apart from std::bad_alloc) or talks to PostgreSQL.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

enum class column_type { text, date, timestamptz, boolean, bigint, numeric, text_array };

// The SQL type as written in DDL ("timestamptz", "text[]", ...).
[[nodiscard]] std::string_view sql_type_name(column_type type) noexcept;

// The column type for PostgreSQL's format_type() spelling ("timestamp with time zone", "text[]", ...);
// nullopt for a type the mirror never creates.
[[nodiscard]] std::optional<column_type> column_type_from_sql(std::string_view format_type) noexcept;

// Rows of one mirror table in column-major form, every value in PostgreSQL's text input form (nullopt =
// NULL); a timestamptz is the wall-clock time "YYYY-MM-DD HH:MM:SS" in the Vtiger server's zone
// (state_options::vtiger_timezone), which storage applies. `columns` follows mirror_table::columns.
struct row_batch {
  std::vector<std::optional<std::string>> vtiger_ids;
  std::vector<std::optional<std::string>> bases;  // _sync_base: the record's canonical text
  std::vector<std::vector<std::optional<std::string>>> columns;
  std::size_t malformed = 0;  // values that did not fit their column and are NULL

  [[nodiscard]] std::size_t size() const noexcept { return vtiger_ids.size(); }
  [[nodiscard]] bool empty() const noexcept { return vtiger_ids.empty(); }
};

// A PostgreSQL array literal ({"a","b\"c"}) for text[] input; every element is quoted and escaped.
[[nodiscard]] std::string text_array_literal(const std::vector<std::string>& elements);

// Appends one field in COPY's text format: backslash, tab, newline and carriage return escaped, NUL dropped
// (PostgreSQL text cannot hold it), NULL as \N.
void append_copy_field(std::string& out, const std::optional<std::string>& value);

// An SQL identifier in double quotes, inner quotes doubled: any name (quotes, semicolons, spaces) is
// safe to splice into SQL text after this. NUL bytes cannot be represented and are removed.
[[nodiscard]] std::string quote_ident(std::string_view name);

}  // namespace vtsync::storage

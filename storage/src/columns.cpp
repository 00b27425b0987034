#include "vtsync/storage/columns.hpp"

#include "vtsync/common/escape.hpp"

namespace vtsync::storage {

std::string_view sql_type_name(column_type type) noexcept {
  switch (type) {
    case column_type::date:
      return "date";
    case column_type::timestamptz:
      return "timestamptz";
    case column_type::boolean:
      return "boolean";
    case column_type::bigint:
      return "bigint";
    case column_type::numeric:
      return "numeric";
    case column_type::text_array:
      return "text[]";
    case column_type::text:
      break;
  }
  return "text";
}

std::optional<column_type> column_type_from_sql(std::string_view t) noexcept {
  if (t == "text") return column_type::text;
  if (t == "date") return column_type::date;
  if (t == "timestamp with time zone" || t == "timestamptz") return column_type::timestamptz;
  if (t == "boolean") return column_type::boolean;
  if (t == "bigint") return column_type::bigint;
  if (t == "numeric") return column_type::numeric;
  if (t == "text[]") return column_type::text_array;
  return std::nullopt;
}

std::string text_array_literal(const std::vector<std::string>& elements) {
  std::string out = "{";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : elements[i]) {
      if (c == '\0') continue;
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string quote_ident(std::string_view name) { return quote_with(name, '"'); }

void append_copy_field(std::string& out, const std::optional<std::string>& value) {
  // COPY's text format: backslash, tab, newline and carriage return escaped; NUL dropped, as PostgreSQL
  // text cannot hold it.
  static constexpr escape_table copy_escapes =
      make_escape_table({{'\\', "\\\\"}, {'\t', "\\t"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\0', ""}});
  if (!value) {
    out += "\\N";
    return;
  }
  append_escaped(out, *value, copy_escapes);
}

}  // namespace vtsync::storage

#include "vtsync/storage/columns.hpp"

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

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '\0') continue;
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

void append_copy_field(std::string& out, const std::optional<std::string>& value) {
  if (!value) {
    out += "\\N";
    return;
  }
  const char* run = value->data();
  const char* const end = run + value->size();
  for (const char* p = run; p != end; ++p) {
    const char c = *p;
    if (c != '\\' && c != '\t' && c != '\n' && c != '\r' && c != '\0') continue;
    out.append(run, p);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        break;  // NUL: dropped, as PostgreSQL text cannot hold it
    }
    run = p + 1;
  }
  out.append(run, end);
}

}  // namespace vtsync::storage

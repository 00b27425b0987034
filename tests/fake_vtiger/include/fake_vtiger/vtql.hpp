#pragma once
// VTQL, Vtiger's query language, parsed the way Vtiger 8.2 parses it (vtiger-webservice.md §12): required
// ";", no parentheses, one sort direction attached to the last ORDER BY column, LIMIT capped at 100, MySQL
// backslash escapes inside single-quoted literals, '' and "..." rejected by the lexer.
//
// Error policy: parse_vtql never throws for bad input; it returns a vtql_error carrying the Vtiger error
// code and message the real server answers with.
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vtsync::fake {

enum class vtql_op { eq, ne, lt, gt, le, ge, like, in };

struct vtql_value {
  enum class kind { quoted, word, number };
  kind type = kind::quoted;
  std::string text;  // quoted: after MySQL unescaping (LIKE's \% and \_ kept); word/number: as written
};

struct vtql_predicate {
  std::string field;
  vtql_op op = vtql_op::eq;
  std::vector<vtql_value> values;  // one, or several for IN
};

struct vtql_query {
  enum class select_kind { star, count, columns };
  select_kind select = select_kind::star;
  std::vector<std::string> columns;
  std::string module;
  // OR of AND-groups: AND binds tighter than OR, as in the SQL Vtiger generates.
  std::vector<std::vector<vtql_predicate>> where;
  std::vector<std::string> order_by;
  bool order_desc = false;  // applies to the last ORDER BY column only
  long long offset = 0;
  long long limit = 100;  // already capped at 100; a missing LIMIT is 100
};

struct vtql_error {
  std::string code;
  std::string message;
};

// Vtiger finds the module by the first "from" followed by whitespace and a word, before parsing.
// nullopt: no such word ("Permission to perform the operation is denied for query").
[[nodiscard]] std::optional<std::string> vtql_detect_module(std::string_view query);

[[nodiscard]] std::variant<vtql_query, vtql_error> parse_vtql(std::string_view query);

}  // namespace vtsync::fake

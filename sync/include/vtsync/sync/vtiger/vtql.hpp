#pragma once
// VTQL, Vtiger's query language: literal quoting, a small SELECT builder and the keyset page queries.
//
// Vtiger copies a quoted value verbatim into MySQL with backslash escapes active, so a literal is written
// in single quotes with every ' and every \ doubled (vtiger-webservice.md §12.2). The lexer rejects the empty
// literal '' outright, so a query comparing with "" cannot be written: that is a value (std::nullopt), not
// an error. There is no NOT, no IS NULL and no parentheses; AND binds tighter than OR.
//
// Error policy: quote_literal and select_query::str() return std::nullopt for what VTQL cannot express (an
// empty literal). A malformed identifier (module or field name not made of ASCII letters, digits and _), an
// unknown operator or an empty cursor value is a programming error: std::invalid_argument.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::vtiger::vtql {

// 'O''Brien', 'a\\b'; std::nullopt for "".
[[nodiscard]] std::optional<std::string> quote_literal(std::string_view value);

// Field and module names: [A-Za-z0-9_]+.
[[nodiscard]] bool is_identifier(std::string_view name);

// Vtiger caps every page at 100 rows, whatever LIMIT says.
inline constexpr std::size_t max_page_size = 100;

class select_query {
 public:
  // An empty column list selects "*".
  explicit select_query(const std::string& module, const std::vector<std::string>& columns = {});

  // Conditions are joined in the order given; `op` is one of = < > <= >= != LIKE.
  select_query& where(std::string_view field, std::string_view op, std::string_view value);
  select_query& and_where(std::string_view field, std::string_view op, std::string_view value);
  select_query& or_where(std::string_view field, std::string_view op, std::string_view value);
  select_query& where_in(std::string_view field, const std::vector<std::string>& values);
  // VTQL has one sort direction, attached to the last column only.
  select_query& order_by(const std::vector<std::string>& fields, bool descending = false);
  select_query& limit(std::size_t count);
  select_query& limit(std::size_t offset, std::size_t count);

  // The statement with its trailing ';', or std::nullopt when a literal was empty.
  [[nodiscard]] std::optional<std::string> str() const;

 private:
  select_query& add(std::string_view joiner, std::string_view field, std::string_view op,
                    std::string_view value);
  std::string head_;
  std::string where_;
  std::string tail_order_;
  std::string tail_limit_;
  bool unexpressible_ = false;
};

// The position after the last row of a page ordered by (modifiedtime, id).
struct modified_cursor {
  std::string modifiedtime;  // "2024-05-01 10:00:00"
  std::string id;            // "12x87"
};

// Keyset paging on (modifiedtime, id). First page: no WHERE (or `modifiedtime >= since`), then
//   SELECT <cols> FROM M WHERE modifiedtime > 'T' OR modifiedtime = 'T' AND id > 'NxY'
//   ORDER BY modifiedtime, id LIMIT 100;
// An explicit column list gets modifiedtime added when missing (the cursor needs it; id is always added
// by Vtiger).
[[nodiscard]] std::string modified_page(std::string_view module, const std::vector<std::string>& columns,
                                        const std::optional<modified_cursor>& after,
                                        std::size_t limit = max_page_size);
[[nodiscard]] std::string modified_since_page(std::string_view module,
                                              const std::vector<std::string>& columns, std::string_view since,
                                              std::size_t limit = max_page_size);

// Keyset paging on id: SELECT <cols> FROM M [WHERE id > 'NxY'] ORDER BY id LIMIT 100;
[[nodiscard]] std::string id_page(std::string_view module, const std::vector<std::string>& columns,
                                  const std::optional<std::string>& after_id,
                                  std::size_t limit = max_page_size);

// `statement` (a SELECT as the functions above write it, ending in ';') limited to the rows that also
// match `condition` (a module's filter, checked by config: no parentheses, no ';'). VTQL has no
// parentheses, so the AND is distributed over the ORs of both sides (AND binds tighter than OR):
//   WHERE a OR b AND c  with  x = 1 OR y = 2   ->   WHERE a AND x = 1 OR a AND y = 2 OR b AND c AND x = 1 OR
//   b AND c AND y = 2
// Keywords and quoted values are told apart as Vtiger's lexer does (quotes with '' and backslash escapes).
// An empty condition returns the statement unchanged.
[[nodiscard]] std::string and_condition(std::string_view statement, std::string_view condition);

}  // namespace vtsync::vtiger::vtql

// libFuzzer target: VTQL literal quoting (sync/src/vtiger/vtql.cpp), checked against an independent
// reference grammar: the fake Vtiger's VTQL parser (tests/fake_vtiger/src/vtql.cpp), which lexes the way
// Vtiger 8.2 and MySQL do.
//
// Input: byte 0 picks the shape (one comparison, IN list, keyset cursor); the rest is split at 0xff bytes
// into values. Every non-empty value must come back from the parser exactly as given, in its own
// predicate, with nothing injected (one module, the predicates the builder wrote, nothing more).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fake_vtiger/vtql.hpp"
#include "fuzz_check.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtql = vtsync::vtiger::vtql;
using vtsync::fake::parse_vtql;
using vtsync::fake::vtql_detect_module;
using vtsync::fake::vtql_query;

namespace {

// By value: the variant parse_vtql returns is a temporary.
vtql_query parsed_or_die(const std::variant<vtql_query, vtsync::fake::vtql_error>& r, const std::string& q) {
  if (const auto* err = std::get_if<vtsync::fake::vtql_error>(&r)) {
    std::fprintf(stderr, "query rejected: %s: %s\n  %s\n", err->code.c_str(), err->message.c_str(),
                 q.c_str());
    FUZZ_CHECK(false, "the reference parser rejected a query the builder produced");
  }
  return std::get<vtql_query>(r);
}

void check_value(const vtsync::fake::vtql_value& v, const std::string& expected) {
  FUZZ_CHECK(v.type == vtsync::fake::vtql_value::kind::quoted,
             "a value did not come back as a quoted literal");
  FUZZ_CHECK(v.text == expected, "a value came back different from what was quoted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::vector<std::string> values;
  std::string current;
  for (std::size_t i = 1; i < size; ++i) {
    if (data[i] == 0xff) {
      values.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  values.push_back(current);

  // quote_literal on its own: nullopt exactly for "".
  for (const auto& v : values) {
    const auto q = vtql::quote_literal(v);
    FUZZ_CHECK(q.has_value() == !v.empty(), "quote_literal refused a value or quoted an empty one");
  }

  switch (mode % 3) {
    case 0: {  // lastname = 'v0' OR email LIKE 'v1' AND ...
      static constexpr std::string_view ops[] = {"=", "!=", "<", ">", "<=", ">=", "LIKE", "like"};
      vtql::select_query sq("Contacts", {"lastname", "email"});
      for (std::size_t i = 0; i < values.size(); ++i) {
        const auto op = ops[(mode / 3 + i) % 8];
        if (i == 0)
          sq.where("lastname", op, values[i]);
        else if (i % 2)
          sq.or_where("email", op, values[i]);
        else
          sq.and_where("lastname", op, values[i]);
      }
      sq.order_by({"lastname"}, mode & 0x80).limit(mode, 100);
      const auto q = sq.str();
      bool any_empty = false;
      for (const auto& v : values) any_empty = any_empty || v.empty();
      FUZZ_CHECK(q.has_value() == !any_empty, "str() expressible iff no value is empty");
      if (!q) return 0;
      FUZZ_CHECK(vtql_detect_module(*q) == std::optional<std::string>("Contacts"), "module detection moved");
      const auto parsed = parsed_or_die(parse_vtql(*q), *q);
      FUZZ_CHECK(parsed.module == "Contacts", "wrong module");
      std::vector<const vtsync::fake::vtql_predicate*> preds;
      for (const auto& group : parsed.where)
        for (const auto& p : group) preds.push_back(&p);
      FUZZ_CHECK(preds.size() == values.size(), "the number of predicates changed: injection");
      // AND binds tighter: group boundaries follow the ORs, so the flattened order is the builder's.
      for (std::size_t i = 0; i < values.size(); ++i) {
        FUZZ_CHECK(preds[i]->values.size() == 1, "a comparison with more than one value");
        FUZZ_CHECK(preds[i]->field == (i % 2 ? "email" : "lastname"), "a predicate on another field");
        check_value(preds[i]->values[0], values[i]);
      }
      FUZZ_CHECK(parsed.where.size() == 1 + values.size() / 2, "OR groups changed: injection");
      break;
    }
    case 1: {  // id IN ('v0', 'v1', ...)
      vtql::select_query sq("Accounts");
      sq.where_in("id", values);
      const auto q = sq.str();
      if (!q) return 0;
      const auto parsed = parsed_or_die(parse_vtql(*q), *q);
      FUZZ_CHECK(parsed.module == "Accounts" && parsed.where.size() == 1 && parsed.where[0].size() == 1,
                 "IN query shape changed: injection");
      const auto& p = parsed.where[0][0];
      FUZZ_CHECK(p.op == vtsync::fake::vtql_op::in && p.values.size() == values.size(), "IN list changed");
      for (std::size_t i = 0; i < values.size(); ++i) check_value(p.values[i], values[i]);
      break;
    }
    default: {  // the keyset page: modifiedtime > 't' OR modifiedtime = 't' AND id > 'i'
      const std::string t = values[0];
      const std::string id = values.size() > 1 ? values[1] : std::string("12x1");
      if (t.empty() || id.empty()) return 0;
      const auto q = vtql::modified_page("Leads", {}, vtql::modified_cursor{t, id}, 100);
      const auto parsed = parsed_or_die(parse_vtql(q), q);
      FUZZ_CHECK(parsed.module == "Leads" && parsed.where.size() == 2 && parsed.where[0].size() == 1 &&
                     parsed.where[1].size() == 2,
                 "keyset condition shape changed: injection");
      check_value(parsed.where[0][0].values.at(0), t);
      check_value(parsed.where[1][0].values.at(0), t);
      check_value(parsed.where[1][1].values.at(0), id);
      FUZZ_CHECK(parsed.order_by.size() == 2 && parsed.limit == 100, "ORDER BY / LIMIT changed");
      break;
    }
  }
  return 0;
}

// Needs: nothing (unit). The VTQL parser against the grammar and quirks of vtiger-webservice.md §12.
#include <gtest/gtest.h>

#include "fake_vtiger/vtql.hpp"

namespace {

using namespace vtsync::fake;

vtql_query ok(std::string_view q) {
  auto r = parse_vtql(q);
  if (auto* e = std::get_if<vtql_error>(&r)) ADD_FAILURE() << q << " -> " << e->code << ": " << e->message;
  return std::get_if<vtql_query>(&r) ? std::get<vtql_query>(r) : vtql_query{};
}

vtql_error bad(std::string_view q) {
  auto r = parse_vtql(q);
  if (std::holds_alternative<vtql_query>(r)) {
    ADD_FAILURE() << q << " parsed";
    return {};
  }
  return std::get<vtql_error>(r);
}

TEST(Vtql, SemicolonIsRequired) {
  const auto e = bad("SELECT id FROM Contacts");
  EXPECT_EQ(e.code, "QUERY_SYNTAX_ERROR");
  EXPECT_EQ(
      e.message,
      "Syntax Error on line 1: token 'Contacts' Unexpected End of Input(0), expected one of: SEMICOLON");
}

TEST(Vtql, OffsetKeywordAndParenthesesAreSyntaxErrors) {
  EXPECT_EQ(bad("SELECT id FROM Contacts LIMIT 10 OFFSET 20;").message,
            "Syntax Error on line 1: token 'OFFSET' Unexpected VALUE(OFFSET), expected one of: SEMICOLON");
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE a > '1' OR (a = '1' AND id > '12x1');").message,
            "Syntax Error on line 1: token '(' Unexpected PARENOPEN((), expected one of: SEMICOLON");
  EXPECT_EQ(bad("SELECT id FROM Contacts ORDER BY a DESC, b;").code, "QUERY_SYNTAX_ERROR");
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE a <> 'x';").code, "QUERY_SYNTAX_ERROR");
}

TEST(Vtql, LimitIsCappedAt100AndDefaultsTo100) {
  EXPECT_EQ(ok("SELECT * FROM Contacts;").limit, 100);
  EXPECT_EQ(ok("select * from Contacts limit 500;").limit, 100);
  const auto q = ok("SELECT id FROM Contacts LIMIT 200, 5000;");
  EXPECT_EQ(q.offset, 200);
  EXPECT_EQ(q.limit, 100);
  EXPECT_EQ(bad("SELECT id FROM Contacts LIMIT -1;").code, "DATABASE_QUERY_ERROR");
}

TEST(Vtql, AndBindsTighterThanOr) {
  const auto q =
      ok("SELECT id FROM Contacts WHERE modifiedtime > 'X' OR modifiedtime = 'X' AND id > '12x5';");
  ASSERT_EQ(q.where.size(), 2u);
  EXPECT_EQ(q.where[0].size(), 1u);
  EXPECT_EQ(q.where[1].size(), 2u);
  EXPECT_EQ(q.where[1][1].field, "id");
  EXPECT_EQ(q.where[1][1].op, vtql_op::gt);
}

TEST(Vtql, OrderByDirectionAttachesToTheLastColumn) {
  const auto q = ok("SELECT id FROM Contacts ORDER BY modifiedtime, id DESC;");
  ASSERT_EQ(q.order_by.size(), 2u);
  EXPECT_TRUE(q.order_desc);
}

TEST(Vtql, LiteralsFollowMysqlEscapes) {
  const auto q = ok(
      R"(SELECT id FROM Contacts WHERE lastname = 'O''Brien' OR lastname = 'a\\b\nc\'d' OR a LIKE '50\%';)");
  EXPECT_EQ(q.where[0][0].values[0].text, "O'Brien");
  EXPECT_EQ(q.where[1][0].values[0].text, "a\\b\nc'd");
  EXPECT_EQ(q.where[2][0].values[0].text, "50\\%");  // LIKE keeps \% as a literal percent
  EXPECT_EQ(ok("SELECT id FROM Contacts WHERE lastname = '''';").where[0][0].values[0].text, "'");
}

TEST(Vtql, EmptyAndDoubleQuotedLiteralsFailInTheLexer) {
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE lastname = '';").code, "INTERNAL_SERVER_ERROR");
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE lastname = \"x\";").code, "INTERNAL_SERVER_ERROR");
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE amount = 1.5;").code, "INTERNAL_SERVER_ERROR");
  EXPECT_EQ(bad("SELECT id FROM Contacts WHERE lastname = 'a\\';").code, "DATABASE_QUERY_ERROR");
}

TEST(Vtql, InListsAndCount) {
  const auto q = ok("SELECT count(*) FROM Contacts WHERE id IN ('12x1', '12x2', 12x3);");
  EXPECT_EQ(q.select, vtql_query::select_kind::count);
  ASSERT_EQ(q.where[0][0].values.size(), 3u);
  EXPECT_EQ(q.where[0][0].values[2].type, vtql_value::kind::word);
}

TEST(Vtql, ModuleDetectionUsesTheFirstFrom) {
  EXPECT_EQ(vtql_detect_module("SELECT * FROM Contacts;").value_or(""), "Contacts");
  EXPECT_FALSE(vtql_detect_module("SELEC * FRM Contacts;").has_value());
  EXPECT_EQ(vtql_detect_module("select x from\tLeads where a='from x';").value_or(""), "Leads");
}

}  // namespace

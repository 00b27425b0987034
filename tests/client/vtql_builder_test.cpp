// Needs: nothing (VTQL text building).
#include <gtest/gtest.h>

#include "vtsync/sync/vtiger/vtql.hpp"

using namespace vtsync::vtiger::vtql;

TEST(VtqlBuilder, QuotesEveryLiteral) {
  auto q = select_query("Contacts", {"id", "lastname"})
               .where("lastname", "=", "O'Brien \\ 100%")
               .or_where("email", "like", "%@example.com")
               .order_by({"lastname", "id"}, true)
               .limit(10, 100)
               .str();
  ASSERT_TRUE(q);
  EXPECT_EQ(
      *q,
      "SELECT id, lastname FROM Contacts WHERE lastname = 'O''Brien \\\\ 100%' OR email LIKE '%@example.com' "
      "ORDER BY lastname, id DESC LIMIT 10, 100;");
  EXPECT_EQ(select_query("Accounts").str(), "SELECT * FROM Accounts;");
  EXPECT_EQ(select_query("Contacts", {"id"}).where_in("id", {"12x1", "12x2"}).limit(5).str(),
            "SELECT id FROM Contacts WHERE id IN ('12x1', '12x2') LIMIT 5;");
}

TEST(VtqlBuilder, EmptyLiteralCannotBeExpressed) {
  EXPECT_EQ(select_query("Contacts").where("lastname", "=", "").str(), std::nullopt);
  EXPECT_EQ(select_query("Contacts").where_in("id", {"12x1", ""}).str(), std::nullopt);
  EXPECT_EQ(quote_literal(""), std::nullopt);
}

TEST(VtqlBuilder, RejectsInjectedIdentifiersAndOperators) {
  EXPECT_THROW(select_query("Contacts; DROP"), std::invalid_argument);
  EXPECT_THROW(select_query("Contacts", {"id, lastname"}), std::invalid_argument);
  EXPECT_THROW(select_query("Contacts").where("lastname", "= 'x' OR 1", "y"), std::invalid_argument);
  EXPECT_THROW(select_query("Contacts").where("last name", "=", "y"), std::invalid_argument);
  EXPECT_TRUE(is_identifier("cf_901"));
  EXPECT_FALSE(is_identifier(""));
  EXPECT_FALSE(is_identifier("a.b"));
}

TEST(VtqlKeyset, ModifiedTimePages) {
  EXPECT_EQ(modified_page("Contacts", {}, std::nullopt),
            "SELECT * FROM Contacts ORDER BY modifiedtime, id LIMIT 100;");
  EXPECT_EQ(modified_page("Contacts", {"id", "lastname"}, modified_cursor{"2024-05-01 10:00:00", "12x42"}),
            "SELECT id, lastname, modifiedtime FROM Contacts WHERE modifiedtime > '2024-05-01 10:00:00' OR "
            "modifiedtime = '2024-05-01 10:00:00' AND id > '12x42' ORDER BY modifiedtime, id LIMIT 100;");
  EXPECT_EQ(modified_since_page("Accounts", {}, "2024-05-01 00:00:00", 50),
            "SELECT * FROM Accounts WHERE modifiedtime >= '2024-05-01 00:00:00' ORDER BY modifiedtime, id "
            "LIMIT 50;");
  EXPECT_THROW((void)modified_page("Contacts", {}, modified_cursor{"", "12x1"}), std::invalid_argument);
}

TEST(VtqlKeyset, IdPages) {
  EXPECT_EQ(id_page("Contacts", {"id"}, std::nullopt), "SELECT id FROM Contacts ORDER BY id LIMIT 100;");
  EXPECT_EQ(id_page("Contacts", {"id"}, std::string("12x99")),
            "SELECT id FROM Contacts WHERE id > '12x99' ORDER BY id LIMIT 100;");
}

// A module's filter ANDed into the daemon's queries: VTQL has no parentheses, so the AND is distributed over
// both sides' ORs; quoted values that look like keywords are values.
TEST(VtqlFilter, AndedIntoEveryShapeOfQuery) {
  EXPECT_EQ(and_condition("SELECT count(*) FROM Contacts;", "mailingcountry = 'Germany'"),
            "SELECT count(*) FROM Contacts WHERE mailingcountry = 'Germany';");
  EXPECT_EQ(and_condition("SELECT count(*) FROM Contacts;", ""), "SELECT count(*) FROM Contacts;");
  EXPECT_EQ(and_condition(id_page("Contacts", {"id"}, std::string("12x99")), "a = '1' OR b = '2'"),
            "SELECT id FROM Contacts WHERE id > '12x99' AND a = '1' OR id > '12x99' AND b = '2' ORDER BY id "
            "LIMIT 100;");
  EXPECT_EQ(and_condition(id_page("Contacts", {"id"}, std::nullopt), "a = '1' OR b = '2'"),
            "SELECT id FROM Contacts WHERE a = '1' OR b = '2' ORDER BY id LIMIT 100;");
  EXPECT_EQ(
      and_condition(modified_page("Contacts", {"lastname"}, modified_cursor{"2024-05-01 10:00:00", "12x42"}),
                    "mailingcountry = 'Germany' OR mailingcountry = 'Austria' AND title LIKE 'CEO%'"),
      "SELECT lastname, modifiedtime FROM Contacts WHERE modifiedtime > '2024-05-01 10:00:00' AND "
      "mailingcountry = 'Germany' OR modifiedtime > '2024-05-01 10:00:00' AND mailingcountry = 'Austria' AND "
      "title LIKE 'CEO%' OR modifiedtime = '2024-05-01 10:00:00' AND id > '12x42' AND mailingcountry = "
      "'Germany' OR modifiedtime = '2024-05-01 10:00:00' AND id > '12x42' AND mailingcountry = 'Austria' AND "
      "title LIKE 'CEO%' ORDER BY modifiedtime, id LIMIT 100;");
  // Keywords inside quoted values (with '' and backslash escapes) are left alone, in the filter and in the
  // statement.
  auto q = select_query("Contacts", {"id"}).where("lastname", "=", "x ORDER BY y OR z LIMIT 1").str();
  ASSERT_TRUE(q);
  EXPECT_EQ(and_condition(*q, "title = 'it''s OR not \\\\' or department = 'R OR D'"),
            "SELECT id FROM Contacts WHERE lastname = 'x ORDER BY y OR z LIMIT 1' AND title = 'it''s OR not "
            "\\\\' OR lastname = 'x ORDER BY y OR z LIMIT 1' AND department = 'R OR D';");
}

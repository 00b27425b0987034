// Needs: nothing (the recorded describe fixture is read from disk).
#include <gtest/gtest.h>

#include <fstream>

#include "test_env.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/record/table.hpp"

using nlohmann::json;
using namespace vtsync::storage;
using vtsync::record::table_from_describe;

namespace {

json contacts_describe() {
  std::ifstream in(vtsync::test::fixtures_dir() + "/11-describe-contacts.json");
  return json::parse(in).at("response").at("body").at("result");
}

}  // namespace

TEST(MirrorTableFromDescribe, RecordedContacts) {
  const auto table = table_from_describe("vtiger", contacts_describe());
  EXPECT_EQ(table.module, "Contacts");
  EXPECT_EQ(table.table, "contacts");
  EXPECT_EQ(table.qualified_name(), R"("vtiger"."contacts")");
  EXPECT_EQ(table.columns.size(), 48u);  // 49 fields minus the synthetic id
  EXPECT_EQ(table.find("id"), nullptr);
  ASSERT_NE(table.find("birthday"), nullptr);
  EXPECT_EQ(table.find("birthday")->type, column_type::date);
  EXPECT_EQ(table.find("modifiedtime")->type, column_type::timestamptz);
  EXPECT_EQ(table.find("donotcall")->type, column_type::boolean);
  EXPECT_EQ(table.find("account_id")->type, column_type::text);
  EXPECT_TRUE(table.find("lastname")->mandatory);
  EXPECT_FALSE(table.find("contact_no")->editable);
  EXPECT_TRUE(table.skipped_fields.empty());
}

TEST(MirrorTableFromDescribe, InternalNamesAreNotMirrored) {
  auto describe = contacts_describe();
  describe["fields"].push_back({{"name", "_sync_state"}, {"type", {{"name", "string"}}}});
  describe["fields"].push_back({{"name", "vtiger_id"}, {"type", {{"name", "string"}}}});
  const auto table = table_from_describe("vtiger", describe);
  EXPECT_EQ(table.skipped_fields, (std::vector<std::string>{"_sync_state", "vtiger_id"}));
  EXPECT_EQ(table.find("vtiger_id"), nullptr);
}

// Users' describe (recording 213) offers the access key and the password hash fields: never columns.
TEST(MirrorTableFromDescribe, UsersSecretsAreNeverColumns) {
  std::ifstream in(vtsync::test::fixtures_dir() + "/213-describe-users.json");
  const auto describe = json::parse(in).at("response").at("body").at("result");
  auto table = table_from_describe("vtiger", describe);
  EXPECT_EQ(table.secret_fields,
            (std::vector<std::string>{"user_password", "confirm_password", "accesskey"}));
  for (const auto* name : {"accesskey", "user_password", "confirm_password"})
    EXPECT_EQ(table.find(name), nullptr);
  EXPECT_NE(table.find("user_name"), nullptr);
  EXPECT_EQ(table.find("modifiedtime"), nullptr);  // Users have none: the pull re-reads them whole

  // A password-typed field of any name is a secret too, and a record that carries secrets anyway keeps
  // them out of its row and its base.
  table.secret_fields.push_back("pin");
  vtsync::flat_record r;
  r.fields = {{"accesskey", {vtsync::flat_value::kind::string, "KEY123"}},
              {"id", {vtsync::flat_value::kind::string, "19x1"}},
              {"pin", {vtsync::flat_value::kind::string, "4711"}},
              {"user_name", {vtsync::flat_value::kind::string, "admin"}}};
  const auto rows = vtsync::record::to_row(table, r);
  ASSERT_EQ(rows.bases.size(), 1u);
  ASSERT_TRUE(rows.bases[0].has_value());
  EXPECT_EQ(rows.bases[0]->find("KEY123"), std::string::npos);
  EXPECT_EQ(rows.bases[0]->find("4711"), std::string::npos);
  EXPECT_NE(rows.bases[0]->find("admin"), std::string::npos);
  EXPECT_TRUE(vtsync::record::is_secret_field("pin", "password"));
  EXPECT_FALSE(vtsync::record::is_secret_field("user_name", "string"));
}

TEST(MirrorTableFromDescribe, RejectsWhatPostgresCannotName) {
  EXPECT_THROW((void)table_from_describe("vtiger", json::object()), schema_error);
  EXPECT_THROW((void)table_from_describe("vtiger", json{{"name", "X"}, {"fields", json::array()}}),
               schema_error);
  json describe{{"name", "X"},
                {"fields", {{{"name", std::string(64, 'a')}, {"type", {{"name", "string"}}}}}}};
  EXPECT_THROW((void)table_from_describe("vtiger", describe), schema_error);
  EXPECT_EQ(table_name_for(R"(Evil"Mod; DROP)"), R"(evil"mod; drop)");
}

// Products' and Services' describe (recording 202/203 of a real Vtiger 8.2) sends some flags as the strings
// "" and "1"; a backfill of Products used to end with nlohmann's "type must be boolean, but is string".
TEST(MirrorTableFromDescribe, FlagsSentAsStringsAreRead) {
  const auto describe = json::parse(R"({"name": "Products", "fields": [
    {"name": "productname", "label": "Product Name", "mandatory": true, "type": {"name": "string"},
     "isunique": false, "nullable": true, "editable": true, "default": ""},
    {"name": "tax1", "label": "VAT", "type": {"name": "double"}, "nullable": "1", "editable": "1",
     "mandatory": "", "default": "4.500"},
    {"name": "currency1", "label": "USA, Dollars USD", "type": {"name": "double"}, "nullable": "1",
     "editable": "1", "mandatory": "", "default": ""},
    {"name": "legacy", "type": {"name": "string"}, "mandatory": 1, "editable": 0}]})");
  const auto table = table_from_describe("vtiger", describe);
  ASSERT_EQ(table.columns.size(), 4u);
  EXPECT_TRUE(table.find("productname")->mandatory);
  EXPECT_FALSE(table.find("tax1")->mandatory);
  EXPECT_TRUE(table.find("tax1")->editable);
  EXPECT_EQ(table.find("tax1")->type, column_type::numeric);
  EXPECT_FALSE(table.find("currency1")->mandatory);
  EXPECT_TRUE(table.find("legacy")->mandatory);
  EXPECT_FALSE(table.find("legacy")->editable);
}

TEST(MirrorTableFromDescribe, AnUnreadableFlagNamesModuleAndField) {
  const auto describe = json::parse(
      R"({"name": "Products", "fields": [{"name": "tax2", "type": {"name": "double"}, "mandatory": {"x": 1}}]})");
  try {
    (void)table_from_describe("vtiger", describe);
    FAIL() << "no schema_error";
  } catch (const schema_error& e) {
    EXPECT_STREQ(e.what(), R"(describe of Products: field tax2 has an unreadable "mandatory": {"x":1})");
  }
}

// Every module the README lists as supported, from its recorded 8.2 describe: a table, typed as README says.
TEST(MirrorTableFromDescribe, RecordedModulesBeyondContacts) {
  const std::pair<const char*, const char*> recorded[] = {
      {"202-describe-products", "Products"},       {"203-describe-services", "Services"},
      {"209-describe-calendar", "Calendar"},       {"210-describe-events", "Events"},
      {"211-describe-modcomments", "ModComments"}, {"212-describe-documents", "Documents"},
      {"218-describe-vendors", "Vendors"},         {"219-describe-helpdesk", "HelpDesk"},
      {"220-describe-potentials", "Potentials"},   {"221-describe-leads", "Leads"},
      {"222-describe-campaigns", "Campaigns"},     {"224-describe-pricebooks", "PriceBooks"}};
  for (const auto& [file, module] : recorded) {
    std::ifstream in(vtsync::test::fixtures_dir() + "/" + file + ".json");
    const auto table = table_from_describe("vtiger", json::parse(in).at("response").at("body").at("result"));
    EXPECT_EQ(table.module, module);
    EXPECT_NE(table.find("modifiedtime"), nullptr) << module;
  }
  std::ifstream in(vtsync::test::fixtures_dir() + "/209-describe-calendar.json");
  const auto calendar = table_from_describe("vtiger", json::parse(in).at("response").at("body").at("result"));
  EXPECT_EQ(calendar.table, "calendar");
  EXPECT_EQ(calendar.find("date_start")->type, column_type::date);
  // Vtiger's "time" fields hold what the user typed ("14:30", recording 323) and duration_hours, typed
  // time too, holds a count of hours ("33", 303): text.
  EXPECT_EQ(calendar.find("time_start")->type, column_type::text);
  EXPECT_EQ(calendar.find("duration_hours")->type, column_type::text);
  EXPECT_TRUE(calendar.find("time_start")->mandatory);
}

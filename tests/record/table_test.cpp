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

TEST(MirrorTableFromDescribe, RejectsWhatPostgresCannotName) {
  EXPECT_THROW((void)table_from_describe("vtiger", json::object()), schema_error);
  EXPECT_THROW((void)table_from_describe("vtiger", json{{"name", "X"}, {"fields", json::array()}}),
               schema_error);
  json describe{{"name", "X"},
                {"fields", {{{"name", std::string(64, 'a')}, {"type", {{"name", "string"}}}}}}};
  EXPECT_THROW((void)table_from_describe("vtiger", describe), schema_error);
  EXPECT_EQ(table_name_for(R"(Evil"Mod; DROP)"), R"(evil"mod; drop)");
}

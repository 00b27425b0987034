// Needs: nothing (unit). The fake's related lists in-process: add_related and the CRM user's /_fake/link
// and /_fake/unlink, seen through retrieve_related and query_related from both ends.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fake_vtiger/service.hpp"

#include "service_harness.hpp"

namespace {

using namespace fake_test;

json call(harness& h, bool post, std::map<std::string, std::string> p) {
  return json::parse(post ? h.post(std::move(p)).body : h.get(std::move(p)).body);
}

std::vector<std::string> ids_of(const json& r) {
  std::vector<std::string> out;
  for (const auto& row : r.value("result", json::array())) out.push_back(row["id"]);
  return out;
}

TEST(FakeRelated, AddRelatedLinksBothEndsAndMovesOnlyTheSource) {
  harness h;
  const auto s = h.login();
  const std::string contact =
      h.create(s, "Contacts", {{"lastname", "Linked"}, {"assigned_user_id", "19x1"}})["result"]["id"];
  const auto deal = h.create(s, "Potentials",
                             {{"potentialname", "Deal"},
                              {"closingdate", "2027-01-31"},
                              {"sales_stage", "Prospecting"},
                              {"assigned_user_id", "19x1"}})["result"];
  ASSERT_TRUE(deal.contains("id")) << deal.dump();
  const std::string pot = deal["id"];
  h.fake("/_fake/clock", {{"advance_seconds", 60}});
  const auto added = call(h, true,
                          {{"operation", "add_related"},
                           {"sessionName", s},
                           {"sourceRecordId", pot},
                           {"relatedRecordId", contact},
                           {"relationIdLabel", "Contacts"}});
  EXPECT_EQ(added["result"]["message"], "successfull") << added.dump();
  auto get = [&](const std::string& id) {
    return call(h, false, {{"operation", "retrieve"}, {"sessionName", s}, {"id", id}})["result"];
  };
  EXPECT_NE(get(pot)["modifiedtime"], deal["modifiedtime"]);      // the source moved
  EXPECT_EQ(get(contact)["modifiedtime"], deal["modifiedtime"]);  // the related record did not
  auto related = [&](const std::string& id, const std::string& type, const std::string& label) {
    return call(h, false,
                {{"operation", "retrieve_related"},
                 {"sessionName", s},
                 {"id", id},
                 {"relatedType", type},
                 {"relatedLabel", label}});
  };
  EXPECT_EQ(ids_of(related(pot, "Contacts", "Contacts")), std::vector<std::string>{contact});
  EXPECT_EQ(ids_of(related(contact, "Potentials", "Potentials")), std::vector<std::string>{pot});
  EXPECT_EQ(related(contact, "Potentials", "Deals")["error"]["code"], "UNKOWN_ENTITY");
  const auto q = call(h, false,
                      {{"operation", "query_related"},
                       {"sessionName", s},
                       {"id", pot},
                       {"relatedLabel", "Contacts"},
                       {"query", "SELECT id, lastname FROM Contacts WHERE lastname = 'Linked'"}});
  EXPECT_EQ(ids_of(q), std::vector<std::string>{contact}) << q.dump();
  const auto semi = call(h, false,
                         {{"operation", "query_related"},
                          {"sessionName", s},
                          {"id", pot},
                          {"relatedLabel", "Contacts"},
                          {"query", "SELECT id FROM Contacts;"}});
  EXPECT_EQ(semi["error"]["code"], "QUERY_SYNTAX_ERROR");
  // A bogus label answers success and links nothing; there is no delete_related (HTTP 500).
  const auto bogus = call(h, true,
                          {{"operation", "add_related"},
                           {"sessionName", s},
                           {"sourceRecordId", contact},
                           {"relatedRecordId", pot},
                           {"relationIdLabel", "NoSuchLabel"}});
  EXPECT_TRUE(bogus["success"].get<bool>());
  EXPECT_EQ(h.post({{"operation", "delete_related"}, {"sessionName", s}}).status, 500);
}

TEST(FakeRelated, ACrmUserLinksAndUnlinksAndTheSourceMoves) {
  harness h;
  const auto s = h.login();
  const std::string account =
      h.create(s, "Accounts", {{"accountname", "Acme"}, {"assigned_user_id", "19x1"}})["result"]["id"];
  const auto product =
      h.create(s, "Products", {{"productname", "Widget"}, {"assigned_user_id", "19x1"}})["result"];
  ASSERT_TRUE(product.contains("id")) << product.dump();
  const std::string prod = product["id"];
  h.fake("/_fake/clock", {{"advance_seconds", 60}});
  EXPECT_EQ(
      h.fake(
          "/_fake/link",
          {{"source", account}, {"related", prod}, {"label", "Products"}, {"modifiedby", "19x5"}})["linked"],
      true);
  const auto acc = call(h, false, {{"operation", "retrieve"}, {"sessionName", s}, {"id", account}})["result"];
  EXPECT_EQ(acc["modifiedby"], "19x5");
  EXPECT_NE(acc["modifiedtime"], product["modifiedtime"]);
  EXPECT_EQ(
      call(h, false, {{"operation", "retrieve"}, {"sessionName", s}, {"id", prod}})["result"]["modifiedtime"],
      product["modifiedtime"]);
  auto products = [&] {
    return ids_of(call(h, false,
                       {{"operation", "retrieve_related"},
                        {"sessionName", s},
                        {"id", account},
                        {"relatedType", "Products"},
                        {"relatedLabel", "Products"}}));
  };
  EXPECT_EQ(products(), std::vector<std::string>{prod});
  EXPECT_EQ(
      h.fake("/_fake/unlink", {{"source", account}, {"related", prod}, {"label", "Products"}})["unlinked"],
      true);
  EXPECT_TRUE(products().empty());
  const auto bad = h.svc.handle({"POST", "/_fake/link",
                                 json{{"source", account}, {"related", prod}, {"label", "Nope"}}.dump(),
                                 "application/json"});
  EXPECT_EQ(bad.status, 400);
}

}  // namespace

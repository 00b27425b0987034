// Needs: nothing (unit). The dispatcher in-process: auth, records, VTQL semantics, sync, seeding, the
// /_fake endpoints. No sockets: service::handle() is called directly.
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

std::string code_of(const json& r) { return r.contains("error") ? r["error"]["code"].dump() : "none"; }

TEST(FakeService, LoginNeedsTheLatestChallengeAndTheRightKey) {
  harness h;
  const auto c1 = json::parse(h.get({{"operation", "getchallenge"}, {"username", "admin"}}).body);
  const std::string t1 = c1["result"]["token"];
  EXPECT_EQ(t1.size(), 13u);
  EXPECT_EQ(c1["result"]["expireTime"].get<long long>() - c1["result"]["serverTime"].get<long long>(), 300);
  const auto c2 = json::parse(h.get({{"operation", "getchallenge"}, {"username", "admin"}}).body);
  const std::string t2 = c2["result"]["token"];
  auto login = [&](const std::string& key) {
    return json::parse(h.post({{"operation", "login"}, {"username", "admin"}, {"accessKey", key}}).body);
  };
  EXPECT_EQ(code_of(login(md5_hex(t1 + "fakeAdminKey0001"))), "\"INVALID_USER_CREDENTIALS\"");
  EXPECT_EQ(code_of(login("fakeAdminKey0001")), "\"INVALID_USER_CREDENTIALS\"");
  const auto ok = login(md5_hex(t2 + "fakeAdminKey0001"));
  ASSERT_TRUE(ok["success"].get<bool>());
  EXPECT_EQ(ok["result"]["userId"], "19x1");
  EXPECT_EQ(code_of(login(md5_hex(t2 + "fakeAdminKey0001"))), "none");  // tokens are reusable
  h.fake("/_fake/clock", {{"advance_seconds", 301}});
  EXPECT_EQ(code_of(login(md5_hex(t2 + "fakeAdminKey0001"))), "\"INVALID_AUTH_TOKEN\"");
  EXPECT_EQ(code_of(json::parse(h.get({{"operation", "getchallenge"}, {"username", "nobody"}}).body)),
            "\"ACCESS_DENIED\"");
}

TEST(FakeService, SessionsExpireAfterTheIdleTtlAndStayAliveWhenUsed) {
  service_options o;
  o.session_ttl = 60;
  harness h(o);
  const auto s = h.login();
  for (int i = 0; i < 3; ++i) {
    h.fake("/_fake/clock", {{"advance_seconds", 50}});
    EXPECT_EQ(code_of(json::parse(h.get({{"operation", "listtypes"}, {"sessionName", s}}).body)), "none");
  }
  h.fake("/_fake/clock", {{"advance_seconds", 61}});
  EXPECT_EQ(code_of(json::parse(h.get({{"operation", "listtypes"}, {"sessionName", s}}).body)),
            "\"INVALID_SESSIONID\"");
  EXPECT_EQ(code_of(json::parse(h.get({{"operation", "listtypes"}}).body)), "\"AUTHENTICATION_REQUIRED\"");
  EXPECT_EQ(h.get({{"operation", "nosuchop"}}).status, 500);
  EXPECT_EQ(h.get({}).status, 500);
}

TEST(FakeService, ParametersComeOnlyFromTheOperationsOwnInput) {
  harness h;
  const auto s = h.login();
  // query is a GET operation: in a POST body it is not read.
  const auto r = json::parse(
      h.post({{"operation", "query"}, {"sessionName", s}, {"query", "SELECT id FROM Contacts;"}}).body);
  EXPECT_EQ(r["error"]["message"], "Permission to perform the operation is denied for query");
  // create is a POST operation: as GET every parameter is empty.
  const auto c = json::parse(
      h.get({{"operation", "create"}, {"sessionName", s}, {"elementType", "Contacts"}, {"element", "{}"}})
          .body);
  EXPECT_EQ(c["error"]["code"], "ACCESS_DENIED");
}

TEST(FakeService, CreateChecksMandatoryFieldsReferencesAndOwner) {
  harness h;
  const auto s = h.login();
  EXPECT_EQ(h.create(s, "Contacts", {{"lastname", ""}, {"assigned_user_id", "19x1"}})["error"]["message"],
            "lastname does not have a value");
  EXPECT_EQ(h.create(s, "Contacts", {{"lastname", "X"}})["error"]["message"],
            "assigned_user_id does not have a value");
  const auto spaces = h.create(s, "Contacts", {{"lastname", "   "}, {"assigned_user_id", "19x1"}});
  EXPECT_EQ(spaces["result"]["lastname"], "   ");
  EXPECT_EQ(
      h.create(s, "Contacts",
               {{"lastname", "X"}, {"assigned_user_id", "19x1"}, {"account_id", "12x1"}})["error"]["code"],
      "REFERENCE_INVALID");
  EXPECT_EQ(
      h.create(s, "Contacts",
               {{"lastname", "X"}, {"assigned_user_id", "19x1"}, {"account_id", "bad"}})["error"]["code"],
      "INVALID_ID_ATTRIBUTE");
  const auto acc = h.create(
      s, "Accounts", {{"accountname", "Acme"}, {"assigned_user_id", "19x1"}, {"annual_revenue", "1500"}});
  EXPECT_EQ(acc["result"]["annual_revenue"], "1500.00000000");
  EXPECT_EQ(acc["result"]["employees"], "0");
  EXPECT_EQ(h.create(s, "Accounts", {{"accountname", "ACME"}, {"assigned_user_id", "19x1"}}).dump(),
            R"({"error":{"code":0,"message":"Duplicate(s) detected!"},"success":false})");
  const auto c = h.create(s, "Contacts",
                          {{"lastname", "Zoë"},
                           {"assigned_user_id", "19x1"},
                           {"account_id", acc["result"]["id"]},
                           {"donotcall", true},
                           {"emailoptout", "true"},
                           {"nosuchfield", "x"}});
  EXPECT_EQ(c["result"]["account_id"], acc["result"]["id"]);
  EXPECT_EQ(c["result"]["donotcall"], "1");
  EXPECT_EQ(c["result"]["emailoptout"], "0");  // only 1, "1", true and "on" mean yes
  EXPECT_FALSE(c["result"].contains("nosuchfield"));
  EXPECT_EQ(c["result"]["label"], "Zoë");
  EXPECT_EQ(c["result"]["source"], "WEBSERVICE");
  // An unknown owner: the record is saved, the answer is a plain-text page (recording 62).
  const auto bad_owner = h.post({{"operation", "create"},
                                 {"sessionName", s},
                                 {"elementType", "Contacts"},
                                 {"element", R"({"lastname":"BadOwner","assigned_user_id":"19x999"})"}});
  EXPECT_EQ(bad_owner.body, "Sorry! Attempt to access restricted file.");
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname = 'BadOwner';").size(), 1u);
}

TEST(FakeService, UpdateNeedsEveryMandatoryFieldReviseDoesNot) {
  harness h;
  const auto s = h.login();
  const json c =
      h.create(s, "Contacts",
               {{"lastname", "Lovelace"}, {"firstname", "Ada"}, {"assigned_user_id", "19x1"}})["result"];
  const std::string id = c["id"];
  auto update = [&](const std::string& op, const json& e) {
    return json::parse(h.post({{"operation", op}, {"sessionName", s}, {"element", e.dump()}}).body);
  };
  EXPECT_EQ(update("update", {{"id", id}, {"title", "T"}})["error"]["message"],
            "lastname does not have a value");
  const auto r = update("revise", {{"id", id}, {"title", "Countess"}});
  EXPECT_EQ(r["result"]["title"], "Countess");
  EXPECT_EQ(r["result"]["firstname"], "Ada");
  EXPECT_EQ(update("revise", {{"id", id}, {"lastname", ""}})["error"]["code"], "MANDATORY_FIELDS_MISSING");
  EXPECT_EQ(update("revise", {{"lastname", "NoId"}})["error"]["message"],
            "Permission to perform the operation is denied for id");
  const std::string crm = id.substr(id.find('x') + 1);
  EXPECT_EQ(update("revise", {{"id", "11x" + crm}, {"title", "x"}})["error"]["code"], "INVALID_ID_ATTRIBUTE");
  EXPECT_EQ(
      update("update",
             {{"id", "12x999999"}, {"lastname", "G"}, {"assigned_user_id", "19x1"}})["error"]["message"],
      "Permission to perform the operation is denied");
  // delete: soft, bumps modifiedtime, then ACCESS_DENIED everywhere.
  h.fake("/_fake/clock", {{"advance_seconds", 5}});
  EXPECT_EQ(
      json::parse(h.post({{"operation", "delete"}, {"sessionName", s}, {"id", id}}).body)["result"]["status"],
      "successful");
  EXPECT_EQ(json::parse(
                h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", id}}).body)["error"]["message"],
            "Permission to perform the operation is denied");
  EXPECT_EQ(
      json::parse(h.post({{"operation", "delete"}, {"sessionName", s}, {"id", id}}).body)["error"]["code"],
      "ACCESS_DENIED");
  EXPECT_TRUE(h.rows(s, "SELECT id FROM Contacts WHERE id = '" + id + "';").empty());
  EXPECT_EQ(
      json::parse(
          h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", "12345"}}).body)["error"]["message"],
      "Permission to perform the operation is denied for id");
}

TEST(FakeService, VtqlComparesLikeMysqlUtf8GeneralCi) {
  harness h;
  const auto s = h.login();
  for (const char* n : {"Smith", "smith ", "O'Brien", "Back\\slash", "Müller"}) {
    ASSERT_TRUE(
        h.create(s, "Contacts", {{"lastname", n}, {"assigned_user_id", "19x1"}})["success"].get<bool>());
  }
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname = 'SMITH';").size(),
            2u);  // case and trailing spaces
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname LIKE 's%';").size(), 2u);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname = 'O''Brien';").size(), 1u);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname = 'Back\\\\slash';").size(), 1u);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE lastname IN ('Müller', 'nobody');").size(), 1u);
  EXPECT_EQ(
      h.rows(s, "SELECT id FROM Contacts WHERE lastname = 'Smith' AND id > '12x0' OR lastname = 'Müller';")
          .size(),
      3u);
  EXPECT_EQ(h.query(s, "SELECT nosuch FROM Contacts;")["error"]["message"],
            "Permission to access nosuch attribute denied.");
  EXPECT_EQ(h.query(s, "SELECT * FROM Nope;")["error"]["message"],
            "Permission to perform the operation is denied for name : Nope");
  EXPECT_EQ(h.query(s, "SELECT id FROM Contacts WHERE lastname = '';")["error"]["code"],
            "INTERNAL_SERVER_ERROR");
  EXPECT_EQ(h.query(s, "SELECT id FROM Contacts WHERE id = 5;")["error"]["code"], "DATABASE_QUERY_ERROR");
  EXPECT_EQ(h.query(s, "SELECT id FROM Contacts WHERE assigned_user_id = '1';")["error"]["code"],
            "INVALID_ID_ATTRIBUTE");
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE assigned_user_id = '19x1';").size(), 5u);
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Contacts;")[0]["count"], "5");
  const auto desc = h.rows(s, "SELECT id, lastname FROM Contacts ORDER BY lastname DESC LIMIT 2;");
  ASSERT_EQ(desc.size(), 2u);
  EXPECT_EQ(desc[0]["lastname"], "Smith");  // equal under the collation: id order is kept
  EXPECT_EQ(desc[1]["lastname"], "smith ");
  const auto first = h.rows(s, "SELECT lastname FROM Contacts ORDER BY id LIMIT 1;");
  EXPECT_EQ(first[0].size(), 2u);  // id is always added
}

TEST(FakeService, CountModeSelectsTheVersionBehaviour) {
  service_options o;
  o.count = count_mode::v84;
  harness h(o);
  const auto s = h.login();
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Contacts;"), json::array());
}

TEST(FakeService, RangeCountsCompareIdsByNumber) {
  service_options o;
  o.seeds = {{"Contacts", 1000}};
  harness h(o);
  const auto s = h.login();
  const std::string first = h.rows(s, "SELECT id FROM Contacts ORDER BY id LIMIT 1;")[0]["id"];
  const long base = std::stol(first.substr(first.find('x') + 1));
  const auto id = [&](long k) { return "'12x" + std::to_string(base + k) + "'"; };
  const auto count = [&](const std::string& where) {
    return h.rows(s, "SELECT count(*) FROM Contacts WHERE " + where + ";").at(0).at("count");
  };
  // As Vtiger 8.2: a string, ids compared as numbers (12x99 < 12x100), AND of two conditions.
  EXPECT_EQ(count("id >= " + id(100) + " AND id < " + id(200)), "100");
  EXPECT_EQ(count("id >= " + id(95) + " AND id < " + id(105)), "10");
  EXPECT_EQ(count("id >= " + id(990)), "10");
  EXPECT_EQ(count("id < " + id(7)), "7");
  EXPECT_EQ(count("id >= " + id(2000) + " AND id < " + id(3000)), "0");
  const auto page = h.rows(s, "SELECT id FROM Contacts WHERE id >= " + id(98) + " AND id < " + id(103) +
                                  " ORDER BY id LIMIT 100;");
  ASSERT_EQ(page.size(), 5u);
  EXPECT_EQ("'" + page[4]["id"].get<std::string>() + "'", id(102));
  // Parentheses are a syntax error (98b).
  EXPECT_EQ(h.query(s, "SELECT count(*) FROM Contacts WHERE (id >= " + id(1) + " AND id < " + id(5) +
                           ");")["error"]["code"],
            "QUERY_SYNTAX_ERROR");
}

TEST(FakeService, QueryCapsAt100RowsAndPagesWithOffsets) {
  service_options o;
  o.seeds = {{"Contacts", 250}};
  harness h(o);
  const auto s = h.login();
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts LIMIT 500;").size(), 100u);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts;").size(), 100u);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts LIMIT 200, 5000;").size(), 50u);
  EXPECT_TRUE(h.rows(s, "SELECT id FROM Contacts LIMIT 1000, 100;").empty());
}

TEST(FakeService, SeededRecordsAreRealisticAndShareSeconds) {
  service_options o;
  o.seeds = {{"Contacts", 2000}, {"Accounts", 20}};
  harness h(o);
  const json all = h.fake_get("/_fake/dump?module=Contacts");
  ASSERT_EQ(all.size(), 2000u);
  std::map<std::string, int> per_second;
  bool non_ascii = false, quote = false, backslash = false, comma = false;
  for (const auto& r : all) {
    ++per_second[r["modifiedtime"]];
    const std::string name = r["firstname"].get<std::string>() + r["lastname"].get<std::string>();
    non_ascii |= name.find("Zoë") != std::string::npos || name.find("Łukasz") != std::string::npos ||
                 name.find("Müller") != std::string::npos;
    quote |= name.find('\'') != std::string::npos || name.find('"') != std::string::npos;
    backslash |= name.find('\\') != std::string::npos;
    comma |= name.find(',') != std::string::npos;
    EXPECT_LE(r["createdtime"].get<std::string>(), r["modifiedtime"].get<std::string>());
  }
  EXPECT_TRUE(non_ascii && quote && backslash && comma);
  int biggest = 0, small_groups = 0;
  for (const auto& [sec, n] : per_second) {
    biggest = std::max(biggest, n);
    if (n >= 2 && n <= 5) ++small_groups;
  }
  EXPECT_GE(biggest, 250);
  EXPECT_GT(small_groups, 10);
  // Some seeded fields are NULL: query shows null, retrieve shows "".
  const auto s = h.login();
  const json rows = h.rows(s, "SELECT id, phone FROM Contacts LIMIT 100;");
  int nulls = 0;
  for (const auto& r : rows) nulls += r["phone"].is_null() ? 1 : 0;
  EXPECT_GT(nulls, 0);
}

// Keyset paging on (modifiedtime, id) over a seeded module with a 250-record second returns every
// record exactly once, also with edits made while paging.
TEST(FakeService, KeysetPagingReturnsEveryRecordOnce) {
  service_options o;
  o.seeds = {{"Contacts", 3000}};
  harness h(o);
  const auto s = h.login();
  std::set<std::string> seen;
  std::string t = "1970-01-01 00:00:01", last_id = "12x0";
  int pages = 0;
  for (;;) {
    const json page = h.rows(s, "SELECT id, modifiedtime FROM Contacts WHERE modifiedtime > '" + t +
                                    "' OR modifiedtime = '" + t + "' AND id > '" + last_id +
                                    "' ORDER BY modifiedtime, id LIMIT 100;");
    if (page.empty()) break;
    for (const auto& r : page) EXPECT_TRUE(seen.insert(r["id"]).second) << r.dump();
    t = page.back()["modifiedtime"];
    last_id = page.back()["id"];
    ++pages;
  }
  EXPECT_EQ(seen.size(), 3000u);
  EXPECT_EQ(pages, 30);
  // On id alone.
  std::set<std::string> by_id;
  last_id = "12x0";
  for (;;) {
    const json page =
        h.rows(s, "SELECT id FROM Contacts WHERE id > '" + last_id + "' ORDER BY id LIMIT 100;");
    if (page.empty()) break;
    for (const auto& r : page) EXPECT_TRUE(by_id.insert(r["id"]).second);
    last_id = page.back()["id"];
  }
  EXPECT_EQ(by_id.size(), 3000u);
  // An edited record moves to the end of the modifiedtime order; >= paging sees it once more there.
  const json edited = h.fake(
      "/_fake/edit", {{"id", *seen.begin()}, {"fields", {{"title", "Edited"}}}, {"modifiedby", "19x5"}});
  EXPECT_EQ(edited["modifiedby"], "19x5");
  const json newest = h.rows(
      s, "SELECT id, title FROM Contacts WHERE modifiedtime >= '" + t + "' ORDER BY modifiedtime, id;");
  ASSERT_FALSE(newest.empty());
  EXPECT_EQ(newest.back()["id"], *seen.begin());
  EXPECT_EQ(newest.back()["title"], "Edited");
}

TEST(FakeService, MassUpdateGivesOneSharedSecond) {
  service_options o;
  o.seeds = {{"Leads", 300}};
  harness h(o);
  const json r = h.fake("/_fake/mass-update",
                        {{"module", "Leads"}, {"count", 250}, {"fields", {{"leadstatus", "Recycled"}}}});
  EXPECT_EQ(r["updated"], 250);
  const auto s = h.login();
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Leads WHERE modifiedtime = '" +
                          r["modifiedtime"].get<std::string>() + "';")[0]["count"],
            "250");
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Leads WHERE leadstatus = 'RECYCLED';")[0]["count"], "250");
  // A converted lead disappears from query.
  h.fake("/_fake/edit", {{"id", r["ids"][0]}, {"converted", true}});
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Leads;")[0]["count"], "299");
}

TEST(FakeService, SyncModes) {
  service_options o;
  o.seeds = {{"Contacts", 1000}};
  harness stock(o);
  EXPECT_EQ(stock
                .get({{"operation", "sync"},
                      {"sessionName", stock.login()},
                      {"modifiedTime", "1"},
                      {"elementType", "Contacts"}})
                .status,
            500);

  o.sync = sync_mode::php7;
  harness h(o);
  const auto s = h.login();
  std::set<std::string> seen;
  std::string from = "1";
  int calls = 0;
  for (;;) {
    const json r = json::parse(
        h.get(
             {{"operation", "sync"}, {"sessionName", s}, {"modifiedTime", from}, {"elementType", "Contacts"}})
            .body);
    ASSERT_TRUE(r["success"].get<bool>()) << r.dump().substr(0, 300);
    for (const auto& u : r["result"]["updated"]) {
      EXPECT_EQ(u["assigned_user_id"], "19x1");  // user-only
      EXPECT_FALSE(u.contains("label"));
      seen.insert(u["id"]);
    }
    from = std::to_string(r["result"]["lastModifiedTime"].get<long long>());
    ++calls;
    if (!r["result"]["more"].get<bool>()) break;
  }
  const auto admin_owned =
      h.rows(s, "SELECT count(*) FROM Contacts WHERE assigned_user_id = '19x1';")[0]["count"];
  EXPECT_EQ(std::to_string(seen.size()), admin_owned.get<std::string>());
  EXPECT_GT(calls, 3);
  // A delete shows up under "deleted".
  const std::string victim = *seen.begin();
  ASSERT_TRUE(
      json::parse(h.post({{"operation", "delete"}, {"sessionName", s}, {"id", victim}}).body)["success"]
          .get<bool>());
  const json after = json::parse(
      h.get({{"operation", "sync"}, {"sessionName", s}, {"modifiedTime", from}, {"elementType", "Contacts"}})
          .body);
  EXPECT_EQ(after["result"]["deleted"], json::array({victim}));

  o.sync = sync_mode::patched;
  harness p(o);
  const auto js = p.login("jdoe", "fakeJdoeKey00002");
  EXPECT_EQ(json::parse(p.get({{"operation", "sync"},
                               {"sessionName", js},
                               {"modifiedTime", "1"},
                               {"elementType", "Contacts"},
                               {"syncType", "application"}})
                            .body)["error"]["message"],
            "Only admin users can perform application sync");
  const json app = json::parse(p.get({{"operation", "sync"},
                                      {"sessionName", p.login()},
                                      {"modifiedTime", "1"},
                                      {"elementType", "Contacts"},
                                      {"syncType", "application"}})
                                   .body);
  std::set<std::string> owners;
  for (const auto& u : app["result"]["updated"]) owners.insert(u["assigned_user_id"]);
  EXPECT_GT(owners.size(), 1u);
}

TEST(FakeService, IdempotencyFieldIsAddedToEveryModule) {
  service_options o;
  o.idempotency_field = "cf_901";
  harness h(o);
  const auto s = h.login();
  for (const char* m : {"Contacts", "Accounts", "Leads", "Potentials", "HelpDesk"}) {
    const json d =
        json::parse(h.get({{"operation", "describe"}, {"sessionName", s}, {"elementType", m}}).body);
    bool found = false;
    for (const auto& f : d["result"]["fields"]) found |= f["name"] == "cf_901";
    EXPECT_TRUE(found) << m;
  }
  const json c =
      h.create(s, "Contacts", {{"lastname", "K"}, {"assigned_user_id", "19x1"}, {"cf_901", "key-1"}});
  EXPECT_EQ(h.rows(s, "SELECT id FROM Contacts WHERE cf_901 = 'key-1';")[0]["id"], c["result"]["id"]);
}

TEST(FakeService, DescribeListsTheMandatoryFields) {
  harness h;
  const auto s = h.login();
  // As recorded on 8.2 (describes 11, 12, 202-222).
  const std::map<std::string, std::set<std::string>> mandatory = {
      {"Contacts", {"lastname", "assigned_user_id"}},
      {"Accounts", {"accountname", "assigned_user_id"}},
      {"Leads", {"lastname", "assigned_user_id"}},
      {"Potentials", {"potentialname", "closingdate", "sales_stage", "assigned_user_id"}},
      {"HelpDesk", {"ticket_title", "ticketstatus", "ticketpriorities", "assigned_user_id"}},
      {"Products", {"productname", "assigned_user_id"}},
      {"PriceBooks", {"bookname", "currency_id"}},
      {"Calendar", {"subject", "assigned_user_id", "date_start", "time_start", "due_date", "taskstatus"}},
      {"ModComments", {"commentcontent", "assigned_user_id", "related_to"}},
      {"Invoice", {"subject", "account_id", "assigned_user_id", "bill_street", "ship_street", "productid"}}};
  const std::map<std::string, std::string> prefixes = {
      {"Contacts", "12"}, {"Accounts", "11"},  {"Leads", "10"},   {"Potentials", "13"},  {"HelpDesk", "17"},
      {"Products", "14"}, {"PriceBooks", "8"}, {"Calendar", "9"}, {"ModComments", "30"}, {"Invoice", "7"}};
  for (const auto& [m, want] : mandatory) {
    const json d = json::parse(
        h.get({{"operation", "describe"}, {"sessionName", s}, {"elementType", m}}).body)["result"];
    std::set<std::string> got;
    for (const auto& f : d["fields"]) {
      if (f["mandatory"] == true || f["mandatory"] == "1") got.insert(f["name"]);
    }
    EXPECT_EQ(got, want) << m;
    EXPECT_EQ(d["idPrefix"], prefixes.at(m));
  }
  const json lt = json::parse(h.get({{"operation", "listtypes"}, {"sessionName", s}}).body)["result"];
  EXPECT_EQ(lt["information"]["Accounts"]["label"], "Organizations");
}

}  // namespace

// --cost-model vtiger-8.2 (cost_model.hpp): a modifiedtime query takes a scan of every module's records,
// an id keyset page a small constant, plus each row answered and each row skipped by an offset; nothing
// without the model.
// Seeding works for every module: each mandatory field filled, references pointing at seeded records.
TEST(FakeService, SeedsEveryModuleWithItsMandatoryFields) {
  service_options o;
  for (const char* m : {"Contacts", "Products", "Services", "Vendors", "PriceBooks", "Campaigns", "Documents",
                        "Calendar", "Events", "ModComments", "Invoice"})
    o.seeds.emplace_back(m, 20);
  harness h{o};
  const auto s = h.login();
  for (const char* m : {"Products", "Services", "Vendors", "PriceBooks", "Campaigns", "Documents", "Calendar",
                        "Events", "ModComments", "Invoice"}) {
    const json d = json::parse(
        h.get({{"operation", "describe"}, {"sessionName", s}, {"elementType", m}}).body)["result"];
    const json records = h.fake_get(std::string("/_fake/dump?module=") + m);
    ASSERT_EQ(records.size(), 20u) << m;
    for (const auto& r : records) {
      for (const auto& f : d["fields"]) {
        if (f["mandatory"] != true || f["name"] == "id") continue;
        EXPECT_FALSE(r.value(f["name"].get<std::string>(), std::string()).empty()) << m << " " << f["name"];
      }
    }
  }
  for (const auto& c : h.fake_get("/_fake/dump?module=ModComments")) {
    const auto parent = json::parse(
        h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", c["related_to"].get<std::string>()}})
            .body);
    EXPECT_TRUE(parent["success"].get<bool>()) << c.dump();  // a seeded Invoice or Contact
  }
  for (const auto& t : h.fake_get("/_fake/dump?module=Calendar")) EXPECT_EQ(t["activitytype"], "Task");
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Calendar;")[0]["count"], "20");
}

// Calendar (303-318): without activitytype "Task" the answer shows a 9x task, but an event is stored.
TEST(FakeService, ACalendarCreateWithoutTaskTypeBecomesAnEvent) {
  harness h;
  const auto s = h.login();
  const json task = {{"subject", "Call"},        {"date_start", "2026-12-10"},  {"time_start", "14:30"},
                     {"due_date", "2026-12-11"}, {"taskstatus", "Not Started"}, {"assigned_user_id", "19x1"}};
  const auto made = h.create(s, "Calendar", task)["result"];
  const std::string id = made["id"];
  ASSERT_TRUE(id.starts_with("9x")) << made.dump();
  EXPECT_EQ(made["duration_hours"], "33");
  EXPECT_EQ(made["duration_minutes"], "30");
  const auto as_task = json::parse(h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", id}}).body);
  EXPECT_EQ(code_of(as_task), "\"INVALID_ID_ATTRIBUTE\"");
  const auto as_event =
      json::parse(h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", "18x" + id.substr(2)}}).body);
  EXPECT_EQ(as_event["result"]["activitytype"], "") << as_event.dump();
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Calendar;")[0]["count"], "0");
  json real_task = task;
  real_task["activitytype"] = "Task";
  const std::string task_id = h.create(s, "Calendar", real_task)["result"]["id"];
  EXPECT_EQ(h.rows(s, "SELECT id FROM Calendar;")[0]["id"], task_id);
  EXPECT_EQ(h.rows(s, "SELECT id FROM Events;")[0]["id"], "18x" + id.substr(2));
}

// ModComments (331-343): a new comment moves its record; the inventory headers need line items (234-236).
TEST(FakeService, ACommentMovesItsRecordAndInventoryNeedsLineItems) {
  harness h;
  const auto s = h.login();
  const std::string contact =
      h.create(s, "Contacts", {{"lastname", "Parent"}, {"assigned_user_id", "19x1"}})["result"]["id"];
  h.fake("/_fake/clock", {{"advance_seconds", 60}});
  const auto comment =
      h.create(s, "ModComments",
               {{"commentcontent", "Hi"}, {"related_to", contact}, {"assigned_user_id", "19x5"}})["result"];
  EXPECT_EQ(comment["creator"], "19x1");
  const auto parent =
      json::parse(h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", contact}}).body);
  EXPECT_EQ(parent["result"]["modifiedtime"], comment["modifiedtime"]);
  const auto no_lines = json::parse(h.post({{"operation", "create"},
                                            {"sessionName", s},
                                            {"elementType", "Invoice"},
                                            {"element", json{{"subject", "I"},
                                                             {"account_id", "11x1"},
                                                             {"bill_street", "b"},
                                                             {"ship_street", "s"},
                                                             {"productid", "14x1"},
                                                             {"assigned_user_id", "19x1"}}
                                                            .dump()}})
                                        .body);
  EXPECT_EQ(no_lines["error"]["message"], "Mandatory Fields Missing..") << no_lines.dump();
}

TEST(FakeService, CostModelChargesWhatARealVtigerSpends) {
  auto delays = [](cost_model model) {
    service_options o;
    o.seeds = {{"Contacts", 1000}, {"Accounts", 49000}};
    o.cost = model;
    o.cost_cores = 64;  // no queueing between these few sequential queries
    harness h{o};
    const auto s = h.login();
    std::vector<int> out;
    for (const std::string q : {
             "SELECT * FROM Contacts WHERE modifiedtime > '2999-01-01 00:00:00' ORDER BY modifiedtime, id "
             "LIMIT 100;",
             "SELECT * FROM Contacts WHERE id > '12x0' ORDER BY id LIMIT 100;",
             "SELECT id FROM Contacts ORDER BY id DESC LIMIT 1;",
             "SELECT id FROM Contacts LIMIT 500, 10;",
             "SELECT count(*) FROM Contacts;",
         }) {
      const auto reply = h.get({{"operation", "query"}, {"sessionName", s}, {"query", q}});
      EXPECT_EQ(reply.status, 200) << q;
      out.push_back(reply.delay_ms);
    }
    return out;
  };
  // 50,000 records x 1.4 us; 4 ms + 100 rows x 0.6 ms; 4 ms + 1 row; 4 ms + 500 x 8 us + 10 rows; a scan.
  EXPECT_EQ(delays(cost_model::vtiger_82), (std::vector<int>{70, 64, 5, 14, 70}));
  EXPECT_EQ(delays(cost_model::none), (std::vector<int>{0, 0, 0, 0, 0}));
}

TEST(FakeService, CostModelQueuesRequestsBeyondTheServersCores) {
  cost_clock clock{2};
  EXPECT_EQ(clock.reserve(0, 10'000), 10);
  EXPECT_EQ(clock.reserve(0, 10'000), 10);
  EXPECT_EQ(clock.reserve(0, 10'000), 20);     // waits for a core
  EXPECT_EQ(clock.reserve(30'000, 5'000), 5);  // both free again
  EXPECT_EQ(query_cost_us(cost_model::vtiger_82, {false, 0, 0}, 1'000'000), 4'000);
  EXPECT_EQ(query_cost_us(cost_model::vtiger_82, {true, 0, 0}, 1'000'000), 1'400'000);
}

namespace {

// Users and Groups: keyset pages by id as the pull asks for them, a group's retrieve, jdoe's denials.
TEST(FakeService, UsersAndGroupsAnswerAsRecorded) {
  harness h;
  const auto s = h.login();
  const auto users = h.rows(s, "SELECT * FROM Users ORDER BY id LIMIT 100;");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]["id"], "19x1");
  EXPECT_FALSE(users[0].contains("accesskey"));
  EXPECT_FALSE(users[0].contains("user_password"));
  EXPECT_FALSE(users[0].contains("modifiedtime"));
  const auto after = h.rows(s, "SELECT * FROM Users WHERE id > '19x1' ORDER BY id LIMIT 100;");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]["user_name"], "jdoe");
  EXPECT_TRUE(h.rows(s, "SELECT * FROM Groups WHERE id > '20x4' ORDER BY id LIMIT 100;").empty());
  EXPECT_EQ(h.rows(s, "SELECT groupname FROM Groups WHERE id = '20x3';")[0].dump(),
            R"({"groupname":"Marketing Group","id":"20x3"})");
  const auto raw = h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", "20x2"}}).body;
  EXPECT_LT(raw.find("\"groupid\""), raw.find("\"groupname\"")) << raw;  // groupid first (386)
  EXPECT_EQ(json::parse(raw)["result"]["groupid"], "2");

  const auto j = h.login("jdoe", "fakeJdoeKey00002");
  EXPECT_EQ(code_of(h.query(j, "SELECT * FROM Users;")), "\"ACCESS_DENIED\"");
  EXPECT_EQ(code_of(json::parse(
                h.get({{"operation", "describe"}, {"sessionName", j}, {"elementType", "Users"}}).body)),
            "\"ACCESS_DENIED\"");
  EXPECT_EQ(h.rows(j, "SELECT * FROM Groups;").size(), 3u);

  h.fake("/_fake/delete", {{"id", "20x4"}});
  EXPECT_EQ(h.rows(s, "SELECT * FROM Groups;").size(), 2u);
  EXPECT_EQ(code_of(json::parse(h.get({{"operation", "retrieve"}, {"sessionName", s}, {"id", "20x4"}}).body)),
            "\"ACCESS_DENIED\"");
}

TEST(FakeService, AFieldAddedAtRunTimeIsDescribedQueriedAndWritable) {
  service_options o;
  o.seeds = {{"Contacts", 5}};
  harness h(o);
  const auto s = h.login();
  const json field = {{"name", "cf_900"},   {"label", "Region"},
                      {"mandatory", false}, {"type", {{"name", "string"}}},
                      {"editable", true},   {"default", ""}};
  h.fake("/_fake/add-field", {{"module", "Contacts"}, {"field", field}});
  const auto d =
      json::parse(h.get({{"operation", "describe"}, {"sessionName", s}, {"elementType", "Contacts"}}).body);
  const auto& fields = d["result"]["fields"];
  EXPECT_EQ(fields[fields.size() - 2]["name"], "cf_900");
  EXPECT_EQ(fields.back()["name"], "id");
  auto rows = h.rows(s, "SELECT * FROM Contacts ORDER BY id LIMIT 1;");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].contains("cf_900"));
  EXPECT_TRUE(rows[0]["cf_900"].is_null());
  const std::string id = rows[0]["id"];
  h.fake("/_fake/edit", {{"id", id}, {"fields", {{"cf_900", "North"}}}});
  EXPECT_EQ(h.rows(s, "SELECT cf_900 FROM Contacts WHERE cf_900 = 'North';").size(), 1u);
  const auto revised = json::parse(h.post({{"operation", "revise"},
                                           {"sessionName", s},
                                           {"element", json{{"id", id}, {"cf_900", "South"}}.dump()}})
                                       .body);
  EXPECT_EQ(revised["result"]["cf_900"], "South") << revised.dump();
  const auto again =
      h.svc.handle({"POST", "/_fake/add-field", json{{"module", "Contacts"}, {"field", field}}.dump(), ""});
  EXPECT_EQ(again.status, 409);
}

}  // namespace

// Inventory line items (237-291): lines stored with new 33x ids on every write, totals from them, revise
// with [] keeps them, LineItem query by parent, a LineItem delete answers 500 yet deletes, a deleted
// parent's lines are gone.
TEST(FakeService, InventoryLinesAreStoredReplacedAndQueried) {
  harness h;
  const auto s = h.login();
  auto make = [&](const std::string& type, const json& el) -> std::string {
    const auto r = h.create(s, type, el);
    EXPECT_TRUE(r["success"].get<bool>()) << r.dump();
    return r["result"].value("id", "");
  };
  const std::string p1 =
      make("Products", {{"productname", "P1"}, {"unit_price", "10"}, {"assigned_user_id", "19x1"}});
  const std::string p2 =
      make("Products", {{"productname", "P2"}, {"unit_price", "5"}, {"assigned_user_id", "19x1"}});
  const std::string account = make("Accounts", {{"accountname", "A"}, {"assigned_user_id", "19x1"}});
  const json header = {
      {"subject", "I"},  {"account_id", account},      {"bill_street", "b"},        {"ship_street", "s"},
      {"productid", p1}, {"assigned_user_id", "19x1"}, {"invoicestatus", "Created"}};
  json element = header;
  element["LineItems"] = json::array({{{"productid", p1}, {"quantity", "2"}, {"listprice", "10"}},
                                      {{"productid", p2}, {"quantity", "1"}, {"listprice", "5"}}});
  const auto created = h.create(s, "Invoice", element);
  ASSERT_TRUE(created["success"].get<bool>()) << created.dump();
  const std::string id = created["result"]["id"];
  EXPECT_DOUBLE_EQ(created["result"]["hdnSubTotal"].get<double>(), 25.0) << created.dump();

  const auto lines =
      h.rows(s, "SELECT id, productid, quantity FROM LineItem WHERE parent_id = '" + id + "';");
  ASSERT_EQ(lines.size(), 2u) << lines.dump();
  const std::string first_line = lines[0]["id"];
  EXPECT_EQ(first_line.rfind("33x", 0), 0u);

  auto revise = [&](const json& el) {
    return json::parse(h.post({{"operation", "revise"}, {"sessionName", s}, {"element", el.dump()}}).body);
  };
  const auto kept = revise({{"id", id}, {"LineItems", json::array()}});
  ASSERT_TRUE(kept["success"].get<bool>()) << kept.dump();
  EXPECT_EQ(h.rows(s, "SELECT id FROM LineItem WHERE parent_id = '" + id + "';").size(), 2u);
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM LineItem WHERE parent_id = '" + id + "';")[0]["count"], "2");

  const auto replaced = revise(
      {{"id", id},
       {"LineItems",
        json::array({{{"id", lines[1]["id"]}, {"productid", p1}, {"quantity", "3"}, {"listprice", "10"}}})}});
  ASSERT_TRUE(replaced["success"].get<bool>()) << replaced.dump();
  EXPECT_DOUBLE_EQ(replaced["result"]["hdnSubTotal"].get<double>(), 30.0) << replaced.dump();
  const auto after = h.rows(s, "SELECT id FROM LineItem WHERE parent_id = '" + id + "';");
  ASSERT_EQ(after.size(), 1u);
  // The sent id is ignored: the old lines go first, then the new one takes the table-wide MAX+1 (290).
  EXPECT_NE(after[0]["id"], lines[1]["id"]);
  EXPECT_EQ(after[0]["id"], first_line);

  const auto del_line =
      h.post({{"operation", "delete"}, {"sessionName", s}, {"id", after[0]["id"].get<std::string>()}});
  EXPECT_EQ(del_line.status, 500);
  EXPECT_EQ(h.rows(s, "SELECT id FROM LineItem WHERE parent_id = '" + id + "';").size(), 0u);

  const auto again = revise(
      {{"id", id}, {"LineItems", json::array({{{"productid", p2}, {"quantity", "1"}, {"listprice", "7"}}})}});
  ASSERT_TRUE(again["success"].get<bool>()) << again.dump();
  const auto del = json::parse(h.post({{"operation", "delete"}, {"sessionName", s}, {"id", id}}).body);
  ASSERT_TRUE(del["success"].get<bool>()) << del.dump();
  EXPECT_EQ(h.rows(s, "SELECT id FROM LineItem WHERE parent_id = '" + id + "';").size(), 0u);
}

// A real Vtiger 8.2 joins an inventory module's line rows for `*` (or any line column) and applies LIMIT to
// the joined rows: 100 line rows may be 4 invoices (recordings 560-562). Header columns alone page normally.
TEST(FakeService, InventoryStarPagesCountLineRows) {
  harness h;
  const auto s = h.login();
  auto make = [&](const std::string& type, const json& el) -> std::string {
    const auto r = h.create(s, type, el);
    EXPECT_TRUE(r["success"].get<bool>()) << r.dump();
    return r["result"].value("id", "");
  };
  const std::string p1 =
      make("Products", {{"productname", "P1"}, {"unit_price", "10"}, {"assigned_user_id", "19x1"}});
  const std::string account = make("Accounts", {{"accountname", "A"}, {"assigned_user_id", "19x1"}});
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    json lines = json::array();
    for (int k = 0; k < (i == 1 ? 40 : 2); ++k) lines.push_back({{"productid", p1}, {"quantity", "1"}});
    ids.push_back(make("Invoice", {{"subject", "I" + std::to_string(i)},
                                   {"account_id", account},
                                   {"bill_street", "b"},
                                   {"ship_street", "s"},
                                   {"productid", p1},
                                   {"assigned_user_id", "19x1"},
                                   {"invoicestatus", "Created"},
                                   {"LineItems", lines}}));
  }
  // 2 + 40 lines fill a window of 10 rows after the first record: 2 records (the second one partly).
  EXPECT_EQ(h.rows(s, "SELECT * FROM Invoice ORDER BY id LIMIT 10;").size(), 2u);
  EXPECT_EQ(h.rows(s, "SELECT subject, quantity FROM Invoice ORDER BY id LIMIT 10;").size(), 2u);
  EXPECT_EQ(h.rows(s, "SELECT subject, hdnDiscountPercent FROM Invoice LIMIT 10;").size(), 2u);
  EXPECT_EQ(
      h.rows(s, "SELECT subject, hdnGrandTotal, modifiedtime FROM Invoice ORDER BY id LIMIT 10;").size(), 5u);
  EXPECT_EQ(h.rows(s, "SELECT * FROM Invoice WHERE id > '" + ids[1] + "' ORDER BY id LIMIT 10;").size(), 3u);
  EXPECT_EQ(h.rows(s, "SELECT count(*) FROM Invoice;")[0]["count"], "5");
}

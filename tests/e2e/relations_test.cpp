// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. Related lists: `[modules.<Module>] related = [...]`
// is checked at start against Vtiger's relatedtypes (a label it does not list is a configuration error, exit
// 78 naming the file and the key); the links of those lists live in `<schema>.relations`: pulled for each
// record whose modifiedtime moved, a local INSERT pushed with add_related (and confirmed), a local DELETE or
// UPDATE of a link Vtiger has refused (there is no delete_related), a link Vtiger cannot make failed on its
// row with the reason, and the links of a record deleted in Vtiger removed.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string sql(const std::string& query) {
  auto conn = vt::connect_blocking();
  return vt::exec_scalar(conn.get(), query);
}

// The message PostgreSQL answers `query` with ("" when it succeeds).
std::string sql_error(const std::string& query) {
  try {
    (void)sql(query);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Relations, LabelRelatedtypesDoesNotListIsAConfigurationError) {
  vt::daemon_options o;
  o.start_daemon = false;
  o.extra_sync = "\n[modules.Contacts]\nrelated = [\"Potentials\", \"Deals\"]\n";
  vt::daemon_fixture f{o};
  for (const char* command : {"run", "check"}) {
    const auto r = f.vtsyncd({command}, 30s);
    EXPECT_EQ(r.exit_code, 78) << command << ": " << r.output;
    EXPECT_NE(
        r.output.find(f.config_path() +
                      ":modules.Contacts.related: Vtiger's relatedtypes for Contacts has no label 'Deals'"),
        std::string::npos)
        << command << ": " << r.output;
    EXPECT_EQ(r.output.find("label 'Potentials'"), std::string::npos) << r.output;
  }
}

TEST(Relations, LabelsRelatedtypesListsPassTheCheck) {
  vt::daemon_options o;
  o.start_daemon = false;
  o.extra_sync = "\n[modules.Contacts]\nrelated = [\"Potentials\", \"Sales Order\"]\n";
  vt::daemon_fixture f{o};
  const auto r = f.vtsyncd({"check"}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("modules.Contacts.related"), std::string::npos) << r.output;
  // One relatedtypes call per module with `related`, at start.
  EXPECT_EQ(vt::fake_stats(f.fake().port())["requests"].value("relatedtypes", 0), 1) << r.output;
}

TEST(Relations, LinksArePulledPushedAndNeverUnlinkedLocally) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Accounts=4", "--seed", "Contacts=6", "--seed", "Potentials=5"};
  o.modules = {"Contacts", "Potentials"};
  o.extra_sync = "\n[modules.Potentials]\nrelated = [\"Contacts\"]\n";
  vt::daemon_fixture f{o};
  const std::string table = "\"" + f.schema() + "\".relations";
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.mirror_rows("Contacts") == 6 && f.mirror_rows("Potentials") == 5; }, vt::scaled(30s)))
      << f.daemon().log();
  const auto port = f.fake().port();
  const auto potentials = vt::fake_dump(port, "Potentials");
  const auto contacts = vt::fake_dump(port, "Contacts");
  auto pot = [&](int i) { return potentials[i]["id"].get<std::string>(); };
  auto contact = [&](int i) { return contacts[i]["id"].get<std::string>(); };
  auto link_state = [&](const std::string& source, const std::string& label, const std::string& related) {
    return sql(
        "SELECT coalesce(vtiger_id, '-') || ' ' || _sync_state || ' ' || coalesce(_sync_error, '') FROM " +
        table + " WHERE source_id = '" + source + "' AND label = '" + label + "' AND related_id = '" +
        related + "'");
  };
  auto links_of = [&](const std::string& source) {
    return sql("SELECT count(*) FROM " + table + " WHERE source_id = '" + source + "'");
  };
  // The first load read each Potential's Contacts list once, and each Contact's Potentials list (the same
  // links seen from the other side, which only the Contact's modifiedtime shows): none has a link yet.
  EXPECT_EQ(vt::fake_stats(port)["requests"].value("retrieve_related", 0), 5 + 6);
  EXPECT_EQ(sql("SELECT count(*) FROM " + table), "0");

  // A link made in the CRM arrives with its source's change; an unlink in the CRM takes it away.
  vt::fake_post(port, "/_fake/link", {{"source", pot(0)}, {"related", contact(0)}, {"label", "Contacts"}});
  const std::string key0 = pot(0) + "|Contacts|" + contact(0);
  EXPECT_TRUE(vt::wait_until([&] { return link_state(pot(0), "Contacts", contact(0)) == key0 + " synced "; },
                             vt::scaled(10s)))
      << link_state(pot(0), "Contacts", contact(0)) << f.daemon().log();
  vt::fake_post(port, "/_fake/unlink", {{"source", pot(0)}, {"related", contact(0)}, {"label", "Contacts"}});
  EXPECT_TRUE(vt::wait_until([&] { return links_of(pot(0)) == "0"; }, vt::scaled(10s))) << f.daemon().log();

  // Linked and unlinked from the Contact's side (its "Potentials" list): Vtiger moves only the Contact, whose
  // pull reads its side of the Potentials' list.
  vt::fake_post(port, "/_fake/link", {{"source", contact(3)}, {"related", pot(3)}, {"label", "Potentials"}});
  const std::string key3 = pot(3) + "|Contacts|" + contact(3);
  EXPECT_TRUE(vt::wait_until([&] { return link_state(pot(3), "Contacts", contact(3)) == key3 + " synced "; },
                             vt::scaled(10s)))
      << f.daemon().log();
  vt::fake_post(port, "/_fake/unlink",
                {{"source", contact(3)}, {"related", pot(3)}, {"label", "Potentials"}});
  EXPECT_TRUE(vt::wait_until([&] { return links_of(pot(3)) == "0"; }, vt::scaled(10s))) << f.daemon().log();

  // Two links in one second, the list read between them: modifiedtime has whole seconds and does not move
  // for the second; the overlap's re-read reads the list again while that second is recent.
  const auto now = vt::fake_post(port, "/_fake/clock", json::object())["now"].get<std::int64_t>();
  vt::fake_post(port, "/_fake/clock", {{"set", now}});  // frozen: both links in the same second
  vt::fake_post(port, "/_fake/link", {{"source", pot(4)}, {"related", contact(4)}, {"label", "Contacts"}});
  ASSERT_TRUE(vt::wait_until([&] { return links_of(pot(4)) == "1"; }, vt::scaled(10s))) << f.daemon().log();
  vt::fake_post(port, "/_fake/link", {{"source", pot(4)}, {"related", contact(5)}, {"label", "Contacts"}});
  EXPECT_TRUE(vt::wait_until([&] { return links_of(pot(4)) == "2"; }, vt::scaled(10s))) << f.daemon().log();
  vt::fake_post(port, "/_fake/clock", {{"unfreeze", true}});

  // A local INSERT is pushed with add_related, confirmed, and keyed; the source's bump it causes is pulled
  // without an echo (no second row, nothing queued, one add_related).
  const auto added_before = vt::fake_stats(port)["requests"].value("add_related", 0);
  sql("INSERT INTO " + table + " (source_id, label, related_id) VALUES ('" + pot(1) + "', 'Contacts', '" +
      contact(1) + "')");
  const std::string key1 = pot(1) + "|Contacts|" + contact(1);
  ASSERT_TRUE(vt::wait_until([&] { return link_state(pot(1), "Contacts", contact(1)) == key1 + " synced "; },
                             vt::scaled(10s)))
      << link_state(pot(1), "Contacts", contact(1)) << f.daemon().log();
  EXPECT_EQ(vt::fake_linked(port, pot(1)), nlohmann::json::array({contact(1)}));
  const auto queries = vt::fake_stats(port)["requests"].value("query", 0);
  ASSERT_TRUE(vt::wait_until(
      [&] { return vt::fake_stats(port)["requests"].value("query", 0) >= queries + 4; }, vt::scaled(10s)));
  EXPECT_EQ(links_of(pot(1)), "1");
  EXPECT_EQ(vt::fake_stats(port)["requests"].value("add_related", 0), added_before + 1);
  EXPECT_EQ(
      sql("SELECT count(*) FROM vtsync.outbox WHERE state <> 'done' AND schema_name = '" + f.schema() + "'"),
      "0");
  EXPECT_TRUE(f.differences("Potentials").empty());

  // Vtiger cannot unlink through its web service: a DELETE or UPDATE of a link it has is refused, and says
  // where to do it; the row and the link stay.
  const std::string refused = sql_error("DELETE FROM " + table + " WHERE vtiger_id = '" + key1 + "'");
  EXPECT_NE(refused.find("cannot be removed or changed here (DELETE is refused)"), std::string::npos)
      << refused;
  EXPECT_NE(refused.find("Unlink the records in Vtiger"), std::string::npos) << refused;
  const std::string changed = sql_error("UPDATE " + table + " SET related_id = '" + contact(2) +
                                        "' WHERE vtiger_id = '" + key1 + "'");
  EXPECT_NE(changed.find("(UPDATE is refused)"), std::string::npos) << changed;
  EXPECT_EQ(links_of(pot(1)), "1");
  EXPECT_EQ(vt::fake_linked(port, pot(1)), nlohmann::json::array({contact(1)}));

  // Links Vtiger cannot make fail on their own rows with the reason (add_related itself answers success
  // for them), as does one of a list Vtiger has but the configuration does not sync (the Contacts' own
  // Potentials list); a good one in the same transaction goes on.
  sql("INSERT INTO " + table + " (source_id, label, related_id) VALUES ('" + pot(2) + "', 'Contacts', '" +
      pot(3) + "'), ('" + pot(2) + "', 'Bogus', '" + contact(2) + "'), ('" + contact(0) +
      "', 'Potentials', '" + pot(2) + "'), ('" + pot(2) + "', 'Contacts', '" + contact(2) + "')");
  const std::string key2 = pot(2) + "|Contacts|" + contact(2);
  ASSERT_TRUE(vt::wait_until([&] { return link_state(pot(2), "Contacts", contact(2)) == key2 + " synced "; },
                             vt::scaled(10s)))
      << f.daemon().log();
  ASSERT_TRUE(vt::wait_until(
      [&] { return sql("SELECT count(*) FROM " + table + " WHERE _sync_state = 'failed'") == "3"; },
      vt::scaled(10s)))
      << f.daemon().log();
  const std::string wrong_module = link_state(pot(2), "Contacts", pot(3));
  EXPECT_NE(wrong_module.find("- failed Vtiger answered add_related with success but " + pot(2) +
                              "'s Contacts list does not show " + pot(3)),
            std::string::npos)
      << wrong_module;
  const std::string bogus = link_state(pot(2), "Bogus", contact(2));
  EXPECT_NE(bogus.find("- failed label 'Bogus': Vtiger's relatedtypes for Potentials has no such list"),
            std::string::npos)
      << bogus;
  const std::string unsynced = link_state(contact(0), "Potentials", pot(2));
  EXPECT_NE(unsynced.find(
                "- failed label 'Potentials' of Contacts is not a synced list (modules.Contacts.related)"),
            std::string::npos)
      << unsynced;
  EXPECT_EQ(vt::fake_linked(port, pot(2)), nlohmann::json::array({contact(2)}));
  // `vtsyncd status` counts them on a line of their own.
  const auto status = f.vtsyncd({"status", "--json"}, 30s);
  ASSERT_EQ(status.exit_code, 0) << status.output;
  const auto shown = json::parse(status.output.substr(status.output.find('{')))["modules"]["Relations"];
  EXPECT_EQ(shown.value("failed", -1), 3) << status.output;
  EXPECT_EQ(shown.value("pending", -1), 0) << status.output;
  // A failed row was never in Vtiger: the user may delete it.
  EXPECT_EQ(sql_error("DELETE FROM " + table + " WHERE _sync_state = 'failed'"), "");
  EXPECT_EQ(links_of(pot(2)), "1");

  // A record deleted in Vtiger takes its links with it (as a source and as a related record).
  vt::fake_post(port, "/_fake/delete", {{"id", pot(1)}});
  EXPECT_TRUE(vt::wait_until([&] { return links_of(pot(1)) == "0"; }, vt::scaled(20s))) << f.daemon().log();
  vt::fake_post(port, "/_fake/delete", {{"id", contact(2)}});
  EXPECT_TRUE(vt::wait_until([&] { return links_of(pot(2)) == "0"; }, vt::scaled(20s))) << f.daemon().log();
  EXPECT_EQ(sql("SELECT string_agg(related_id, ' ' ORDER BY length(related_id), related_id) FROM " + table),
            contact(4) + " " + contact(5));  // what is left: the two same-second links

  // `vtsyncd resync --id` reads the record's lists again too: rows lost from the mirror (removed as only
  // the daemon may) come back, with the daemon stopped.
  ASSERT_EQ(f.daemon().stop(), 0) << f.daemon().log();
  {
    auto conn = vt::connect_blocking();
    vt::exec_scalar(conn.get(), "SELECT set_config('vtsync.origin', 'daemon', false)");
    vt::exec_scalar(conn.get(), "DELETE FROM " + table + " WHERE source_id = '" + pot(4) + "'");
  }
  ASSERT_EQ(links_of(pot(4)), "0");
  const auto resync = f.vtsyncd({"resync", "--id", pot(4)}, 30s);
  EXPECT_EQ(resync.exit_code, 0) << resync.output;
  EXPECT_EQ(links_of(pot(4)), "2") << resync.output;
}

// A list added to a module mirrored already: the links of its records (which do not move) are read once,
// by a walk over the mirror in batches, and the overlap's re-reads of unchanged records ask nothing.
TEST(Relations, AListAddedToAMirroredModuleIsReadOnce) {
  vt::daemon_options o;
  o.fake_args = {"--seed", "Accounts=4", "--seed", "Contacts=30", "--seed", "Potentials=45"};
  o.modules = {"Contacts", "Potentials"};
  o.start_daemon = false;
  vt::daemon_fixture f{o};
  const auto port = f.fake().port();
  const auto potentials = vt::fake_dump(port, "Potentials");
  const auto contacts = vt::fake_dump(port, "Contacts");
  // An hour ago (Vtiger's clock): these records are settled, not in the overlap's recent seconds.
  vt::fake_post(port, "/_fake/clock", {{"advance_seconds", -3600}});
  for (const auto& [p, c] : {std::pair{0, 0}, {0, 1}, {44, 29}})
    vt::fake_post(port, "/_fake/link",
                  {{"source", potentials[p]["id"]}, {"related", contacts[c]["id"]}, {"label", "Contacts"}});
  const auto backfill = f.vtsyncd({"backfill"});
  ASSERT_EQ(backfill.exit_code, 0) << backfill.output;
  ASSERT_EQ(f.mirror_rows("Potentials"), 45);
  EXPECT_EQ(sql("SELECT to_regclass('\"" + f.schema() + "\".relations') IS NULL"), "t");

  {
    std::ofstream config(f.config_path(), std::ios::app);
    config << "\n[modules.Potentials]\nrelated = [\"Contacts\"]\n";
  }
  const auto before = vt::fake_stats(port)["requests"].value("retrieve_related", 0);
  f.start_daemon();
  const std::string table = "\"" + f.schema() + "\".relations";
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.daemon().log().find("related lists loaded") != std::string::npos; }, vt::scaled(20s)))
      << f.daemon().log();
  EXPECT_EQ(sql("SELECT string_agg(vtiger_id, ' ' ORDER BY vtiger_id) FROM " + table),
            potentials[0]["id"].get<std::string>() + "|Contacts|" + contacts[0]["id"].get<std::string>() +
                " " + potentials[0]["id"].get<std::string>() + "|Contacts|" +
                contacts[1]["id"].get<std::string>() + " " + potentials[44]["id"].get<std::string>() +
                "|Contacts|" + contacts[29]["id"].get<std::string>());
  EXPECT_EQ(sql("SELECT done FROM vtsync.relation_loads WHERE schema_name = '" + f.schema() +
                "' AND module = 'Potentials' AND label = 'Contacts'"),
            "t");
  // Each Potential read once; a few more cycles ask nothing more.
  const auto queries = vt::fake_stats(port)["requests"].value("query", 0);
  ASSERT_TRUE(vt::wait_until(
      [&] { return vt::fake_stats(port)["requests"].value("query", 0) >= queries + 6; }, vt::scaled(10s)));
  EXPECT_EQ(vt::fake_stats(port)["requests"].value("retrieve_related", 0) - before, 45) << f.daemon().log();

  // The list leaves the configuration (the Contacts' own list comes instead): its rows and its load go, so
  // nothing stale stays; configured again, it is read again.
  ASSERT_EQ(f.daemon().stop(), 0) << f.daemon().log();
  auto configure = [&](const std::string& lists) {
    std::ifstream in(f.config_path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = text.substr(0, text.find("\n[modules."));
    std::ofstream(f.config_path(), std::ios::trunc) << text << lists;
  };
  const std::string from_potentials =
      "SELECT count(*) FROM " + table + " WHERE source_id LIKE '" +
      potentials[0]["id"].get<std::string>().substr(0, potentials[0]["id"].get<std::string>().find('x')) +
      "x%'";
  configure("\n[modules.Contacts]\nrelated = [\"Potentials\"]\n");
  f.start_daemon();
  ASSERT_TRUE(vt::wait_until(
      [&] { return f.daemon().log().find("related lists loaded") != std::string::npos; }, vt::scaled(20s)))
      << f.daemon().log();
  EXPECT_EQ(sql(from_potentials), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM " + table), "3");  // the same links, from the Contacts' side
  EXPECT_EQ(sql("SELECT string_agg(module, ' ') FROM vtsync.relation_loads WHERE schema_name = '" +
                f.schema() + "'"),
            "Contacts");
  ASSERT_EQ(f.daemon().stop(), 0) << f.daemon().log();
  configure(
      "\n[modules.Contacts]\nrelated = [\"Potentials\"]\n[modules.Potentials]\nrelated = [\"Contacts\"]\n");
  f.start_daemon();
  EXPECT_TRUE(vt::wait_until([&] { return sql(from_potentials) == "3"; }, vt::scaled(20s)))
      << f.daemon().log();
}

}  // namespace

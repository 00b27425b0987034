// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES).
// The page store: rows and cursor in one transaction, no rewrite of unchanged rows, local changes kept,
// lost connections survived, remote deletions, the known ids per id range and backfill ranges.
#include <algorithm>
#include <set>

#include "record_rows.hpp"
#include "storage_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
using nlohmann::json;

namespace {

class page_store : public vt::storage_test {
 protected:
  void SetUp() override {
    storage_test::SetUp();
    table = contacts_table();
    run(ensure_table(table));
  }
  std::string rows() { return scalar("SELECT count(*) FROM " + mirror("contacts")); }
  std::string cursor() {
    return scalar("SELECT coalesce(max(modifiedtime || '/' || last_id), '') FROM " + state("cursors"));
  }
  std::string xmins() {
    return scalar("SELECT string_agg(xmin::text, ',' ORDER BY vtiger_id) FROM " + mirror("contacts"));
  }
  std::string outbox_size() { return scalar("SELECT count(*) FROM " + state("outbox")); }

  st::mirror_table table;
  const st::cursor_position next{"2026-11-28 01:05:02", "12x100"};
};

}  // namespace

TEST_F(page_store, RowsAndCursorCommitTogether) {
  const auto records = vt::contact_records(1, 100);
  const auto result = run(mirror_db->store_page(table, vt::rows(table, records), {.cursor = next}));
  EXPECT_EQ(result.inserted, 100u);
  EXPECT_EQ(result.updated + result.unchanged + result.malformed_values, 0u);
  EXPECT_EQ(rows(), "100");
  EXPECT_EQ(cursor(), "2026-11-28 01:05:02/12x100");
  EXPECT_EQ(run(cursors_db->load_cursor("Contacts")), next);
  EXPECT_EQ(outbox_size(), "0");  // the daemon's own writes are not captured
  EXPECT_EQ(scalar("SELECT count(*) FROM " + mirror("contacts") +
                   " WHERE _sync_state = 'synced' AND "
                   "_sync_base::jsonb->>'id' = vtiger_id"),
            "100");
}

TEST_F(page_store, AFailureBetweenRowsAndCursorLeavesNeither) {
  st::page_options failing{.cursor = next};
  int calls = 0;
  failing.before_progress = [&] {
    ++calls;
    throw std::runtime_error("injected between the upsert and the cursor");
  };
  EXPECT_THROW(run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 100)), failing)),
               std::runtime_error);
  EXPECT_EQ(calls, 1);  // not a database error: not retried
  EXPECT_EQ(rows(), "0");
  EXPECT_EQ(cursor(), "");
  EXPECT_FALSE(run(cursors_db->load_cursor("Contacts")).has_value());
}

TEST_F(page_store, ARowViolatingAConstraintLeavesNeither) {
  run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 5)), {.cursor = next}));
  scalar("ALTER TABLE " + mirror("contacts") + " ADD CONSTRAINT no_bad CHECK (lastname <> 'BAD')");
  auto records = vt::contact_records(6, 10);
  records[7]["lastname"] = "BAD";
  try {
    run(mirror_db->store_page(table, vt::rows(table, records),
                              {.cursor = st::cursor_position{"2026-12-01 00:00:00", "12x15"}}));
    FAIL() << "constraint violation accepted";
  } catch (const st::pg_error& e) {
    EXPECT_EQ(e.kind(), st::error_kind::data);
    EXPECT_EQ(e.sqlstate(), "23514");
  }
  EXPECT_EQ(rows(), "5");
  EXPECT_EQ(cursor(), "2026-11-28 01:05:02/12x100");
}

TEST_F(page_store, UnchangedRowsAreNotRewritten) {
  const auto records = vt::contact_records(1, 50);
  run(mirror_db->store_page(table, vt::rows(table, records), {.cursor = next}));
  const auto before = xmins();

  const auto again = run(mirror_db->store_page(table, vt::rows(table, records), {.cursor = next}));
  EXPECT_EQ(again.unchanged, 50u);
  EXPECT_EQ(again.inserted + again.updated, 0u);
  EXPECT_EQ(xmins(), before);

  auto changed = records;
  changed[3]["title"] = "Engineer";
  changed[3]["modifiedtime"] = "2026-11-29 08:00:00";
  const auto third = run(mirror_db->store_page(table, vt::rows(table, changed)));
  EXPECT_EQ(third.updated, 1u);
  EXPECT_EQ(third.unchanged, 49u);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + mirror("contacts") +
                   " WHERE xmin::text = ANY (string_to_array('" + before + "', ','))"),
            "49");
  EXPECT_EQ(scalar("SELECT title FROM " + mirror("contacts") + " WHERE vtiger_id = '12x4'"), "Engineer");
  EXPECT_EQ(outbox_size(), "0");
}

// New records are COPYed; a page that meets stored records is rolled back to its savepoint and upserted,
// and COPY is tried again only after a page that was all new. Whichever way, the rows are the same.
TEST_F(page_store, NewPagesAreCopiedAndPagesWithStoredRecordsUpserted) {
  st::state_options berlin = options;
  berlin.vtiger_timezone = "Europe/Berlin";
  st::mirror_rows s{*conn, berlin};
  const auto a = run(s.store_page(table, vt::rows(table, vt::contact_records(1, 100)), {.cursor = next}));
  EXPECT_TRUE(a.copied);
  EXPECT_EQ(a.inserted, 100u);
  EXPECT_EQ(cursor(), "2026-11-28 01:05:02/12x100");

  auto overlap = vt::contact_records(91, 100);
  overlap[0]["title"] = "Changed";  // 12x91: stored, now different
  const auto b = run(s.store_page(table, vt::rows(table, overlap)));
  EXPECT_FALSE(b.copied);
  EXPECT_EQ(b.inserted, 90u);
  EXPECT_EQ(b.updated, 1u);
  EXPECT_EQ(b.unchanged, 9u);
  EXPECT_EQ(rows(), "190");  // the rolled-back COPY left nothing behind

  const auto c = run(s.store_page(table, vt::rows(table, vt::contact_records(191, 10))));
  EXPECT_FALSE(c.copied);  // the last page held stored records: upsert first
  EXPECT_EQ(c.inserted, 10u);
  const auto d = run(s.store_page(table, vt::rows(table, vt::contact_records(201, 10))));
  EXPECT_TRUE(d.copied);  // the last page was all new: COPY again
  EXPECT_EQ(d.inserted, 10u);
  EXPECT_EQ(rows(), "210");
  EXPECT_EQ(scalar("SELECT count(DISTINCT vtiger_id) FROM " + mirror("contacts")), "210");
  EXPECT_EQ(scalar("SELECT title FROM " + mirror("contacts") + " WHERE vtiger_id = '12x91'"), "Changed");

  // The same wall-clock text becomes the same instant by COPY (the session's zone) and by the upsert (the
  // zone named in the statement), in the server's zone, and the session is back in UTC afterwards.
  auto copied = vt::contact_record(211, "2026-07-01 12:00:00");
  auto upserted = vt::contact_record(191, "2026-07-01 12:00:00");
  ASSERT_TRUE(run(s.store_page(table, vt::rows(table, std::vector<json>{copied}))).copied);
  ASSERT_FALSE(run(s.store_page(table, vt::rows(table, std::vector<json>{upserted}))).copied);
  EXPECT_EQ(
      scalar("SELECT string_agg(vtiger_id || '=' || (modifiedtime AT TIME ZONE 'UTC')::text, ',' ORDER BY "
             "vtiger_id) FROM " +
             mirror("contacts") + " WHERE vtiger_id IN ('12x191', '12x211')"),
      "12x191=2026-07-01 10:00:00,12x211=2026-07-01 10:00:00");
  EXPECT_EQ(run(conn->query("SHOW TimeZone")).value(0, 0), "UTC");
  EXPECT_EQ(outbox_size(), "0");  // COPY's rows are the daemon's: not captured
}

TEST_F(page_store, DuplicateIdsInAPageKeepTheLastOne) {
  auto records = vt::contact_records(1, 3);
  auto newer = vt::contact_record(2, "2026-11-30 00:00:00");
  newer["lastname"] = "Newer";
  records.push_back(newer);
  const auto result = run(mirror_db->store_page(table, vt::rows(table, records)));
  EXPECT_EQ(result.inserted, 3u);
  EXPECT_EQ(scalar("SELECT lastname FROM " + mirror("contacts") + " WHERE vtiger_id = '12x2'"), "Newer");
}

TEST_F(page_store, LocalChangesAreKeptAndReportedUnlessOverwritten) {
  run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 3))));
  scalar("UPDATE " + mirror("contacts") + " SET title = 'local' WHERE vtiger_id = '12x2'");
  EXPECT_EQ(scalar("SELECT _sync_state FROM " + mirror("contacts") + " WHERE vtiger_id = '12x2'"), "pending");

  auto remote = vt::contact_records(1, 3);
  for (auto& r : remote) r["department"] = "remote";
  const auto kept = run(mirror_db->store_page(table, vt::rows(table, remote)));
  EXPECT_EQ(kept.skipped_local, std::vector<std::string>{"12x2"});
  EXPECT_EQ(kept.updated, 2u);
  EXPECT_EQ(
      scalar("SELECT title || '/' || department FROM " + mirror("contacts") + " WHERE vtiger_id = '12x2'"),
      "local/");

  const auto overwritten = run(mirror_db->store_page(table, vt::rows(table, remote),
                                                     {.on_local_changes = st::local_changes::overwrite}));
  EXPECT_TRUE(overwritten.skipped_local.empty());
  EXPECT_EQ(overwritten.updated, 1u);
  EXPECT_EQ(scalar("SELECT title || '/' || department || '/' || _sync_state FROM " + mirror("contacts") +
                   " WHERE vtiger_id = '12x2'"),
            "/remote/synced");
}

TEST_F(page_store, ADroppedConnectionDuringAPageIsRetriedAndWritesOnce) {
  const int sessions = conn->connect_count();
  int calls = 0;
  st::page_options options_with_fault{.cursor = next};
  options_with_fault.before_progress = [&] {
    // The rows are written but not committed; the cursor is next. Kill our session right here.
    if (++calls == 1) {
      scalar("SELECT pg_terminate_backend(" + std::to_string(conn->backend_pid()) + ")");
      scalar(
          "DO $$ BEGIN FOR i IN 1..500 LOOP EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid "
          "= " +
          std::to_string(conn->backend_pid()) + "); PERFORM pg_sleep(0.01); END LOOP; END $$");
    }
  };
  const auto result =
      run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 100)), options_with_fault));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(conn->connect_count(), sessions + 1);
  EXPECT_EQ(result.inserted, 100u);
  EXPECT_EQ(rows(), "100");
  EXPECT_EQ(cursor(), "2026-11-28 01:05:02/12x100");
}

TEST_F(page_store, RemoteDeletesRemoveOrMark) {
  run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 5))));
  const std::vector<std::string> gone{"12x2", "12x4", "12x404"};
  EXPECT_EQ(run(mirror_db->apply_remote_deletes(table, gone, st::remote_delete::mark)), 2u);
  EXPECT_EQ(scalar("SELECT string_agg(vtiger_id, ',' ORDER BY vtiger_id) FROM " + mirror("contacts") +
                   " WHERE _sync_state = 'deleted'"),
            "12x2,12x4");
  EXPECT_EQ(run(mirror_db->apply_remote_deletes(table, gone, st::remote_delete::remove)), 2u);
  EXPECT_EQ(rows(), "3");
  EXPECT_EQ(outbox_size(), "0");
}

TEST_F(page_store, KnownIdsPerIdRangeAndIdRange) {
  run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 25))));
  const std::vector<std::string> marked{"12x3"};
  run(mirror_db->apply_remote_deletes(table, marked, st::remote_delete::mark));
  // A local create not pushed yet (no vtiger_id) and a local delete not pushed yet (its record is still in
  // Vtiger): the first is not known, the second still is.
  scalar("INSERT INTO " + mirror("contacts") + " (firstname, lastname) VALUES ('Local', 'Create')");
  scalar("DELETE FROM " + mirror("contacts") + " WHERE vtiger_id = '12x10'");
  const std::vector<st::id_range> ranges{{0, std::nullopt}, {1, 11}, {11, std::nullopt}, {20, 22}, {26, 90}};
  EXPECT_EQ(run(mirror_db->count_known(table, ranges)), (std::vector<std::int64_t>{24, 9, 15, 2, 0}));
  // In id order by number (12x10 after 12x9), not by text.
  EXPECT_EQ(
      run(mirror_db->known_ids(table, {1, 11})),
      (std::vector<std::string>{"12x1", "12x2", "12x4", "12x5", "12x6", "12x7", "12x8", "12x9", "12x10"}));
  EXPECT_EQ(run(mirror_db->known_id_at(table, {0, std::nullopt}, 0)), "12x1");
  EXPECT_EQ(run(mirror_db->known_id_at(table, {0, std::nullopt}, 23)), "12x25");
  EXPECT_EQ(run(mirror_db->known_id_at(table, {0, std::nullopt}, 24)), std::nullopt);
  EXPECT_EQ(run(mirror_db->known_id_at(table, {11, 20}, 4)), "12x15");
  // Once the local delete is pushed, Vtiger no longer has the record either.
  scalar("UPDATE " + state("outbox") + " SET state = 'done' WHERE op = 'delete'");
  const std::vector<st::id_range> all{{0, std::nullopt}};
  EXPECT_EQ(run(mirror_db->count_known(table, all)), (std::vector<std::int64_t>{23}));
  const auto range = run(mirror_db->local_id_range(table));
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 1);
  EXPECT_EQ(range->second, 25);
  // A row marked deleted is no longer the largest id the mirror knows.
  const std::vector<std::string> last{"12x25"};
  run(mirror_db->apply_remote_deletes(table, last, st::remote_delete::mark));
  EXPECT_EQ(run(mirror_db->local_id_range(table))->second, 24);
  EXPECT_EQ(run(mirror_db->count_known(table, all)), (std::vector<std::int64_t>{22}));
}

TEST_F(page_store, BackfillProgressIsStoredWithItsPage) {
  const auto plan = st::split_id_range(1, 300, 3);
  run(backfill_db->plan_backfill("Contacts", plan));
  EXPECT_EQ(run(backfill_db->load_backfill("Contacts")), plan);

  run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(1, 50)),
                            {.backfill = st::backfill_progress{0, 50, false}}));
  st::page_options failing{.backfill = st::backfill_progress{0, 100, true}};
  failing.before_progress = [] { throw std::runtime_error("injected"); };
  EXPECT_THROW(run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(51, 50)), failing)),
               std::runtime_error);
  const auto loaded = run(backfill_db->load_backfill("Contacts"));
  EXPECT_EQ(loaded[0].last_id_done, 50);
  EXPECT_FALSE(loaded[0].done);
  EXPECT_EQ(rows(), "50");
  // A range that was never planned is an error, and the page is not stored either.
  EXPECT_THROW(run(mirror_db->store_page(table, vt::rows(table, vt::contact_records(51, 5)),
                                         {.backfill = st::backfill_progress{9, 1, true}})),
               st::pg_error);
  EXPECT_EQ(rows(), "50");
}

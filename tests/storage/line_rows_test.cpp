// Inventory line items in storage (line_rows.hpp): the lines table next to the header's, lines stored with
// their page and matched by (header, sequence_no) without churn, and a user's line changes captured as ONE
// pending change of the header (folded), never for the daemon's writes; a header's delete cascades.
#include <gtest/gtest.h>

#include <fstream>

#include "record_rows.hpp"
#include "storage_fixture.hpp"
#include "vtsync/storage/line_rows.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
using nlohmann::json;

namespace {

json describe_of(const std::string& file) {
  std::ifstream in(vt::fixtures_dir() + "/" + file);
  return json::parse(in).at("response").at("body").at("result");
}

json invoice(int n, const std::string& modifiedtime) {
  static const auto describe = describe_of("207-describe-invoice.json");
  json r = json::object();
  for (const auto& f : describe["fields"]) r[f["name"].get<std::string>()] = "";
  r["id"] = "7x" + std::to_string(n);
  r["subject"] = "Invoice " + std::to_string(n);
  r["invoicestatus"] = "Created";
  r["assigned_user_id"] = "19x1";
  r["modifiedtime"] = modifiedtime;
  r["createdtime"] = "2026-12-05 08:00:00";
  return r;
}

json line(const std::string& id, int parent, int seq, const std::string& qty) {
  return {{"id", id},
          {"parent_id", "7x" + std::to_string(parent)},
          {"productid", "14x9"},
          {"sequence_no", std::to_string(seq)},
          {"quantity", qty},
          {"listprice", "12.50000000"},
          {"comment", "line " + std::to_string(seq)}};
}

class line_rows_test : public vt::storage_test {
 protected:
  void SetUp() override {
    storage_test::SetUp();
    header = vtsync::record::table_from_describe(mirror_schema, describe_of("207-describe-invoice.json"));
    header.lines = std::make_shared<const st::mirror_table>(st::line_table_for(
        header,
        vtsync::record::table_from_describe(mirror_schema, describe_of("208-describe-lineitem.json"))));
    run(ensure_table(header));
    run(st::ensure_line_table(*conn, header, state_schema));
  }

  // A page of headers with their lines, stored as the pull stores it (one transaction).
  void store(const std::vector<json>& headers, const std::vector<std::string>& parents,
             const std::vector<json>& lines) {
    st::page_options o;
    const auto line_rows = vt::rows(*header.lines, lines);
    o.with_rows = [&](st::connection& c) -> boost::asio::awaitable<void> {
      (void)co_await st::store_lines(c, header, parents, line_rows, "UTC");
    };
    run(mirror_db->store_page(header, vt::rows(header, headers), o));
  }

  std::string lines_table() { return mirror("invoice_lineitems"); }
  std::string outbox_count() { return scalar("SELECT count(*) FROM " + state("outbox")); }

  st::mirror_table header;
};

}  // namespace

TEST_F(line_rows_test, TableNextToTheHeaderWithTheContractColumns) {
  const auto cols =
      scalar("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '" +
             lines_table() + "'::regclass AND attnum > 0 AND NOT attisdropped");
  EXPECT_EQ(cols.rfind("_row_id,vtiger_id,parent_id,parent_row_id,sequence_no,productid,quantity,", 0), 0u)
      << cols;
  EXPECT_NE(cols.find("listprice"), std::string::npos);
  EXPECT_NE(cols.find("_sync_state,_sync_error"), std::string::npos);
  EXPECT_EQ(scalar("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = '" + lines_table() +
                   "'::regclass AND attname = 'quantity'"),
            "numeric");
  // Idempotent (every daemon prepares the tables).
  run(st::ensure_line_table(*conn, header, state_schema));
}

TEST_F(line_rows_test, PulledLinesMatchedBySequenceWithoutChurn) {
  store({invoice(1, "2026-12-05 08:00:01"), invoice(2, "2026-12-05 08:00:02")}, {"7x1", "7x2"},
        {line("33x1", 1, 1, "3.000"), line("33x2", 1, 2, "2.000"), line("33x3", 2, 1, "1.000")});
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table() + " WHERE _sync_state = 'synced'"), "3");
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table() + " l JOIN " + mirror("invoice") +
                   " h ON h._row_id = l.parent_row_id AND h.vtiger_id = l.parent_id"),
            "3");
  const auto row_ids = scalar("SELECT string_agg(_row_id::text, ',' ORDER BY sequence_no) FROM " +
                              lines_table() + " WHERE parent_id = '7x1'");

  // Vtiger rewrote invoice 1's lines (new ids, line 2's quantity changed) and dropped invoice 2's.
  store({invoice(1, "2026-12-05 08:01:00"), invoice(2, "2026-12-05 08:01:00")}, {"7x1", "7x2"},
        {line("33x4", 1, 1, "3.000"), line("33x5", 1, 2, "5.000")});
  EXPECT_EQ(scalar("SELECT string_agg(_row_id::text, ',' ORDER BY sequence_no) FROM " + lines_table() +
                   " WHERE parent_id = '7x1'"),
            row_ids);
  EXPECT_EQ(scalar("SELECT string_agg(vtiger_id || ':' || quantity::float8, ',' ORDER BY sequence_no) FROM " +
                   lines_table()),
            "33x4:3,33x5:5");
  EXPECT_EQ(outbox_count(), "0") << "the daemon's writes are never captured";

  // Ids swapped between the lines (Vtiger renumbers): the unique vtiger_id does not get in the way.
  store({invoice(1, "2026-12-05 08:02:00")}, {"7x1"},
        {line("33x5", 1, 1, "3.000"), line("33x4", 1, 2, "5.000")});
  EXPECT_EQ(scalar("SELECT string_agg(vtiger_id, ',' ORDER BY sequence_no) FROM " + lines_table()),
            "33x5,33x4");
}

TEST_F(line_rows_test, UserLineChangesBecomeOneChangeOfTheHeader) {
  store({invoice(1, "2026-12-05 08:00:01")}, {"7x1"},
        {line("33x1", 1, 1, "3.000"), line("33x2", 1, 2, "2.000")});
  const auto header_row = scalar("SELECT _row_id FROM " + mirror("invoice") + " WHERE vtiger_id = '7x1'");

  // A header UPDATE first, then line changes in one transaction: all ONE pending change of the header.
  scalar("UPDATE " + mirror("invoice") + " SET subject = 'renamed' WHERE vtiger_id = '7x1'");
  scalar("BEGIN; UPDATE " + lines_table() + " SET quantity = 4 WHERE vtiger_id = '33x1'; DELETE FROM " +
         lines_table() + " WHERE vtiger_id = '33x2'; INSERT INTO " + lines_table() +
         " (parent_id, sequence_no, productid, quantity) VALUES ('7x1', 3, '14x9', 1); COMMIT");
  EXPECT_EQ(scalar("SELECT string_agg(table_name || ':' || row_id || ':' || op || ':' || "
                   "array_to_string(changed_columns, ' '), ',') FROM " +
                   state("outbox")),
            "invoice:" + header_row + ":update:subject LineItems");
  EXPECT_EQ(scalar("SELECT _sync_state FROM " + mirror("invoice") + " WHERE vtiger_id = '7x1'"), "pending");
  EXPECT_EQ(scalar("SELECT parent_row_id FROM " + lines_table() + " WHERE sequence_no = 3"), header_row)
      << "parent_row_id is filled in from parent_id";
  EXPECT_EQ(scalar("SELECT string_agg(_sync_state, ',' ORDER BY sequence_no) FROM " + lines_table()),
            "pending,pending");

  // The pull leaves a header with unpushed line changes alone.
  store({invoice(1, "2026-12-05 08:05:00")}, {"7x1"}, {line("33x8", 1, 1, "9.000")});
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table() + " WHERE parent_id = '7x1'"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table() + " WHERE quantity = 9"), "0");

  // A line without a header is refused with a clear message.
  EXPECT_THROW(
      scalar("INSERT INTO " + lines_table() + " (sequence_no, productid, quantity) VALUES (1, '14x9', 1)"),
      std::runtime_error);
}

TEST_F(line_rows_test, HeaderInsertedWithLinesIsOneCreate) {
  scalar("WITH h AS (INSERT INTO " + mirror("invoice") +
         " (subject, invoicestatus) VALUES ('X', 'Created') RETURNING _row_id) INSERT INTO " + lines_table() +
         " (parent_row_id, sequence_no, productid, quantity, listprice) SELECT h._row_id, l.* FROM h, "
         "(VALUES (1, '14x7', 2, 10), (2, '14x8', 1, 5), (3, '14x9', 3, 1)) AS l");
  EXPECT_EQ(scalar("SELECT string_agg(op, ',') FROM " + state("outbox")), "insert");
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table() +
                   " WHERE _sync_state = 'pending' AND parent_id IS NULL"),
            "3");
}

TEST_F(line_rows_test, HeaderDeleteCascadesToItsLines) {
  store({invoice(1, "2026-12-05 08:00:01")}, {"7x1"},
        {line("33x1", 1, 1, "3.000"), line("33x2", 1, 2, "2.000")});
  scalar("DELETE FROM " + mirror("invoice") + " WHERE vtiger_id = '7x1'");
  EXPECT_EQ(scalar("SELECT count(*) FROM " + lines_table()), "0");
  EXPECT_EQ(scalar("SELECT string_agg(op, ',') FROM " + state("outbox")), "delete");
}

#pragma once
// The outbox tests' start (outbox_test.cpp, outbox_control_test.cpp): Contacts' mirror table holding three
// stored records, and an outbox on the test's connection.
#include <memory>
#include <string>
#include <vector>

#include "record_rows.hpp"
#include "storage_fixture.hpp"
#include "vtsync/storage/outbox.hpp"

namespace vtsync::test {

class outbox_storage_test : public storage_test {
 protected:
  void SetUp() override {
    storage_test::SetUp();
    table = contacts_table();
    run(ensure_table(table));
    run(mirror_db->store_page(table, rows(table, contact_records(1, 3))));
    box = std::make_unique<storage::outbox>(*conn, options);
    tables = {table};
  }

  // One value of the Contacts mirror row(s) `where` selects.
  std::string row(const std::string& expr, const std::string& where) {
    return scalar("SELECT " + expr + " FROM " + mirror("contacts") + " WHERE " + where);
  }

  storage::mirror_table table;
  std::vector<storage::mirror_table> tables;
  std::unique_ptr<storage::outbox> box;
};

}  // namespace vtsync::test

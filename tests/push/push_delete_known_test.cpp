// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger).
// A local DELETE of a row whose create Vtiger already accepted, before the write-back gave the row its id:
// the record must be deleted in Vtiger, not left there without a row (the pull would bring it back). The
// delete is captured with no id (the row has none yet); the id reaches it from the create's entry: through
// record_created when the delete came first, through the write-back otherwise, and through the retried
// entry when the process died in between.
// push_fixture.hpp uses record/table.hpp without including it.
#include "vtsync/sync/record/table.hpp"

#include "push_fixture.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;

namespace {

struct simulated_crash {};

enum class when { accepted_not_recorded, recorded, recorded_then_crash };

class push_delete_known : public vt::push_test, public ::testing::WithParamInterface<when> {};

}  // namespace

TEST_P(push_delete_known, LocalDeleteOfAnAcceptedCreateDeletesTheRecord) {
  const auto param = GetParam();
  start();
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Short-lived')");
  std::string accepted_id;
  const auto delete_row = [&] {
    // The user's own DELETE, committed while the push sits between Vtiger's answer and the write-back.
    EXPECT_TRUE(dump().size() == 1u);
    accepted_id = dump()[0]["id"].get<std::string>();
    sql("DELETE FROM " + contacts() + " WHERE lastname = 'Short-lived'");
    // Captured without an id: the row had none yet.
    EXPECT_EQ(sql("SELECT count(*) FROM " + state("outbox") + " WHERE op = 'delete' AND vtiger_id IS NULL"),
              "1");
  };
  sy::push_settings s;
  bool once = false;
  if (param == when::accepted_not_recorded) {
    s.after_create = [&](const st::outbox_entry&) {
      if (!std::exchange(once, true)) delete_row();
    };
  } else {
    s.after_accepted = [&](const st::outbox_entry&) {
      if (std::exchange(once, true)) return;
      delete_row();
      if (param == when::recorded_then_crash) throw simulated_crash{};
    };
  }
  make_pusher(s);
  if (param == when::recorded_then_crash) {
    EXPECT_THROW(drain(), simulated_crash);
    EXPECT_EQ(dump().size(), 1u);
    make_pusher({});  // the next start: its first drain gives the in-flight entry back and adopts nothing
  }
  drain();
  ASSERT_FALSE(accepted_id.empty());
  EXPECT_EQ(dump().size(), 0u) << accepted_id << " left in Vtiger";
  EXPECT_EQ(requests("create"), 1u);
  EXPECT_EQ(requests("delete"), 1u);
  EXPECT_EQ(sql("SELECT count(*) FROM " + contacts()), "0");
  EXPECT_EQ(sql("SELECT string_agg(op || ':' || state || ':' || coalesce(vtiger_id, '-'), ',' ORDER BY id) "
                "FROM " +
                state("outbox")),
            "insert:done:" + accepted_id + ",delete:done:" + accepted_id);
  // Nothing for a later drain either.
  EXPECT_EQ(drain().handled, 0u);
  EXPECT_EQ(requests("create"), 1u);
}

INSTANTIATE_TEST_SUITE_P(moments, push_delete_known,
                         ::testing::Values(when::accepted_not_recorded, when::recorded,
                                           when::recorded_then_crash),
                         [](const auto& name_info) {
                           switch (name_info.param) {
                             case when::accepted_not_recorded:
                               return std::string{"AcceptedIdNotYetRecorded"};
                             case when::recorded:
                               return std::string{"IdRecordedBeforeTheWriteBack"};
                             case when::recorded_then_crash:
                               return std::string{"IdRecordedThenTheProcessDied"};
                           }
                           return std::string{"unknown"};
                         });

// Needs: PostgreSQL (VTSYNC_TEST_POSTGRES), fake Vtiger (build/fake-vtiger) for the effects; the table
// checks need nothing.
// The push's outcome table (sync/engine/push_outcomes.hpp): every (operation x how Vtiger's call ended)
// pair, from Vtiger's error codes and the client's error kinds, maps to the action the header declares;
// then the representative effects of each action, observed on the fake and the mirror.
#include <set>

// push_fixture.hpp uses record/table.hpp without including it.
#include "vtsync/sync/record/table.hpp"

#include "push_fixture.hpp"
#include "vtsync/sync/engine/push_outcomes.hpp"

namespace vt = vtsync::test;
namespace st = vtsync::storage;
namespace sy = vtsync::sync;
namespace vtg = vtsync::vtiger;
using nlohmann::json;
using sy::call_end;
using sy::push_step;
using sy::reaction;

namespace {

struct operation {
  std::string name;  // the web-service operation
  push_step step;
};

const std::vector<operation> operations{{"create", push_step::create},
                                        {"revise", push_step::revise},
                                        {"retrieve", push_step::retrieve},
                                        {"delete", push_step::remove},
                                        {"query", push_step::look_up}};

// The declared actions (push_outcomes.hpp, push.hpp's error policy, docs/architecture.md), written out
// independently of push_outcomes.cpp.
reaction declared(push_step step, call_end end) {
  switch (end) {
    case call_end::accepted:
      return reaction::proceed;
    case call_end::session_error:  // Vtiger did not run it: the engine pauses, nothing is failed
    case call_end::unavailable:
      return reaction::pause;
    case call_end::access_denied:
      if (step == push_step::remove) return reaction::check_gone;  // also "already deleted"
      if (step == push_step::look_up) return reaction::pause;
      return reaction::fail_row;
    case call_end::rejected:
      return step == push_step::look_up ? reaction::pause : reaction::fail_row;
    case call_end::invalid_argument:
      return step == push_step::look_up || step == push_step::retrieve ? reaction::pause : reaction::fail_row;
    case call_end::outcome_unknown:
      if (step == push_step::create) return reaction::look_up;  // never simply sent again
      if (step == push_step::revise || step == push_step::remove) return reaction::resend;  // idempotent
      return reaction::pause;
  }
  return reaction::pause;
}

const std::vector<std::string> session_codes{"INVALID_SESSIONID", "SESSION_EXPIRED", "SESSION_LEFT_IDLE",
                                             "AUTHENTICATION_REQUIRED"};
const std::vector<std::string> rejection_codes{
    "MANDATORY_FIELDS_MISSING", "REFERENCE_INVALID", "INVALID_ID_ATTRIBUTE", "DATABASE_QUERY_ERROR",
    "0" /* duplicate */,        "INVALID_MODULE",    "QUERY_SYNTAX_ERROR",   "UNKNOWN_CODE_FROM_A_PLUGIN"};

const std::vector<call_end> all_ends{
    call_end::accepted,         call_end::session_error,   call_end::access_denied, call_end::rejected,
    call_end::invalid_argument, call_end::outcome_unknown, call_end::unavailable};

}  // namespace

TEST(push_outcomes, EveryStepAndEndHasTheDeclaredReaction) {
  int pairs = 0;
  for (const auto& op : operations) {
    for (const auto end : all_ends) {
      EXPECT_EQ(sy::react(op.step, end), declared(op.step, end))
          << op.name << " x " << sy::to_string(end) << ": " << sy::to_string(sy::react(op.step, end));
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 35);
}

TEST(push_outcomes, VtigersErrorCodesPerOperation) {
  for (const auto& op : operations) {
    for (const auto& code : session_codes) {
      const std::optional<vtg::api_error> answer = vtg::api_error{code, "m"};
      EXPECT_EQ(sy::classify(answer, std::nullopt, op.name), call_end::session_error)
          << op.name << " " << code;
      EXPECT_EQ(sy::react(op.step, sy::classify(answer, std::nullopt, op.name)), reaction::pause);
      // The same code thrown by api_result::value() (a look-up reads its rows so).
      const std::optional<vtg::client_error> thrown =
          vtg::client_error{vtg::error_kind::api, "refused", 0, vtg::api_error{code, "m"}};
      EXPECT_EQ(sy::classify(std::nullopt, thrown, op.name), call_end::session_error)
          << op.name << " " << code;
    }
    const std::optional<vtg::api_error> denied = vtg::api_error{"ACCESS_DENIED",
                                                                "Permission to perform the "
                                                                "operation is denied"};
    EXPECT_EQ(sy::classify(denied, std::nullopt, op.name), call_end::access_denied) << op.name;
    EXPECT_EQ(sy::react(op.step, call_end::access_denied), declared(op.step, call_end::access_denied));
    for (const auto& code : rejection_codes) {
      const std::optional<vtg::api_error> answer = vtg::api_error{code, "m"};
      const auto end = sy::classify(answer, std::nullopt, op.name);
      EXPECT_EQ(end, call_end::rejected) << op.name << " " << code;
      EXPECT_EQ(sy::react(op.step, end), op.step == push_step::look_up ? reaction::pause : reaction::fail_row)
          << op.name << " " << code;
    }
    EXPECT_EQ(sy::classify(std::nullopt, std::nullopt, op.name), call_end::accepted);
  }
  // AUTHENTICATION_REQUIRED from login itself is final (an inactive user), not a session to renew.
  const std::optional<vtg::api_error> login_refused = vtg::api_error{"AUTHENTICATION_REQUIRED", "m"};
  EXPECT_EQ(sy::classify(login_refused, std::nullopt, "login"), call_end::rejected);
}

TEST(push_outcomes, ClientErrorKinds) {
  using k = vtg::error_kind;
  const std::vector<std::pair<k, call_end>> kinds{{k::connect, call_end::unavailable},
                                                  {k::timeout, call_end::unavailable},
                                                  {k::tls, call_end::unavailable},
                                                  {k::transport, call_end::unavailable},
                                                  {k::http_status, call_end::unavailable},
                                                  {k::html, call_end::unavailable},
                                                  {k::bad_json, call_end::unavailable},
                                                  {k::body_too_large, call_end::unavailable},
                                                  {k::login_failed, call_end::unavailable},
                                                  {k::unsupported, call_end::unavailable},
                                                  {k::api, call_end::rejected},
                                                  {k::invalid_argument, call_end::invalid_argument},
                                                  {k::outcome_unknown, call_end::outcome_unknown}};
  for (const auto& op : operations) {
    for (const auto& [kind, end] : kinds) {
      const std::optional<vtg::client_error> e = vtg::client_error{kind, "x"};
      EXPECT_EQ(sy::classify(std::nullopt, e, op.name), end) << op.name << " " << vtg::to_string(kind);
      EXPECT_EQ(sy::react(op.step, sy::classify(std::nullopt, e, op.name)), declared(op.step, end));
    }
    // A lost reply wraps its cause: still outcome_unknown.
    const vtg::client_error cause{k::transport, "reset"};
    const std::optional<vtg::client_error> lost = vtg::client_error::outcome_unknown(cause, op.name);
    EXPECT_EQ(sy::classify(std::nullopt, lost, op.name), call_end::outcome_unknown);
  }
}

TEST(push_outcomes, NamesAreDistinct) {
  std::set<std::string_view> names;
  for (const auto end : all_ends) names.insert(sy::to_string(end));
  EXPECT_EQ(names.size(), all_ends.size());
  names.clear();
  for (const auto& op : operations) names.insert(sy::to_string(op.step));
  EXPECT_EQ(names.size(), operations.size());
  names.clear();
  for (auto r : {reaction::proceed, reaction::fail_row, reaction::resend, reaction::pause, reaction::look_up,
                 reaction::check_gone})
    names.insert(sy::to_string(r));
  EXPECT_EQ(names.size(), 6u);
}

// The effects, one representative call per action.
namespace {
class push_outcome_effects : public vt::push_test {
 protected:
  std::string entry_states() {
    return sql("SELECT coalesce(string_agg(op || ':' || state, ',' ORDER BY id), '') FROM " +
               state("outbox"));
  }
  std::string row(const std::string& expr) { return sql("SELECT " + expr + " FROM " + contacts()); }
  boost::asio::awaitable<json> revise_call(json element) {
    auto call = client->revise(element);
    auto r = co_await std::move(call);
    co_return r.value();
  }
  // A local row pushed as a create (synced): its vtiger_id.
  std::string pushed(const std::string& lastname) {
    sql("INSERT INTO " + contacts() + " (lastname, title) VALUES ('" + lastname + "', 'Base')");
    drain();
    return row("vtiger_id");
  }
};
}  // namespace

// create x rejected -> fail_row: the entry and the row are failed with Vtiger's code and message.
TEST_F(push_outcome_effects, CreateRejectedFailsTheRow) {
  start();
  sql("INSERT INTO " + contacts() + " (firstname) VALUES ('NoLastname')");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(entry_states(), "insert:failed");
  EXPECT_EQ(row("_sync_state"), "failed");
  EXPECT_EQ(row("split_part(_sync_error, ':', 1)"), "MANDATORY_FIELDS_MISSING");
  EXPECT_EQ(dump().size(), 0u);
  EXPECT_EQ(engine->current_backoff().count(), 0);  // a rejected row does not stop the engine
}

// create x outcome_unknown -> look_up: the record the lost reply was about is found and adopted.
TEST_F(push_outcome_effects, CreateWithItsReplyLostIsLookedUpAndAdopted) {
  start({"--fault", "create:drop_reply"});
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Lost')");
  const auto stats = drain();
  EXPECT_EQ(stats.adopted, 1u);
  EXPECT_EQ(requests("create"), 1u);
  EXPECT_EQ(dump().size(), 1u);
  EXPECT_EQ(entry_states(), "insert:done");
  EXPECT_EQ(row("vtiger_id"), dump()[0]["id"].get<std::string>());
}

// create x session_error -> pause: a session error that survived the client's re-login is no verdict on the
// change: back to pending, never failed; the engine backs off.
TEST_F(push_outcome_effects, CreateMeetingSessionErrorsWaits) {
  start({"--fault", "create:invalid_session"});
  sql("INSERT INTO " + contacts() + " (lastname) VALUES ('Wait')");
  const auto stats = drain();
  EXPECT_EQ(stats.released, 1u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(entry_states(), "insert:pending");
  EXPECT_EQ(row("_sync_state"), "pending");
  EXPECT_GT(engine->current_backoff().count(), 0);
  EXPECT_EQ(dump().size(), 0u);
}

// retrieve x unavailable -> pause: Vtiger answering HTTP 500 (after the client's own retries) leaves the
// change pending and the engine backing off. (The batch's conflict-check query fails too, so the record is
// retrieved on its own: that retrieve's outcome counts.)
TEST_F(push_outcome_effects, UpdateWhileVtigerFailsWaits) {
  start({"--fault", "retrieve:http500", "--fault", "query:http500"});
  const auto id = pushed("Unreachable");
  sql("UPDATE " + contacts() + " SET title = 'Local'");
  const auto stats = drain();
  EXPECT_EQ(stats.released, 1u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(entry_states(), "insert:done,update:pending");
  EXPECT_EQ(row("_sync_state"), "pending");
  EXPECT_GT(engine->current_backoff().count(), 0);
  EXPECT_EQ(remote(id)["title"], "Base");
}

// revise x outcome_unknown -> resend: released at once, sent again by the next drain, then done.
TEST_F(push_outcome_effects, ReviseWithItsReplyLostIsSentAgain) {
  start({"--fault", "revise:drop_reply:every=2"});
  const auto id = pushed("Resent");
  run(revise_call({{"id", id}, {"department", "first revise: not dropped"}}));  // revise #1
  sql("UPDATE " + contacts() + " SET title = 'Local'");
  auto stats = drain();  // revise #2: reply dropped
  EXPECT_EQ(stats.released, 1u);
  EXPECT_EQ(entry_states(), "insert:done,update:pending");
  EXPECT_EQ(remote(id)["title"], "Local");  // it was applied; only the reply was lost
  // Sent again: the record read before it (the batch's query) shows Vtiger has the value already, so
  // there is nothing left to revise, and the entry is done with Vtiger's record written back.
  const auto retrieves = requests("retrieve");
  const auto queries = requests("query");
  stats = drain();
  EXPECT_EQ(stats.handled, 1u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(requests("query"), queries + 1);
  EXPECT_EQ(requests("retrieve"), retrieves);
  EXPECT_EQ(entry_states(), "insert:done,update:done");
  EXPECT_EQ(row("title || '/' || _sync_state"), "Local/synced");
  EXPECT_EQ(requests("revise"), 2u);
}

// retrieve x access_denied -> fail_row: an update of a record deleted in Vtiger fails the row.
TEST_F(push_outcome_effects, UpdateOfARecordDeletedInVtigerFailsTheRow) {
  start();
  const auto id = pushed("Vanished");
  fake_post("/_fake/delete", {{"id", id}});
  sql("UPDATE " + contacts() + " SET title = 'Local'");
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(row("_sync_state"), "failed");
  EXPECT_EQ(row("split_part(_sync_error, ':', 1)"), "ACCESS_DENIED");
}

// delete x access_denied -> check_gone: done when Vtiger no longer shows the record.
TEST_F(push_outcome_effects, DeleteOfARecordAlreadyGoneIsDone) {
  start();
  const auto id = pushed("Gone");
  fake_post("/_fake/delete", {{"id", id}});
  sql("DELETE FROM " + contacts());
  const auto stats = drain();
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(entry_states(), "insert:done,delete:done");
  EXPECT_GE(requests("query"), 1u);  // it looked
}

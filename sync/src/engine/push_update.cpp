// The push of a local UPDATE (retrieve, conflicts, revise of the changed fields) and DELETE (push.hpp).
#include <spdlog/spdlog.h>

#include "push_calls.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;

asio::awaitable<pusher::outcome> pusher::push_update(table_ref table, entry_ref entry,
                                                     const std::string& vtiger_id, const json& values,
                                                     const json& base, drain_stats& stats) {
  // The record as the batch's query read it (push_batch.cpp), else retrieved now.
  json remote;
  if (auto read = take_remote(entry)) {
    remote = std::move(*read);
  } else {
    auto call = session(entry).retrieve(vtiger_id);
    auto fetched = co_await capture(call);
    if (const auto then = react(push_step::retrieve, end_of(fetched, "retrieve")); then != reaction::proceed)
      co_return co_await settle(entry, then, fetched.message(), stats);
    remote = fetched.answer->value();
  }

  json element = {{"id", vtiger_id}};
  std::vector<storage::conflict_record> conflicts;
  // An earlier attempt of this entry may have had its revise applied without the write-back (reply lost,
  // process killed): Vtiger then shows OUR value as a change since _sync_base. When the record was last
  // modified by the sync user itself, such a difference is not taken for a remote change (found by
  // tests/crash: remote_wins discarded the user's newer edit in favour of our own older, unconfirmed one).
  // The sync user (every session is one): the session that read the record is logged in.
  const auto& me = session(entry).session_info() ? session(entry).session_info() : client_.session_info();
  const bool last_change_ours = entry.attempts > 1 && me && !me->user_id.empty() &&
                                remote.value("modifiedby", std::string{}) == me->user_id;
  const json changed = fields_to_send(table, entry, values, settings_.idempotency_field);
  for (auto local = changed.begin(); local != changed.end(); ++local) {
    const std::string& name = local.key();
    const auto* col = table.find(name);
    const json remote_value = remote.value(name, json{});
    if (same_value(col->type, *local, remote_value)) continue;  // Vtiger already has it
    const bool changed_remotely = !last_change_ours && base.is_object() && base.contains(name) &&
                                  !same_value(col->type, remote_value, base[name]);
    if (changed_remotely) {
      const auto own = settings_.module_conflicts.find(table.module);
      const auto policy = own != settings_.module_conflicts.end() ? own->second : settings_.conflicts;
      std::string decision{to_string(policy)};
      bool remote_wins = policy == conflict_policy::remote_wins;
      if (policy == conflict_policy::newest_wins) {
        // The local change's time in the server zone, as the claim rendered it.
        remote_wins = remote.value("modifiedtime", std::string{}) > entry.created_at_vtiger;
        decision += remote_wins ? ":remote" : ":local";
      }
      conflicts.push_back({table.module, vtiger_id, name, comparable_value(*local),
                           comparable_value(remote_value), decision});
      if (remote_wins) continue;  // the write-back below brings the remote value into the row
    }
    element[name] = *local;
  }

  if (table.lines) {
    const auto why = co_await add_line_items(table, entry, element, /*create=*/false);
    if (!why.empty()) co_return co_await fail(entry, why, stats);
  }
  json record = remote;
  const bool send = element.size() > 1;
  if (send) {
    auto revise_call = session(entry).revise(element);
    auto r = co_await capture(revise_call);
    if (const auto then = react(push_step::revise, end_of(r, "revise")); then != reaction::proceed)
      co_return co_await settle(entry, then, r.message(), stats);
    record = r.answer->value();
    if (settings_.after_accepted) settings_.after_accepted(entry);
  }
  for (const auto& c : conflicts) {
    spdlog::info("push: conflict on {} {} field {}: {}", c.module, c.vtiger_id, c.field, c.decision);
    co_await outbox_.log_conflict(c);
    ++stats.conflicts;
    if (observer_.on_conflict) observer_.on_conflict(c.module, c.field);
  }
  co_return co_await finish(table, entry, record, send ? "revise" : "", stats);
}

asio::awaitable<pusher::outcome> pusher::push_delete(table_ref table, entry_ref entry, drain_stats& stats) {
  const std::optional<storage::row_batch> none;
  if (!entry.vtiger_id) {
    // The row never reached Vtiger (its insert failed, or it was deleted before being pushed).
    co_await outbox_.mark_done(table, entry, none);
    co_return outcome::done;
  }
  auto call = session(entry).delete_record(*entry.vtiger_id);
  auto r = co_await capture(call);
  const auto then = react(push_step::remove, end_of(r, "delete"));
  if (then == reaction::check_gone) {
    // Done if a query no longer finds the record; refused otherwise.
    vtiger::vtql::select_query q{table.module, {"id"}};
    q.where("id", "=", *entry.vtiger_id);
    const auto text = q.str();
    auto query_call = session(entry).query(*text);
    auto seen = co_await capture(query_call);
    if (const auto next = react(push_step::look_up, end_of(seen, "query")); next != reaction::proceed)
      co_return co_await settle(entry, next, seen.message(), stats);
    const bool gone = seen.answer->value().is_array() && seen.answer->value().empty();
    if (!gone) co_return co_await fail(entry, r.message(), stats);
  } else if (then != reaction::proceed) {
    co_return co_await settle(entry, then, r.message(), stats);
  } else {
    ++stats.pushed;
    if (observer_.on_pushed) observer_.on_pushed(table.module, "delete");
  }
  co_await outbox_.mark_done(table, entry, none);
  co_return outcome::done;
}

}  // namespace vtsync::sync

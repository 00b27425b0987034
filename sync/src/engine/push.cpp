#include "vtsync/sync/engine/push.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <set>

#include "vtsync/storage/push_support.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;
using storage::outbox_entry;
using storage::outbox_op;

namespace {

constexpr std::chrono::milliseconds stop_check{250};

// The record Vtiger answered (create, revise, or one found and adopted) as the row written back, through the
// same columns as the pull's pages; nullopt when the answer is no record.
std::optional<storage::row_batch> written_back(const storage::mirror_table& table, const json& answer) {
  if (!answer.is_object()) return std::nullopt;
  return record::to_row(table, record::to_flat_record(answer));
}

std::string_view op_name(outbox_op op) {
  switch (op) {
    case outbox_op::insert:
      return "insert";
    case outbox_op::update:
      return "update";
    case outbox_op::remove:
      return "delete";
  }
  return "?";
}

std::string describe_api_error(const vtiger::api_error& e) { return e.code + ": " + e.message; }

// A session error that survived the client's one re-login and retry (a storm of expiries) is no verdict on
// the change: Vtiger did not run it. Such an entry goes back to pending like after any other outage, never
// to 'failed' (found by the crash harness, tests/crash: a create marked failed with INVALID_SESSIONID).
bool session_trouble(const vtiger::api_error& e, std::string_view operation) {
  return vtiger::is_session_error(e.code, operation);
}

std::optional<long double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const long double v = std::strtold(s.c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return v;
}

bool empty_value(const json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_array() && v.empty());
}

// What a client call ended with, captured so that the reaction (which co_awaits) happens outside the
// catch block (a coroutine cannot co_await inside one).
struct call_result {
  std::optional<vtiger::api_result<json>> answer;
  std::optional<vtiger::client_error> error;
};

// Takes the call by reference, bound to a named variable by the caller: GCC 12 destroys non-trivial
// temporaries of a co_await expression twice (see storage/state.hpp).
asio::awaitable<call_result> capture(asio::awaitable<vtiger::api_result<json>>& call) {
  call_result out;
  try {
    out.answer.emplace(co_await std::move(call));
  } catch (const vtiger::client_error& e) {
    out.error.emplace(e);
  }
  co_return out;
}

}  // namespace

std::string_view to_string(conflict_policy policy) noexcept {
  switch (policy) {
    case conflict_policy::remote_wins:
      return "remote_wins";
    case conflict_policy::local_wins:
      return "local_wins";
    case conflict_policy::newest_wins:
      return "newest_wins";
  }
  return "remote_wins";
}

std::optional<conflict_policy> parse_conflict_policy(std::string_view text) noexcept {
  if (text == "remote_wins") return conflict_policy::remote_wins;
  if (text == "local_wins") return conflict_policy::local_wins;
  if (text == "newest_wins") return conflict_policy::newest_wins;
  return std::nullopt;
}

std::string comparable_value(const json& value) {
  if (value.is_null()) return {};
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
  if (value.is_array()) {
    std::string out;
    for (const auto& v : value) {
      if (!out.empty()) out += " |##| ";
      out += comparable_value(v);
    }
    return out;
  }
  return value.dump();
}

bool same_value(storage::column_type type, const json& a, const json& b) {
  const auto sa = comparable_value(a), sb = comparable_value(b);
  if (sa == sb) return true;
  switch (type) {
    case storage::column_type::bigint:
    case storage::column_type::numeric: {
      const auto na = parse_number(sa), nb = parse_number(sb);
      return na && nb && *na == *nb;
    }
    case storage::column_type::text_array: {
      auto la = record::split_multipicklist(sa), lb = record::split_multipicklist(sb);
      std::sort(la.begin(), la.end());
      std::sort(lb.begin(), lb.end());
      return la == lb;
    }
    default:
      return false;
  }
}

pusher::pusher(vtiger::client& client, storage::connection& notify_conn, storage::store& store,
               std::map<std::string, storage::mirror_table> tables, push_settings settings,
               push_observer observer)
    : client_(client),
      notify_conn_(notify_conn),
      store_(store),
      tables_(std::move(tables)),
      settings_(std::move(settings)),
      observer_(std::move(observer)) {}

void pusher::grow_backoff() {
  const auto doubled = backoff_.count() == 0 ? settings_.backoff_initial : backoff_ * 2;
  backoff_ = std::min(doubled, settings_.backoff_max);
}

std::string pusher::idempotency_key(const outbox_entry& entry) const {
  if (!entry.idempotency_key.empty()) return entry.idempotency_key;
  return "vtsync-" + entry.schema + "." + entry.table + "-" + std::to_string(entry.id);
}

asio::awaitable<std::string> pusher::owner_for_create() {
  if (!settings_.default_assigned_user_id.empty()) co_return settings_.default_assigned_user_id;
  if (!client_.session_info()) co_await client_.login();
  co_return client_.session_info()->user_id;
}

asio::awaitable<void> pusher::run() {
  using clock = std::chrono::steady_clock;
  bool listening = false;
  auto next_drain = clock::now();
  std::set<std::string> ours;
  for (const auto& [module, table] : tables_) ours.insert(table.schema + "." + table.table);

  while (!stopping_) {
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) break;

    std::exception_ptr failure;
    try {
      if (!listening) {
        std::string channel{storage::outbox_channel};
        co_await notify_conn_.listen(channel);
        listening = true;
      }
      if (clock::now() >= next_drain) {
        const auto stats = co_await drain();
        if (stats.handled + stats.released > 0) {
          spdlog::debug("push: {} handled ({} pushed, {} failed, {} released, {} coalesced, {} conflicts)",
                        stats.handled, stats.pushed, stats.failed, stats.released, stats.coalesced,
                        stats.conflicts);
        }
        next_drain = clock::now() + (backoff_.count() > 0 ? backoff_ : settings_.fallback_poll);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_drain - clock::now());
      const auto wait = std::clamp(left, std::chrono::milliseconds{0}, stop_check);
      auto n = co_await notify_conn_.next_notification(wait);
      if (n && backoff_.count() == 0 &&
          (n->after_reconnect || (n->channel == storage::outbox_channel && ours.contains(n->payload)))) {
        next_drain = clock::now();
      }
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) break;  // our coroutine was cancelled
      failure = std::current_exception();
    } catch (const std::exception&) {
      failure = std::current_exception();
    }
    if (!failure) continue;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::warn("push: {} (next attempt with backoff)", e.what());
    }
    grow_backoff();
    reset_due_ = true;
    next_drain = clock::now() + backoff_;
    // Pause here too: a failing LISTEN connection would otherwise spin.
    asio::steady_timer pause{co_await asio::this_coro::executor};
    pause.expires_after(std::min(backoff_, stop_check));
    co_await pause.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<drain_stats> pusher::drain() {
  drain_stats stats;
  if (reset_due_) {
    const auto n = co_await store_.reset_in_flight();
    if (n > 0) spdlog::info("push: {} changes left in flight by an earlier run are pending again", n);
  }
  // Stays set when a storage failure escapes: entries of the batch are then still in flight.
  reset_due_ = true;
  bool vtiger_down = false;
  std::size_t total_progress = 0;
  while (!vtiger_down) {
    auto batch = co_await store_.claim(settings_.batch);
    if (batch.empty()) break;
    stats.coalesced += co_await storage::coalesce_pending(store_, batch);
    std::size_t progress = 0;
    for (auto& entry : batch) {
      if (vtiger_down) {
        co_await store_.release(entry, "not attempted: Vtiger unavailable");
        ++stats.released;
        continue;
      }
      switch (co_await handle(entry, stats)) {
        case outcome::done:
        case outcome::failed:
          ++stats.handled;
          ++progress;
          break;
        case outcome::released:
          ++stats.released;
          break;
        case outcome::vtiger_down:
          ++stats.released;
          vtiger_down = true;
          break;
      }
    }
    total_progress += progress;
    // Only releases: claiming again now would send the same entries straight back. Wait for backoff.
    if (progress == 0) vtiger_down = true;
  }
  reset_due_ = false;
  if (vtiger_down && total_progress > 0) {
    // Vtiger did work in this drain before one call failed: a short pause, not a growing one. (Found by
    // tests/crash: at a high fault rate every drain met one failure, the backoff sat at backoff_max and a
    // few dozen changes took minutes to drain.)
    backoff_ = settings_.backoff_initial;
  } else if (vtiger_down) {
    grow_backoff();
  } else {
    backoff_ = std::chrono::milliseconds{0};
  }
  if (observer_.on_pending) {
    const auto counts = co_await store_.count_outbox();
    observer_.on_pending(counts.pending + counts.in_flight);
  }
  co_return stats;
}

asio::awaitable<pusher::outcome> pusher::fail(outbox_entry& entry, const std::string& error,
                                              drain_stats& stats) {
  spdlog::warn("push: {} {} of row {} ({}) failed: {}", entry.module, op_name(entry.op), entry.row_id,
               entry.vtiger_id.value_or("not created"), error);
  co_await store_.mark_failed(entry, error);
  ++stats.failed;
  if (observer_.on_failed) observer_.on_failed(entry.module);
  co_return outcome::failed;
}

asio::awaitable<pusher::outcome> pusher::handle(outbox_entry& entry, drain_stats& stats) {
  const auto t = tables_.find(entry.module);
  if (t == tables_.end()) {
    const std::string error = "no mirror table for module " + entry.module;
    co_return co_await fail(entry, error, stats);
  }
  const storage::mirror_table& table = t->second;
  if (entry.op == outbox_op::remove) co_return co_await push_delete(table, entry, stats);

  const auto row = co_await storage::load_row(store_, table, entry.row_id);
  const std::optional<storage::row_batch> none;
  if (!row) {
    // The user deleted the row meanwhile: its delete entry follows and carries the id (if any).
    // But an earlier attempt of this entry may have sent the create (reply lost, or the process died before
    // the write-back): then no id is known, and the record would stay in Vtiger with no row behind it
    // (found by tests/crash, stalls profile). Look for it and delete it.
    if (entry.attempts > 1 && !entry.vtiger_id && !settings_.idempotency_field.empty()) {
      json element = json::object();
      element[settings_.idempotency_field] = idempotency_key(entry);
      std::optional<json> found;
      std::optional<vtiger::client_error> down;
      try {
        found = co_await find_created(table, entry, element);
      } catch (const vtiger::client_error& e) {
        down = e;
      }
      if (down) {
        co_await store_.release(entry, down->what());
        co_return outcome::vtiger_down;
      }
      if (found && found->contains("id")) {
        const auto id = (*found)["id"].get<std::string>();
        spdlog::info("push: {} row {} was deleted locally after its create reached Vtiger as {}: deleting it",
                     table.module, entry.row_id, id);
        auto call = client_.delete_record(id);
        auto r = co_await capture(call);
        if (r.error || (r.answer->has_error() && r.answer->error().code != "ACCESS_DENIED")) {
          co_await store_.release(
              entry, r.error ? std::string{r.error->what()} : describe_api_error(r.answer->error()));
          co_return r.error&& r.error->kind() == vtiger::error_kind::outcome_unknown ? outcome::released
                                                                                     : outcome::vtiger_down;
        }
        ++stats.pushed;
        if (observer_.on_pushed) observer_.on_pushed(table.module, "delete");
      }
    }
    co_await store_.mark_done(table, entry, none);
    co_return outcome::done;
  }
  const json values = record::to_vtiger_values(table, row->values);
  if (!row->vtiger_id) co_return co_await push_create(table, entry, values, stats);
  if (entry.op == outbox_op::insert) {
    // Already created: by a later edit pushed as a create after this entry had failed, or adopted.
    co_await store_.mark_done(table, entry, none);
    co_return outcome::done;
  }
  co_return co_await push_update(table, entry, *row->vtiger_id, values, row->sync_base, stats);
}

asio::awaitable<pusher::outcome> pusher::push_create(const storage::mirror_table& table, outbox_entry& entry,
                                                     const json& values, drain_stats& stats) {
  json element = json::object();
  for (const auto& col : table.columns) {
    if (!col.editable || col.name == settings_.idempotency_field) continue;
    const auto v = values.find(col.name);
    if (v == values.end() || empty_value(*v)) continue;  // Vtiger fills its defaults
    element[col.name] = *v;
  }
  std::optional<vtiger::client_error> down;
  try {
    if (table.find("assigned_user_id") && !element.contains("assigned_user_id"))
      element["assigned_user_id"] = co_await owner_for_create();
  } catch (const vtiger::client_error& e) {
    down = e;
  }
  if (down) {
    co_await store_.release(entry, down->what());
    co_return outcome::vtiger_down;
  }
  if (!settings_.idempotency_field.empty()) element[settings_.idempotency_field] = idempotency_key(entry);

  // A create that may already have happened (an earlier attempt of this entry): look before sending.
  std::optional<json> found;
  if (entry.attempts > 1) {
    try {
      found = co_await find_created(table, entry, element);
    } catch (const vtiger::client_error& e) {
      down = e;
    }
    if (down) {
      co_await store_.release(entry, down->what());
      co_return outcome::vtiger_down;
    }
  }
  if (!found) {
    auto call = client_.create(table.module, element);
    auto r = co_await capture(call);
    if (r.answer && r.answer->has_value()) {
      const auto back = written_back(table, r.answer->value());
      if (settings_.after_create) settings_.after_create(entry);
      co_await store_.mark_done(table, entry, back);
      ++stats.pushed;
      if (observer_.on_pushed) observer_.on_pushed(table.module, "create");
      co_return outcome::done;
    }
    const std::string error = r.answer ? describe_api_error(r.answer->error()) : std::string{r.error->what()};
    if (r.answer && session_trouble(r.answer->error(), "create")) {
      co_await store_.release(entry, error);
      co_return outcome::vtiger_down;
    }
    if (r.answer || r.error->kind() == vtiger::error_kind::invalid_argument)
      co_return co_await fail(entry, error, stats);
    if (r.error->kind() != vtiger::error_kind::outcome_unknown) {
      co_await store_.release(entry, r.error->what());
      co_return outcome::vtiger_down;
    }
    // The create may have been committed: look for it now.
    spdlog::info("push: {} create of row {}: reply lost ({}); looking for the record", table.module,
                 entry.row_id, r.error->what());
    try {
      found = co_await find_created(table, entry, element);
    } catch (const vtiger::client_error& e) {
      down = e;
    }
    if (down || !found) {
      // Not found (yet): the server may still be working on it. Wait for the backoff before looking again.
      const std::string why = "create outcome unknown: " + error;
      co_await store_.release(entry, why);
      co_return outcome::vtiger_down;
    }
  }
  const std::string adopted_id = (*found)["id"].get<std::string>();
  spdlog::info("push: {} create of row {}: adopting {} made by an earlier attempt", table.module,
               entry.row_id, adopted_id);
  // The adopted record holds what that earlier attempt sent; the row may have changed since (later edits
  // folded into this entry). Bring the record up to the row's values before taking it as ours, or the
  // write-back would put the older values over the user's newer ones. Any failure here releases the entry:
  // the next attempt finds the record again and compares again (never a second create, never a lost edit).
  json catch_up = json::object();
  for (auto it = element.begin(); it != element.end(); ++it) {
    const auto* col = table.find(it.key());
    if (!same_value(col ? col->type : storage::column_type::text, it.value(), found->value(it.key(), json{})))
      catch_up[it.key()] = it.value();
  }
  if (!catch_up.empty()) {
    catch_up["id"] = adopted_id;
    auto revise_call = client_.revise(catch_up);
    auto r = co_await capture(revise_call);
    if (r.error || r.answer->has_error()) {
      const std::string error =
          r.error ? std::string{r.error->what()} : describe_api_error(r.answer->error());
      spdlog::warn("push: {} row {}: adopted {} but its newer values were not accepted yet: {}", table.module,
                   entry.row_id, adopted_id, error);
      co_await store_.release(entry, "adopted " + adopted_id + ", newer values not sent yet: " + error);
      co_return outcome::vtiger_down;
    }
    found = r.answer->value();
  }
  const auto back = written_back(table, *found);
  co_await store_.mark_done(table, entry, back);
  ++stats.adopted;
  ++stats.pushed;
  if (observer_.on_pushed) observer_.on_pushed(table.module, "create");
  co_return outcome::done;
}

asio::awaitable<std::optional<json>> pusher::find_created(const storage::mirror_table& table,
                                                          const outbox_entry& entry, const json& element) {
  namespace vtql = vtiger::vtql;
  if (!settings_.idempotency_field.empty()) {
    vtql::select_query q{table.module};
    q.where(settings_.idempotency_field, "=", element[settings_.idempotency_field].get<std::string>());
    const auto text = q.str();
    auto r = co_await client_.query(*text);
    const json rows = r.value();  // a rejected query is unexpected here: client_error{api}
    if (rows.is_array() && !rows.empty()) co_return rows.front();
    co_return std::nullopt;
  }

  // Without an idempotency field: candidates by the mandatory values we sent, created since the change.
  vtql::select_query base{table.module};
  bool first = true;
  for (const auto& col : table.columns) {
    if (!col.mandatory || col.name == "assigned_user_id" || !vtql::is_identifier(col.name)) continue;
    const auto v = element.find(col.name);
    if (v == element.end() || !v->is_string() || v->get_ref<const std::string&>().empty()) continue;
    if (first) {
      base.where(col.name, "=", v->get<std::string>());
      first = false;
    } else {
      base.and_where(col.name, "=", v->get<std::string>());
    }
  }
  const auto since = co_await storage::to_vtiger_time(store_, entry.created_at, -settings_.lookup_margin);
  if (first) {
    base.where("createdtime", ">=", since);
  } else {
    base.and_where("createdtime", ">=", since);
  }

  std::vector<json> matches;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    vtql::select_query q = base;
    if (!after.empty()) q.and_where("id", ">", after);
    q.order_by({"id"}).limit(vtql::max_page_size);
    const auto text = q.str();
    auto r = co_await client_.query(*text);
    const json rows = r.value();
    if (!rows.is_array() || rows.empty()) break;
    for (const auto& rec : rows) {
      bool all = true;
      for (const auto& [k, v] : element.items()) {
        const auto* col = table.find(k);
        if (!same_value(col ? col->type : storage::column_type::text, v, rec.value(k, json{}))) {
          all = false;
          break;
        }
      }
      if (all) matches.push_back(rec);
    }
    after = rows.back().value("id", std::string{});
    if (after.empty()) break;
  }
  if (matches.empty()) co_return std::nullopt;
  std::vector<std::string> ids;
  ids.reserve(matches.size());
  for (const auto& m : matches) ids.push_back(m["id"].get<std::string>());
  const auto held = co_await storage::held_vtiger_ids(store_, table, ids);
  std::optional<json> best;
  std::int64_t best_number = 0;
  for (const auto& m : matches) {
    const auto id = m["id"].get<std::string>();
    if (std::find(held.begin(), held.end(), id) != held.end()) continue;
    const auto number = record::vtiger_id_number(id).value_or(0);
    if (!best || number < best_number) {
      best = m;
      best_number = number;
    }
  }
  co_return best;
}

asio::awaitable<pusher::outcome> pusher::push_update(const storage::mirror_table& table, outbox_entry& entry,
                                                     const std::string& vtiger_id, const json& values,
                                                     const json& base, drain_stats& stats) {
  auto call = client_.retrieve(vtiger_id);
  auto fetched = co_await capture(call);
  if (fetched.error) {
    co_await store_.release(entry, fetched.error->what());
    co_return outcome::vtiger_down;
  }
  if (fetched.answer->has_error()) {
    const std::string error = describe_api_error(fetched.answer->error());
    if (session_trouble(fetched.answer->error(), "retrieve")) {
      co_await store_.release(entry, error);
      co_return outcome::vtiger_down;
    }
    // ACCESS_DENIED: deleted in Vtiger (or no longer visible to the sync user).
    co_return co_await fail(entry, error, stats);
  }
  const json remote = fetched.answer->value();

  json element = {{"id", vtiger_id}};
  std::vector<storage::conflict_record> conflicts;
  // An earlier attempt of this entry may have had its revise applied without the write-back (reply lost,
  // process killed): Vtiger then shows OUR value as a change since _sync_base. When the record was last
  // modified by the sync user itself, such a difference is not taken for a remote change (found by
  // tests/crash: remote_wins discarded the user's newer edit in favour of our own older, unconfirmed one).
  const auto& me = client_.session_info();
  const bool last_change_ours = entry.attempts > 1 && me && !me->user_id.empty() &&
                                remote.value("modifiedby", std::string{}) == me->user_id;
  std::optional<std::string> local_time;  // the local change's time in the server zone (newest_wins)
  for (const auto& name : entry.changed_columns) {
    const auto* col = table.find(name);
    const auto local = values.find(name);
    if (col == nullptr || !col->editable || local == values.end()) continue;
    const json remote_value = remote.value(name, json{});
    if (same_value(col->type, *local, remote_value)) continue;  // Vtiger already has it
    const bool changed_remotely = !last_change_ours && base.is_object() && base.contains(name) &&
                                  !same_value(col->type, remote_value, base[name]);
    if (changed_remotely) {
      std::string decision{to_string(settings_.conflicts)};
      bool remote_wins = settings_.conflicts == conflict_policy::remote_wins;
      if (settings_.conflicts == conflict_policy::newest_wins) {
        if (!local_time) local_time = co_await storage::to_vtiger_time(store_, entry.created_at);
        remote_wins = remote.value("modifiedtime", std::string{}) > *local_time;
        decision += remote_wins ? ":remote" : ":local";
      }
      conflicts.push_back({table.module, vtiger_id, name, comparable_value(*local),
                           comparable_value(remote_value), decision});
      if (remote_wins) continue;  // the write-back below brings the remote value into the row
    }
    element[name] = *local;
  }

  json record = remote;
  bool sent = false;
  if (element.size() > 1) {
    auto revise_call = client_.revise(element);
    auto r = co_await capture(revise_call);
    if (r.error) {
      const std::string error = r.error->what();
      if (r.error->kind() == vtiger::error_kind::invalid_argument)
        co_return co_await fail(entry, error, stats);
      co_await store_.release(entry, r.error->what());
      // A revise is idempotent: one whose reply was lost is simply sent again.
      co_return r.error->kind() == vtiger::error_kind::outcome_unknown ? outcome::released
                                                                       : outcome::vtiger_down;
    }
    if (r.answer->has_error()) {
      const std::string error = describe_api_error(r.answer->error());
      if (session_trouble(r.answer->error(), "revise")) {
        co_await store_.release(entry, error);
        co_return outcome::vtiger_down;
      }
      co_return co_await fail(entry, error, stats);
    }
    record = r.answer->value();
    sent = true;
  }
  for (const auto& c : conflicts) {
    spdlog::info("push: conflict on {} {} field {}: {}", c.module, c.vtiger_id, c.field, c.decision);
    co_await store_.log_conflict(c);
    ++stats.conflicts;
    if (observer_.on_conflict) observer_.on_conflict(c.module, c.field);
  }
  const auto back = written_back(table, record);
  co_await store_.mark_done(table, entry, back);
  if (sent) {
    ++stats.pushed;
    if (observer_.on_pushed) observer_.on_pushed(table.module, "revise");
  }
  co_return outcome::done;
}

asio::awaitable<pusher::outcome> pusher::push_delete(const storage::mirror_table& table, outbox_entry& entry,
                                                     drain_stats& stats) {
  const std::optional<storage::row_batch> none;
  if (!entry.vtiger_id) {
    // The row never reached Vtiger (its insert failed, or it was deleted before being pushed).
    co_await store_.mark_done(table, entry, none);
    co_return outcome::done;
  }
  auto call = client_.delete_record(*entry.vtiger_id);
  auto r = co_await capture(call);
  if (r.error) {
    co_await store_.release(entry, r.error->what());
    co_return r.error->kind() == vtiger::error_kind::outcome_unknown ? outcome::released
                                                                     : outcome::vtiger_down;
  }
  if (r.answer->has_error()) {
    const auto rejection = r.answer->error();
    const std::string error = describe_api_error(rejection);
    if (session_trouble(rejection, "delete")) {
      co_await store_.release(entry, error);
      co_return outcome::vtiger_down;
    }
    if (rejection.code != "ACCESS_DENIED") co_return co_await fail(entry, error, stats);
    // ACCESS_DENIED also answers a delete of a record that is already gone: done if a query cannot see it.
    vtiger::vtql::select_query q{table.module, {"id"}};
    q.where("id", "=", *entry.vtiger_id);
    const auto text = q.str();
    auto query_call = client_.query(*text);
    auto seen = co_await capture(query_call);
    if (seen.error) {
      co_await store_.release(entry, seen.error->what());
      co_return outcome::vtiger_down;
    }
    const bool gone =
        seen.answer->has_value() && seen.answer->value().is_array() && seen.answer->value().empty();
    if (!gone) co_return co_await fail(entry, error, stats);
  } else {
    ++stats.pushed;
    if (observer_.on_pushed) observer_.on_pushed(table.module, "delete");
  }
  co_await store_.mark_done(table, entry, none);
  co_return outcome::done;
}

}  // namespace vtsync::sync

#include "vtsync/sync/engine/push.hpp"
#include "vtsync/storage/relations.hpp"

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

#include "push_calls.hpp"
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

std::optional<long double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const long double v = std::strtold(s.c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return v;
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

json fields_to_send(const storage::mirror_table& table, const outbox_entry& entry, const json& values,
                    std::string_view idempotency_field) {
  json out = json::object();
  if (entry.op == outbox_op::remove || !entry.row) return out;
  if (!entry.row->vtiger_id) {
    for (const auto& col : table.columns) {
      if (!col.editable || col.name == idempotency_field) continue;
      const auto v = values.find(col.name);
      if (v == values.end() || empty_value(*v)) continue;  // Vtiger fills its defaults
      out[col.name] = *v;
    }
    return out;
  }
  for (const auto& name : entry.changed_columns) {
    const auto* col = table.find(name);
    const auto local = values.find(name);
    if (col == nullptr || !col->editable || local == values.end()) continue;
    out[name] = *local;
  }
  return out;
}

pusher::pusher(vtiger::client& client, storage::connection& notify_conn, storage::outbox& outbox,
               std::map<std::string, storage::mirror_table> tables, push_settings settings,
               push_observer observer)
    : client_(client),
      notify_conn_(notify_conn),
      outbox_(outbox),
      tables_(std::move(tables)),
      settings_(std::move(settings)),
      observer_(std::move(observer)) {
  for (const auto& [module, table] : tables_) table_list_.push_back(table);
  sessions_.push_back(&client_);
}

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
  // The tables as they are when a notification comes (update_table may add one).
  auto ours = [this](const std::string& payload) {
    const auto& pending = table_updates_;
    auto is = [&](const storage::mirror_table& t) { return t.schema + "." + t.table == payload; };
    return std::any_of(table_list_.begin(), table_list_.end(), is) ||
           std::any_of(pending.begin(), pending.end(), is);
  };

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
        co_await maybe_prune();  // idle now: the queue is empty (or Vtiger is away)
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_drain - clock::now());
      const auto wait = std::clamp(left, std::chrono::milliseconds{0}, stop_check);
      auto n = co_await notify_conn_.next_notification(wait);
      if (n && backoff_.count() == 0 &&
          (n->after_reconnect || (n->channel == storage::outbox_channel && ours(n->payload)))) {
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
  if (!table_updates_.empty()) {
    for (auto& t : table_updates_) tables_.insert_or_assign(t.module, std::move(t));
    table_updates_.clear();
    table_list_.clear();
    for (const auto& [module, table] : tables_) table_list_.push_back(table);
  }
  if (reset_due_) {
    const auto n = co_await outbox_.reset_in_flight();
    if (n > 0) spdlog::info("push: {} changes left in flight by an earlier run are pending again", n);
  }
  // Stays set when a storage failure escapes: entries of the batch are then still in flight.
  reset_due_ = true;
  bool vtiger_down = false;
  std::size_t total_progress = 0;
  const auto started = std::chrono::steady_clock::now();
  auto next_report = started + settings_.progress_interval;
  while (!vtiger_down) {
    auto batch = co_await outbox_.claim(table_list_, settings_.batch);
    if (batch.entries.empty()) break;
    if (batch.entries.size() >= static_cast<std::size_t>(settings_.batch) &&
        (!last_analyze_ || std::chrono::steady_clock::now() - *last_analyze_ > std::chrono::minutes{10})) {
      // A bulk change: fresh statistics first (outbox::analyze), at most every 10 minutes.
      last_analyze_ = std::chrono::steady_clock::now();
      co_await outbox_.analyze(table_list_);
    }
    stats.coalesced += batch.coalesced;
    const auto progress = co_await push_batch(batch.entries, stats, vtiger_down);
    total_progress += progress;
    if (std::chrono::steady_clock::now() >= next_report) {
      co_await report_progress(total_progress, started, true);
      next_report = std::chrono::steady_clock::now() + settings_.progress_interval;
    }
    co_await maybe_prune();  // a long drain keeps the outbox small too
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
  co_await report_progress(total_progress, started, false);
  co_return stats;
}

asio::awaitable<pusher::outcome> pusher::fail(outbox_entry& entry, const std::string& error,
                                              drain_stats& stats) {
  spdlog::warn("push: {} {} of row {} ({}) failed: {}", entry.module, storage::to_string(entry.op),
               entry.row_id, entry.vtiger_id.value_or("not created"), error);
  lines_sent_.erase(entry.id);
  co_await outbox_.mark_failed(entry, error);
  ++stats.failed;
  if (observer_.on_failed) observer_.on_failed(entry.module);
  co_return outcome::failed;
}

asio::awaitable<pusher::outcome> pusher::settle(outbox_entry& entry, reaction then, const std::string& error,
                                                drain_stats& stats) {
  if (then == reaction::fail_row) co_return co_await fail(entry, error, stats);
  lines_sent_.erase(entry.id);
  co_await outbox_.release(entry, error);
  co_return then == reaction::resend ? outcome::released : outcome::vtiger_down;
}

asio::awaitable<pusher::outcome> pusher::finish(table_ref table, entry_ref entry, const json& record,
                                                std::string_view op, drain_stats& stats) {
  std::optional<storage::row_batch> back;
  if (table.lines && record.is_object()) {
    // The header without its lines (they go to the lines table below) and Vtiger's UI blob.
    json header = record;
    header.erase("LineItems");
    header.erase("LineItems_FinalDetails");
    back = written_back(table, header);
  } else {
    back = written_back(table, record);
  }
  co_await outbox_.mark_done(table, entry, back, entry.vtiger_id);
  if (lines_sent_.erase(entry.id) > 0) co_await write_back_lines(table, entry, record);
  if (!op.empty()) {
    ++stats.pushed;
    if (observer_.on_pushed) observer_.on_pushed(table.module, op);
  }
  co_return outcome::done;
}

asio::awaitable<pusher::outcome> pusher::handle(outbox_entry& entry, drain_stats& stats) {
  const auto t = tables_.find(entry.module);
  if (t == tables_.end()) {
    const std::string error = "no mirror table for module " + entry.module;
    co_return co_await fail(entry, error, stats);
  }
  const storage::mirror_table& table = t->second;
  if (entry.module == storage::relations_module) co_return co_await push_relation(table, entry, stats);
  if (entry.op == outbox_op::remove) co_return co_await push_delete(table, entry, stats);
  const std::optional<storage::row_batch> none;
  if (!entry.row) {
    // The user deleted the row meanwhile: its delete entry follows, and gets the id if one is known here.
    // An earlier attempt whose id was never recorded may still have made the record (found by tests/crash,
    // stalls profile): look for it and delete it.
    if (entry.attempts > 1 && !entry.vtiger_id && !settings_.idempotency_field.empty())
      co_return co_await delete_orphan(table, entry, stats);
    co_await outbox_.mark_done(table, entry, none, entry.vtiger_id);
    co_return outcome::done;
  }
  json values = record::to_vtiger_values(table, entry.row->values);
  bool wait = false;
  if (const auto why = co_await resolve_local_references(table, entry, values, wait); !why.empty()) {
    if (!wait) co_return co_await fail(entry, why, stats);
    co_await outbox_.release(entry, why, /*attempted=*/false);
    co_return outcome::deferred;
  }
  if (!entry.row->vtiger_id) {
    // Never created (or its create's id is recorded, not yet written back): what a create sends.
    std::string trouble;
    auto element = co_await create_element(table, entry, values, trouble);
    if (!element) co_return co_await settle(entry, reaction::pause, trouble, stats);
    if (table.lines) {
      const auto why = co_await add_line_items(table, entry, *element, /*create=*/true);
      if (!why.empty()) co_return co_await fail(entry, why, stats);
    }
    if (entry.vtiger_id) co_return co_await adopt_known(table, entry, *element, stats);
    co_return co_await push_create(table, entry, *element, stats);
  }
  if (entry.op == outbox_op::insert) {
    // Already created: by a later edit pushed as a create after this entry had failed, or adopted.
    co_await outbox_.mark_done(table, entry, none, entry.row->vtiger_id);
    co_return outcome::done;
  }
  co_return co_await push_update(table, entry, *entry.row->vtiger_id, values, entry.row->sync_base, stats);
}

}  // namespace vtsync::sync

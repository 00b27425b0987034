// Bulk pushes (push.hpp, "Bulk pushes"): one batch's conflict checks in one query per module, the batch's
// writes over several sessions at once, and references to rows whose create is still to come.
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <exception>

#include "push_calls.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;
using storage::outbox_entry;
using storage::outbox_op;

namespace {

// An update whose conflict check reads the record (push_update).
bool checks_remote(const outbox_entry& e) {
  return e.op == outbox_op::update && e.row && e.row->vtiger_id && !e.row->vtiger_id->empty();
}

// "@<table>:<_row_id>": a reference to a local row, split; nullopt for anything else.
std::optional<std::pair<std::string, std::int64_t>> local_reference(const json& value) {
  if (!value.is_string()) return std::nullopt;
  const auto& s = value.get_ref<const std::string&>();
  if (s.size() < 4 || s.front() != '@') return std::nullopt;
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon == 1) return std::nullopt;
  std::int64_t row_id = 0;
  const char* first = s.data() + colon + 1;
  const char* last = s.data() + s.size();
  const auto [end, ec] = std::from_chars(first, last, row_id);
  if (ec != std::errc{} || end != last || first == last) return std::nullopt;
  return std::pair{s.substr(1, colon - 1), row_id};
}

}  // namespace

void pusher::add_sessions(std::span<vtiger::client> sessions) {
  for (auto& s : sessions) sessions_.push_back(&s);
}

vtiger::client& pusher::session(const outbox_entry& entry) {
  const auto s = session_of_.find(entry.id);
  return s == session_of_.end() ? client_ : *s->second;
}

asio::awaitable<void> pusher::read_remote(std::span<const outbox_entry> entries) {
  remote_.clear();
  std::map<std::string, std::vector<const outbox_entry*>> by_module;
  for (const auto& e : entries)
    if (checks_remote(e)) by_module[e.module].push_back(&e);
  for (const auto& [module, todo] : by_module) {
    for (std::size_t first = 0; first < todo.size(); first += vtiger::vtql::max_page_size) {
      const auto last = std::min(todo.size(), first + vtiger::vtql::max_page_size);
      std::vector<std::string> ids;
      for (auto i = first; i < last; ++i) ids.push_back(*todo[i]->row->vtiger_id);
      // An inventory header names its columns: `*` joins the line rows and LIMITs those (line_rows.hpp).
      std::vector<std::string> columns;
      if (const auto t = tables_.find(module); t != tables_.end() && t->second.lines) {
        for (const auto& c : t->second.columns) columns.push_back(c.name);
        for (const char* c : {"modifiedtime", "modifiedby"})
          if (t->second.find(c) == nullptr) columns.emplace_back(c);
      }
      vtiger::vtql::select_query q{module, columns};
      q.where_in("id", ids);
      const auto text = q.str();
      if (!text) continue;  // unexpressible: each is retrieved
      auto call = client_.query(*text);
      auto r = co_await capture(call);
      if (!r.accepted() || !r.answer->value().is_array()) {
        // Each record is then retrieved on its own, and that retrieve's outcome counts.
        spdlog::debug("push: {} conflict check of {} records by query failed ({}); retrieving each", module,
                      ids.size(), r.message());
        continue;
      }
      std::map<std::string, json> found;
      for (auto& rec : r.answer->value()) {
        if (rec.is_object() && rec.contains("id") && rec["id"].is_string())
          found.emplace(rec["id"].get<std::string>(), std::move(rec));
      }
      for (auto i = first; i < last; ++i) {
        const auto f = found.find(*todo[i]->row->vtiger_id);
        if (f != found.end()) remote_.emplace(todo[i]->id, f->second);
      }
    }
  }
}

std::optional<json> pusher::take_remote(const outbox_entry& entry) {
  const auto r = remote_.find(entry.id);
  if (r == remote_.end()) return std::nullopt;
  json record = std::move(r->second);
  remote_.erase(r);
  // The check compares each changed field, and reads modifiedtime (newest_wins) and modifiedby (a retried
  // revise): a module whose query leaves any of them out is checked with retrieve.
  std::vector<std::string> needed = entry.changed_columns;
  needed.emplace_back("modifiedtime");
  if (entry.attempts > 1) needed.emplace_back("modifiedby");
  const auto t = tables_.find(entry.module);
  for (const auto& name : needed) {
    const bool mirrored = t != tables_.end() && t->second.find(name) != nullptr;
    if (mirrored && !record.contains(name)) return std::nullopt;
  }
  return record;
}

asio::awaitable<std::string> pusher::resolve_local_references(table_ref table, const outbox_entry& entry,
                                                              json& values, bool& wait) {
  wait = false;
  // The references of this row, by the table they point into.
  std::map<const storage::mirror_table*, std::vector<std::pair<std::string, std::int64_t>>> wanted;
  for (const auto& col : table.columns) {
    if (col.vtiger_type != "reference") continue;
    const auto v = values.find(col.name);
    if (v == values.end()) continue;
    const auto ref = local_reference(*v);
    if (!ref) continue;
    const storage::mirror_table* target = nullptr;
    for (const auto& [module, t] : tables_)
      if (t.table == ref->first) target = &t;
    if (target == nullptr)
      co_return col.name + ": " + v->get<std::string>() + " names no synced table of this instance";
    wanted[target].emplace_back(col.name, ref->second);
  }
  for (const auto& [target, refs] : wanted) {
    std::vector<std::int64_t> row_ids;
    for (const auto& r : refs) row_ids.push_back(r.second);
    const auto rows = co_await outbox_.local_rows(*target, row_ids);
    for (const auto& [column, row_id] : refs) {
      const auto row = rows.find(row_id);
      const std::string what = column + ": row " + std::to_string(row_id) + " of " + target->table;
      if (row == rows.end()) co_return what + " does not exist";
      if (row->second.vtiger_id) {
        values[column] = *row->second.vtiger_id;
        continue;
      }
      if (row->second.sync_state == "failed") co_return what + " was not created in Vtiger (it failed)";
      wait = true;
      co_return "waiting for the create of " + what;
    }
  }
  (void)entry;
  co_return std::string{};
}

asio::awaitable<pusher::outcome> pusher::handle_on(vtiger::client& on, outbox_entry& entry,
                                                   drain_stats& stats, bool& vtiger_down) {
  if (vtiger_down) {
    // Nothing was sent for it: the claim's attempt does not count (a create would otherwise be looked up
    // in Vtiger before it is sent next time).
    co_await outbox_.release(entry, "not attempted: Vtiger unavailable", /*attempted=*/false);
    co_return outcome::released;
  }
  session_of_[entry.id] = &on;
  const auto result = co_await handle(entry, stats);
  session_of_.erase(entry.id);
  if (result == outcome::vtiger_down) vtiger_down = true;
  co_return result;
}

asio::awaitable<std::size_t> pusher::push_batch(std::span<outbox_entry> entries, drain_stats& stats,
                                                bool& vtiger_down) {
  session_of_.clear();
  co_await read_remote(entries);
  std::size_t next = 0;
  std::size_t progress = 0;
  std::size_t deferred = 0;
  const auto count = [&](outcome o) {
    switch (o) {
      case outcome::done:
      case outcome::failed:
        ++stats.handled;
        ++progress;
        break;
      case outcome::deferred:
        ++deferred;
        [[fallthrough]];
      case outcome::released:
      case outcome::vtiger_down:
        ++stats.released;
        break;
    }
  };
  std::exception_ptr failure;  // a lane's (PostgreSQL) failure: the others stop at their entry's end
  // Each session takes the batch's next entry when its previous one is finished.
  auto lane = [&](vtiger::client* on) -> asio::awaitable<void> {
    while (next < entries.size() && !failure) {
      auto& entry = entries[next++];
      count(co_await handle_on(*on, entry, stats, vtiger_down));
    }
  };
  const std::size_t lanes = std::min(sessions_.size(), entries.size());
  if (lanes > 1 && !client_.session_info() && settings_.default_assigned_user_id.empty()) {
    // The creates' owner is the first session's user: log it in once, not from several lanes at once. When
    // that fails, each create meets the failure itself (create_element) and reacts to it.
    try {
      co_await client_.login();
    } catch (const vtiger::client_error& e) {
      spdlog::debug("push: login before a batch failed: {}", e.what());
    }
  }
  if (lanes <= 1) {
    co_await lane(&client_);
  } else {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer all_done{executor, std::chrono::steady_clock::time_point::max()};
    std::size_t running = lanes;
    for (std::size_t i = 0; i < lanes; ++i) {
      asio::co_spawn(executor, lane(sessions_[i]), [&](const std::exception_ptr& e) {
        if (e && !failure) failure = e;
        if (--running == 0) all_done.cancel();
      });
    }
    // The lanes refer to this frame: wait for every one of them, even when this coroutine is cancelled
    // meanwhile (each lane ends at its entry's end; run() notices the cancellation afterwards).
    co_await asio::this_coro::throw_if_cancelled(false);
    while (running > 0) (void)co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await asio::this_coro::throw_if_cancelled(true);
    if (failure) std::rethrow_exception(failure);
  }
  // Entries that only wait for another row's create (in this batch) count as progress of the batch when
  // something else moved; a batch of nothing but waiting entries pauses like Vtiger trouble.
  if (progress == 0 && deferred > 0) vtiger_down = true;
  co_return progress;
}

}  // namespace vtsync::sync

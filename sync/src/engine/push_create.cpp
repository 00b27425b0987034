// The push of a local INSERT (push.hpp): create, exactly once. The id of an accepted create is recorded
// before anything else; a create that may have happened is looked for and adopted, never sent again.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "push_calls.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;
using storage::outbox_entry;

asio::awaitable<std::optional<json>> pusher::create_element(table_ref table, const outbox_entry& entry,
                                                            const json& values, std::string& trouble) {
  json element = fields_to_send(table, entry, values, settings_.idempotency_field);
  // The owner is needed even when it is outside the module's fields (a create without one is refused).
  const bool has_owner = table.find("assigned_user_id") != nullptr ||
                         std::find(table.skipped_fields.begin(), table.skipped_fields.end(),
                                   "assigned_user_id") != table.skipped_fields.end();
  if (has_owner && !element.contains("assigned_user_id")) {
    std::optional<std::string> owner;
    try {
      owner = co_await owner_for_create();
    } catch (const vtiger::client_error& e) {
      trouble = e.what();
    }
    if (!owner) co_return std::nullopt;
    element["assigned_user_id"] = *owner;
  }
  // Vtiger keeps a Calendar record as a task only when activitytype "Task" is sent (a value its picklist
  // lacks); without it the record becomes an event, under an id that Calendar then refuses (303-314).
  if (table.module == "Calendar" && table.find("activitytype") && !element.contains("activitytype"))
    element["activitytype"] = "Task";
  if (!settings_.idempotency_field.empty()) element[settings_.idempotency_field] = idempotency_key(entry);
  co_return element;
}

asio::awaitable<pusher::outcome> pusher::push_create(table_ref table, entry_ref entry, const json& element,
                                                     drain_stats& stats) {
  // A create that may already have happened (an earlier attempt of this entry, its id never recorded):
  // look before sending.
  if (entry.attempts > 1) {
    auto look = co_await look_for_created(table, entry, element);
    if (look.error) {
      const auto then = react(push_step::look_up, classify(std::nullopt, look.error, "query"));
      co_return co_await settle(entry, then, look.error->what(), stats);
    }
    if (look.found) co_return co_await adopt(table, entry, element, std::move(*look.found), stats);
  }

  auto call = session(entry).create(table.module, element);
  auto r = co_await capture(call);
  const auto then = react(push_step::create, end_of(r, "create"));
  if (then == reaction::proceed) {
    const json& record = r.answer->value();
    if (settings_.after_create) settings_.after_create(entry);
    // Durable first: whatever fails from here on, this entry is adopted, not created again.
    const auto id = record.value("id", std::string{});
    if (!id.empty()) {
      co_await outbox_.record_created(entry, id);
      entry.vtiger_id = id;
    }
    if (settings_.after_accepted) settings_.after_accepted(entry);
    co_return co_await finish(table, entry, record, "create", stats);
  }
  if (then != reaction::look_up) co_return co_await settle(entry, then, r.message(), stats);

  // The create may have been committed: look for it now.
  spdlog::info("push: {} create of row {}: reply lost ({}); looking for the record", table.module,
               entry.row_id, r.message());
  auto look = co_await look_for_created(table, entry, element);
  if (!look.found) {
    // Not found (yet): the server may still be working on it. Wait for the backoff before looking again.
    co_return co_await settle(entry, reaction::pause, "create outcome unknown: " + r.message(), stats);
  }
  co_return co_await adopt(table, entry, element, std::move(*look.found), stats);
}

asio::awaitable<pusher::outcome> pusher::adopt(table_ref table, entry_ref entry, const json& element,
                                               json found, drain_stats& stats) {
  const std::string adopted_id = found.value("id", std::string{});
  spdlog::info("push: {} create of row {}: adopting {} made by an earlier attempt", table.module,
               entry.row_id, adopted_id);
  if (entry.vtiger_id != adopted_id) {
    co_await outbox_.record_created(entry, adopted_id);
    entry.vtiger_id = adopted_id;
  }
  // The adopted record holds what that earlier attempt sent; the row may have changed since (later edits
  // folded into this entry). Bring the record up to the row's values before taking it as ours, or the
  // write-back would put the older values over the user's newer ones. Whatever fails here, the next attempt
  // adopts the same record again (its id is recorded) and compares again: never a second create, never a
  // lost edit.
  json catch_up = json::object();
  for (auto it = element.begin(); it != element.end(); ++it) {
    const auto* col = table.find(it.key());
    if (!same_value(col ? col->type : storage::column_type::text, it.value(), found.value(it.key(), json{})))
      catch_up[it.key()] = it.value();
  }
  if (!catch_up.empty()) {
    catch_up["id"] = adopted_id;
    auto revise_call = session(entry).revise(catch_up);
    auto r = co_await capture(revise_call);
    const auto then = react(push_step::revise, end_of(r, "revise"));
    if (then != reaction::proceed) {
      spdlog::warn("push: {} row {}: adopted {} but its newer values were not accepted: {}", table.module,
                   entry.row_id, adopted_id, r.message());
      co_return co_await settle(entry, then,
                                "adopted " + adopted_id + ", newer values not sent: " + r.message(), stats);
    }
    found = r.answer->value();
  }
  ++stats.adopted;
  co_return co_await finish(table, entry, found, "create", stats);
}

asio::awaitable<pusher::outcome> pusher::adopt_known(table_ref table, entry_ref entry, const json& element,
                                                     drain_stats& stats) {
  auto call = session(entry).retrieve(*entry.vtiger_id);
  auto r = co_await capture(call);
  const auto then = react(push_step::retrieve, end_of(r, "retrieve"));
  if (then != reaction::proceed) {
    const std::string error =
        "created in Vtiger as " + *entry.vtiger_id + ", not readable now: " + r.message();
    co_return co_await settle(entry, then, error, stats);
  }
  co_return co_await adopt(table, entry, element, r.answer->value(), stats);
}

asio::awaitable<pusher::outcome> pusher::delete_orphan(table_ref table, entry_ref entry, drain_stats& stats) {
  json element = json::object();
  element[settings_.idempotency_field] = idempotency_key(entry);
  auto look = co_await look_for_created(table, entry, element);
  if (look.error) co_return co_await settle(entry, reaction::pause, look.error->what(), stats);
  if (look.found && look.found->contains("id")) {
    const auto id = (*look.found)["id"].get<std::string>();
    spdlog::info("push: {} row {} was deleted locally after its create reached Vtiger as {}: deleting it",
                 table.module, entry.row_id, id);
    auto call = session(entry).delete_record(id);
    auto r = co_await capture(call);
    const auto end = end_of(r, "delete");
    // ACCESS_DENIED: already gone.
    if (end != call_end::accepted && end != call_end::access_denied)
      co_return co_await settle(
          entry, react(push_step::remove, end) == reaction::resend ? reaction::resend : reaction::pause,
          r.message(), stats);
    if (end == call_end::accepted) {
      ++stats.pushed;
      if (observer_.on_pushed) observer_.on_pushed(table.module, "delete");
    }
  }
  const std::optional<storage::row_batch> none;
  co_await outbox_.mark_done(table, entry, none, entry.vtiger_id);
  co_return outcome::done;
}

asio::awaitable<pusher::look_result> pusher::look_for_created(table_ref table, const outbox_entry& entry,
                                                              const json& element) {
  look_result out;
  try {
    out.found = co_await find_created(table, entry, element);
  } catch (const vtiger::client_error& e) {
    out.error.emplace(e);
  }
  co_return out;
}

asio::awaitable<std::optional<json>> pusher::find_created(table_ref table, const outbox_entry& entry,
                                                          const json& element) {
  namespace vtql = vtiger::vtql;
  if (!settings_.idempotency_field.empty()) {
    vtql::select_query q{table.module};
    q.where(settings_.idempotency_field, "=", element[settings_.idempotency_field].get<std::string>());
    const auto text = q.str();
    auto r = co_await session(entry).query(*text);
    const json rows = r.value();  // a rejected query is unexpected here: client_error{api}
    if (rows.is_array() && !rows.empty()) co_return rows.front();
    co_return std::nullopt;
  }

  // Without an idempotency field: candidates by the mandatory values we sent, created since the change.
  vtql::select_query base{table.module};
  bool first = true;
  const auto add = [&](const std::string& field, std::string_view op, const std::string& value) {
    if (first) {
      base.where(field, op, value);
    } else {
      base.and_where(field, op, value);
    }
    first = false;
  };
  for (const auto& col : table.columns) {
    if (!col.mandatory || col.name == "assigned_user_id" || !vtql::is_identifier(col.name)) continue;
    if (table.lines && col.name == "productid") continue;  // an inventory query shows the LAST line's
    const auto v = element.find(col.name);
    if (v == element.end() || !v->is_string() || v->get_ref<const std::string&>().empty()) continue;
    add(col.name, "=", v->get<std::string>());
  }
  // The change's commit time (server zone, rendered by the claim) less the margin for clock skew: wall-clock
  // arithmetic on the zoneless string (across a DST change the window is an hour wider or narrower than
  // the margin says; the margin is minutes against a create that happened seconds after the commit).
  const auto since = shift_datetime(entry.created_at_vtiger, -settings_.lookup_margin);
  if (!since)
    throw vtiger::client_error(vtiger::error_kind::invalid_argument,
                               "no commit time on outbox entry " + std::to_string(entry.id));
  add("createdtime", ">=", *since);

  std::vector<json> matches;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    vtql::select_query q = base;
    if (!after.empty()) q.and_where("id", ">", after);
    q.order_by({"id"}).limit(vtql::max_page_size);
    const auto text = q.str();
    auto r = co_await session(entry).query(*text);
    const json rows = r.value();
    if (!rows.is_array() || rows.empty()) break;
    for (const auto& rec : rows) {
      bool all = true;
      for (auto it = element.begin(); all && it != element.end(); ++it) {
        // An inventory record's lines and first product are not in its query rows (push_lines.cpp).
        if (table.lines && (it.key() == "LineItems" || it.key() == "productid")) continue;
        const auto* col = table.find(it.key());
        all =
            same_value(col ? col->type : storage::column_type::text, it.value(), rec.value(it.key(), json{}));
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
  const auto held = co_await outbox_.held_vtiger_ids(table, ids);
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

}  // namespace vtsync::sync

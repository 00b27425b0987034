// The push of the related lists' links (push.hpp: push_relation; storage/relations.hpp).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "push_calls.hpp"
#include "vtsync/storage/relations.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/record/values.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;
using storage::outbox_op;

asio::awaitable<std::string> pusher::relation_target(vtiger::client& on, const std::string& source,
                                                     const std::string& label, std::string& why) {
  const auto x = source.find('x');
  const std::string prefix = x == std::string::npos ? std::string{} : source.substr(0, x);
  std::string module;
  for (const auto& [name, table] : tables_) {
    if (!table.relations || prefix.empty()) continue;
    auto described = co_await on.describe(name);  // cached
    if (described && described->value("idPrefix", std::string{}) == prefix) module = name;
  }
  if (module.empty()) {
    why = "source_id " + source +
          " is not a record of a module whose related lists are synced (modules.<Module>.related)";
    co_return std::string{};
  }
  auto known = relation_types_.find(module);
  if (known == relation_types_.end()) {
    const std::string operation = "relatedtypes";  // named: GCC 12 (see push_calls.hpp)
    const vtiger::param_list params{{"elementType", module}};
    auto call = on.call(operation, params, vtiger::http_method::get);
    auto r = co_await capture(call);
    if (!r.accepted()) {
      why = "relatedtypes of " + module + ": " + r.message();
      co_return std::string{};
    }
    known = relation_types_.emplace(module, r.answer->value().value("information", json::object())).first;
  }
  const auto info = known->second.find(label);
  if (info == known->second.end() || !info->is_object()) {
    std::string labels;
    for (const auto& [name, _] : known->second.items()) labels += (labels.empty() ? "" : ", ") + name;
    why = "label '" + label + "': Vtiger's relatedtypes for " + module +
          " has no such list (it has: " + labels + ")";
    co_return std::string{};
  }
  // A list Vtiger has but the configuration does not sync would be pushed and then never pulled again.
  const auto& synced = tables_.at(module).related;
  if (std::find(synced.begin(), synced.end(), label) == synced.end()) {
    why = "label '" + label + "' of " + module + " is not a synced list (modules." + module + ".related)";
    co_return std::string{};
  }
  co_return info->value("name", std::string{});
}

asio::awaitable<pusher::outcome> pusher::push_relation(table_ref table, entry_ref entry, drain_stats& stats) {
  const std::optional<storage::row_batch> none;
  // A delete here is of a link never pushed (the trigger refuses the others); a row already linked, or
  // gone, has nothing left to send.
  if (entry.op == outbox_op::remove || !entry.row || entry.row->vtiger_id) {
    co_await outbox_.mark_done(table, entry, none, entry.row ? entry.row->vtiger_id : entry.vtiger_id);
    co_return outcome::done;
  }
  const json values = record::to_vtiger_values(table, entry.row->values);
  auto text = [&](const char* name) {
    const auto v = values.find(name);
    return v != values.end() && v->is_string() ? v->get<std::string>() : std::string{};
  };
  const std::string source = text("source_id");
  const std::string label = text("label");
  const std::string related = text("related_id");
  if (source.empty() || label.empty() || related.empty())
    co_return co_await fail(entry, "a link needs source_id, label and related_id", stats);
  auto& on = session(entry);
  std::string why;
  const std::string target = co_await relation_target(on, source, label, why);
  if (target.empty()) {
    if (why.rfind("relatedtypes of", 0) == 0) co_return co_await settle(entry, reaction::pause, why, stats);
    co_return co_await fail(entry, why, stats);
  }
  const std::string add = "add_related";
  const vtiger::param_list add_params{
      {"sourceRecordId", source}, {"relatedRecordId", related}, {"relationIdLabel", label}};
  auto add_call = on.call(add, add_params, vtiger::http_method::post);
  auto added = co_await capture(add_call);
  // add_related is idempotent (a repeat links nothing twice): any trouble sends it again.
  if (const auto then = react(push_step::revise, end_of(added, "add_related")); then != reaction::proceed)
    co_return co_await settle(entry, then, added.message(), stats);
  // It answers success for any label and unrelated records: confirm that the link exists.
  const std::string read = "retrieve_related";
  const vtiger::param_list read_params{{"id", source}, {"relatedType", target}, {"relatedLabel", label}};
  auto read_call = on.call(read, read_params, vtiger::http_method::get);
  auto seen = co_await capture(read_call);
  if (const auto then = react(push_step::look_up, end_of(seen, "retrieve_related"));
      then != reaction::proceed)
    co_return co_await settle(entry, then, seen.message(), stats);
  bool linked = false;
  if (seen.answer->value().is_array())
    for (const auto& row : seen.answer->value())
      linked = linked || (row.is_object() && row.value("id", std::string{}) == related);
  if (!linked) {
    co_return co_await fail(entry,
                            "Vtiger answered add_related with success but " + source + "'s " + label +
                                " list does not show " + related + " (is it a record of " + target + "?)",
                            stats);
  }
  // The row becomes the link Vtiger has, keyed (a later unlink of it is refused: relations.hpp).
  storage::row_batch linked_row;
  linked_row.vtiger_ids.emplace_back(storage::relation_key(source, label, related));
  linked_row.bases.emplace_back(std::nullopt);
  for (const auto& c : table.columns) linked_row.columns.push_back({text(c.name.c_str())});
  co_await outbox_.mark_done(table, entry, linked_row);
  ++stats.pushed;
  if (observer_.on_pushed) observer_.on_pushed(table.module, "create");
  co_return outcome::done;
}

}  // namespace vtsync::sync

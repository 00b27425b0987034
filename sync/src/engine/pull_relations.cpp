// The pull of a module's related lists (pull.hpp: fetch_relations, take_relations, load_relations;
// storage/relations.hpp). Vtiger moves only the SOURCE record's modifiedtime when a link is added or removed
// (in the CRM or with add_related: recordings 354/355, 366/367 and a real 8.2 lab), so the links of each
// record a page brings with a moved modifiedtime are read again: one retrieve_related per record and label
// (Vtiger has no batched form), stored with the page and its cursor in one transaction. A record a page
// re-reads unchanged (the overlap window) costs nothing. The labels' target modules come from relatedtypes,
// asked once. Records mirrored before their list was configured are read once by load_relations.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/record/table.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<void> module_puller::relation_targets(vtiger::client& client, std::size_t& queries) {
  if (!relation_targets_.empty()) co_return;
  const std::string self = table_.module;
  const auto info = co_await related_types(client, self, queries);
  std::map<std::string, std::string> targets;
  for (const auto& label : settings_.related) {
    const auto it = info.find(label);
    if (it == info.end() || !it->is_object() || !it->contains("name"))
      throw pull_error("relatedtypes of " + table_.module + " has no label '" + label + "'");
    targets[label] = it->value("name", std::string{});
  }
  relation_targets_ = std::move(targets);
}

asio::awaitable<void> module_puller::resolve_reverse_lists(vtiger::client& client, std::size_t& queries) {
  if (reverse_lists_) co_return;
  std::map<std::string, std::vector<std::string>> by_module;
  for (const auto& [module, label] : settings_.related_elsewhere) by_module[module].push_back(label);
  std::vector<reverse_list> found;
  std::optional<vtiger::json> mine;
  for (const auto& [module, labels] : by_module) {
    const auto theirs = co_await related_types(client, module, queries);
    std::vector<std::string> to_us;
    for (const auto& label : labels) {
      const auto it = theirs.find(label);
      if (it != theirs.end() && it->is_object() && it->value("name", std::string{}) == table_.module)
        to_us.push_back(label);
    }
    if (to_us.empty()) continue;
    if (!mine) {
      const std::string self = table_.module;
      mine = co_await related_types(client, self, queries);
    }
    std::vector<std::string> back;
    for (const auto& [label, info] : mine->items())
      if (info.is_object() && info.value("name", std::string{}) == module) back.push_back(label);
    if (to_us.size() != 1 || back.size() != 1) {
      spdlog::warn(
          "module={} links of {}'s list '{}' made from the {} side are seen only with the {} record's next "
          "change ({} of {}'s lists list {}, {} of {}'s list {})",
          table_.module, module, to_us.front(), table_.module, module, to_us.size(), module, table_.module,
          back.size(), table_.module, module);
      continue;
    }
    auto described = co_await client.describe(module);  // cached
    if (!described)
      throw pull_error("describe " + module + ": " + described.error().code + ": " +
                       described.error().message);
    found.push_back({module, to_us.front(), described->value("idPrefix", std::string{}), back.front()});
  }
  reverse_lists_ = std::move(found);
}

asio::awaitable<vtiger::json> module_puller::related_types(vtiger::client& client, const std::string& module,
                                                           std::size_t& queries) {
  const std::string operation = "relatedtypes";  // named: GCC 12 (see push_calls.hpp)
  const vtiger::param_list params{{"elementType", module}};
  ++queries;
  auto types = co_await client.call(operation, params, vtiger::http_method::get);
  if (!types)
    throw pull_error("relatedtypes of " + module + ": " + types.error().code + ": " + types.error().message);
  co_return types->value("information", vtiger::json::object());
}

asio::awaitable<bool> module_puller::read_links(vtiger::client& client, const std::string& id,
                                                const std::string& related_type, const std::string& label,
                                                std::vector<storage::relation_link>& out,
                                                std::size_t& queries) {
  const std::string operation = "retrieve_related";  // named: GCC 12 (see push_calls.hpp)
  const vtiger::param_list params{{"id", id}, {"relatedType", related_type}, {"relatedLabel", label}};
  ++queries;
  auto answer = co_await client.call(operation, params, vtiger::http_method::get);
  if (!answer) {
    // A record deleted since the page was read (ACCESS_DENIED; INTERNAL_SERVER_ERROR from add_related's
    // kin on a deleted source) is left as it is: the deletion removes its links.
    const auto& code = answer.error().code;
    if (code == "ACCESS_DENIED" || code == "INTERNAL_SERVER_ERROR" || code == "RECORD_NOT_FOUND") {
      spdlog::debug("module={} retrieve_related {} {}: {}: {} (links left as they are)", table_.module, id,
                    label, code, answer.error().message);
      co_return false;
    }
    throw pull_error("retrieve_related " + id + " " + label + ": " + code + ": " + answer.error().message);
  }
  if (!answer->is_array()) throw pull_error("retrieve_related " + id + " " + label + ": not a list");
  for (const auto& row : *answer) {
    const std::string related = row.is_object() ? row.value("id", std::string{}) : std::string{};
    if (!related.empty()) out.push_back({id, label, related});
  }
  co_return true;
}

asio::awaitable<void> module_puller::fetch_relations(vtiger::client& client,
                                                     std::span<const flat_record> page, std::size_t& queries,
                                                     bool every) {
  if (!table_.relations || page.empty()) co_return;
  co_await resolve_reverse_lists(client, queries);
  const bool own = !settings_.related.empty();
  if (!own && reverse_lists_->empty()) co_return;
  if (own) co_await relation_targets(client, queries);
  // Which records moved: those the mirror does not hold with this modifiedtime (storage::unmoved_records).
  std::vector<std::string> ids, times;
  const auto rows = record::to_rows(table_, page);
  std::size_t at = table_.columns.size();
  for (std::size_t i = 0; i < table_.columns.size(); ++i)
    if (table_.columns[i].name == "modifiedtime") at = i;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (!rows.vtiger_ids[r] || at == table_.columns.size() || !rows.columns[at][r]) continue;
    ids.push_back(*rows.vtiger_ids[r]);
    times.push_back(*rows.columns[at][r]);
  }
  // (`every`: read them all, as a resync asks.)
  std::set<std::string> unmoved;
  if (!every)
    unmoved = co_await storage::unmoved_records(storage_.rows.conn(), table_, ids, times, settings_.overlap);
  for (const auto& record : page) {
    const std::string id{record.text("id")};
    if (id.empty() || unmoved.contains(id)) continue;
    std::vector<storage::relation_link> links;
    bool read = true;
    for (const auto& label : settings_.related) {
      if (!read) break;
      const std::string type = relation_targets_[label];
      read = co_await read_links(client, id, type, label, links, queries);
    }
    if (!read) {
      fetched_links_.erase(id);
      fetched_reverse_.erase(id);
      continue;
    }
    // The other modules' lists, from this record's side: one more retrieve_related, unless our own list
    // `back_label` was just read.
    auto& reverse = fetched_reverse_[id];
    reverse.clear();
    for (std::size_t i = 0; i < reverse_lists_->size(); ++i) {
      const auto& r = (*reverse_lists_)[i];
      std::vector<storage::relation_link> seen;
      if (std::find(settings_.related.begin(), settings_.related.end(), r.back_label) !=
          settings_.related.end()) {
        for (const auto& l : links)
          if (l.label == r.back_label) seen.push_back(l);
      } else {
        const bool ok = co_await read_links(client, id, r.source_module, r.back_label, seen, queries);
        if (!ok) continue;
      }
      std::vector<storage::relation_link> theirs;
      for (const auto& l : seen) theirs.push_back({l.related, r.label, id});
      reverse.emplace_back(i, std::move(theirs));
    }
    if (own) fetched_links_[id] = std::move(links);
  }
}

std::function<asio::awaitable<void>(storage::connection&)> module_puller::take_relations(
    std::span<const flat_record> records) {
  if (!table_.relations || (fetched_links_.empty() && fetched_reverse_.empty())) return {};
  struct seen_from_us {
    std::string label, source_prefix;
    std::vector<std::string> related_ids;
    std::vector<storage::relation_link> links;
  };
  struct page_links {
    storage::mirror_table table;
    std::vector<std::string> sources;
    std::vector<std::string> labels;
    std::vector<storage::relation_link> links;
    std::vector<seen_from_us> reverse;
  };
  auto taken = std::make_shared<page_links>();
  if (reverse_lists_)
    for (const auto& r : *reverse_lists_) taken->reverse.push_back({r.label, r.source_prefix, {}, {}});
  for (const auto& r : records) {
    const std::string id{r.text("id")};
    if (const auto it = fetched_links_.find(id); it != fetched_links_.end()) {
      taken->sources.push_back(id);
      for (auto& l : it->second) taken->links.push_back(std::move(l));
      fetched_links_.erase(it);
    }
    if (const auto it = fetched_reverse_.find(id); it != fetched_reverse_.end()) {
      for (auto& [i, links] : it->second) {
        taken->reverse[i].related_ids.push_back(id);
        for (auto& l : links) taken->reverse[i].links.push_back(std::move(l));
      }
      fetched_reverse_.erase(it);
    }
  }
  const bool any_reverse = std::any_of(taken->reverse.begin(), taken->reverse.end(),
                                       [](const seen_from_us& s) { return !s.related_ids.empty(); });
  if (taken->sources.empty() && !any_reverse) return {};
  taken->table = *table_.relations;
  taken->labels = settings_.related;
  return [taken](storage::connection& c) -> asio::awaitable<void> {
    if (!taken->sources.empty())
      (void)co_await storage::store_relations(c, taken->table, taken->sources, taken->labels, taken->links);
    for (const auto& s : taken->reverse)
      (void)co_await storage::store_relations_to(c, taken->table, s.related_ids, s.label, s.source_prefix,
                                                 s.links);
  };
}

asio::awaitable<std::size_t> module_puller::load_relations(std::chrono::steady_clock::time_point deadline) {
  if (!table_.relations || settings_.related.empty() || relations_loaded_) co_return 0;
  constexpr std::size_t batch = 20;  // records per transaction (one retrieve_related each)
  auto& conn = storage_.rows.conn();
  const auto& state_schema = storage_.rows.options().state_schema;
  std::size_t read = 0, queries = 0;
  while (std::chrono::steady_clock::now() < deadline && !(stop_check_ && stop_check_())) {
    auto load = co_await storage::next_relation_load(conn, state_schema, table_, settings_.related, batch);
    if (!load) {
      if (read > 0) spdlog::info("module={} related lists loaded", table_.module);
      relations_loaded_ = true;
      break;
    }
    co_await relation_targets(client_, queries);
    std::vector<std::string> sources;
    std::vector<storage::relation_link> links;
    for (const auto& id : load->ids)
      if (co_await read_links(client_, id, relation_targets_[load->label], load->label, links, queries))
        sources.push_back(id);
    const bool done = load->ids.size() < batch;
    // The walk moves past the records it could not read too (deleted meanwhile: their deletion settles them).
    const std::string walked_to = load->ids.empty() ? std::string{} : load->ids.back();
    const storage::relation_load stored{load->label, std::move(sources)};
    co_await storage::store_relation_load(conn, state_schema, table_, *table_.relations, stored, walked_to,
                                          links, done, storage_.rows.options().retry);
    read += load->ids.size();
    if (read % 1000 < batch)
      spdlog::info("module={} reading related list '{}' of the mirrored records: {} so far", table_.module,
                   load->label, read);
  }
  co_return read;
}

}  // namespace vtsync::sync

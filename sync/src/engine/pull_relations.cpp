// The pull of a module's related lists (pull.hpp: fetch_relations, take_relations, load_relations;
// storage/relations.hpp). Vtiger moves only the SOURCE record's modifiedtime when a link is added or removed
// (in the CRM or with add_related: recordings 354/355, 366/367 and a real 8.2 lab), so the links of each
// record a page brings with a moved modifiedtime are read again: one retrieve_related per record and label
// (Vtiger has no batched form), stored with the page and its cursor in one transaction. A record a page
// re-reads unchanged (the overlap window) costs nothing. The labels' target modules come from relatedtypes,
// asked once. Records mirrored before their list was configured are read once by load_relations.
#include <spdlog/spdlog.h>

#include <memory>

#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/record/table.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<void> module_puller::relation_targets(vtiger::client& client, std::size_t& queries) {
  if (!relation_targets_.empty()) co_return;
  const std::string operation = "relatedtypes";  // named: GCC 12 (see push_calls.hpp)
  const vtiger::param_list params{{"elementType", table_.module}};
  ++queries;
  auto types = co_await client.call(operation, params, vtiger::http_method::get);
  if (!types)
    throw pull_error("relatedtypes of " + table_.module + ": " + types.error().code + ": " +
                     types.error().message);
  const auto info = types->value("information", vtiger::json::object());
  std::map<std::string, std::string> targets;
  for (const auto& label : settings_.related) {
    const auto it = info.find(label);
    if (it == info.end() || !it->is_object() || !it->contains("name"))
      throw pull_error("relatedtypes of " + table_.module + " has no label '" + label + "'");
    targets[label] = it->value("name", std::string{});
  }
  relation_targets_ = std::move(targets);
}

asio::awaitable<bool> module_puller::read_links(vtiger::client& client, const std::string& id,
                                                const std::string& label,
                                                std::vector<storage::relation_link>& out,
                                                std::size_t& queries) {
  const std::string operation = "retrieve_related";  // named: GCC 12 (see push_calls.hpp)
  const vtiger::param_list params{
      {"id", id}, {"relatedType", relation_targets_[label]}, {"relatedLabel", label}};
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
                                                     std::span<const flat_record> page,
                                                     std::size_t& queries) {
  if (!table_.relations || settings_.related.empty() || page.empty()) co_return;
  co_await relation_targets(client, queries);
  // Which records moved: those the mirror does not hold with this modifiedtime.
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
  const auto unmoved = co_await storage::unmoved_records(storage_.rows.conn(), table_, ids, times);
  for (const auto& record : page) {
    const std::string id{record.text("id")};
    if (id.empty() || unmoved.contains(id)) continue;
    std::vector<storage::relation_link> links;
    bool read = true;
    for (const auto& label : settings_.related)
      read = read && co_await read_links(client, id, label, links, queries);
    if (read)
      fetched_links_[id] = std::move(links);
    else
      fetched_links_.erase(id);
  }
}

std::function<asio::awaitable<void>(storage::connection&)> module_puller::take_relations(
    std::span<const flat_record> records) {
  if (!table_.relations || fetched_links_.empty()) return {};
  struct page_links {
    storage::mirror_table table;
    std::vector<std::string> sources;
    std::vector<std::string> labels;
    std::vector<storage::relation_link> links;
  };
  auto taken = std::make_shared<page_links>();
  for (const auto& r : records) {
    const std::string id{r.text("id")};
    const auto it = fetched_links_.find(id);
    if (it == fetched_links_.end()) continue;
    taken->sources.push_back(id);
    for (auto& l : it->second) taken->links.push_back(std::move(l));
    fetched_links_.erase(it);
  }
  if (taken->sources.empty()) return {};
  taken->table = *table_.relations;
  taken->labels = settings_.related;
  return [taken](storage::connection& c) -> asio::awaitable<void> {
    (void)co_await storage::store_relations(c, taken->table, taken->sources, taken->labels, taken->links);
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
      if (co_await read_links(client_, id, load->label, links, queries)) sources.push_back(id);
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

// The pull of a module's related lists (pull.hpp: fetch_relations, take_relations; storage/relations.hpp).
// Vtiger moves only the SOURCE record's modifiedtime when a link is added or removed (in the CRM or with
// add_related: recordings 354/355, 366/367 and a real 8.2 lab), so the links of each record a page brings
// are read again: one retrieve_related per record and label (Vtiger has no batched form), and stored with
// the page and its cursor in one transaction. The labels' target modules come from relatedtypes, asked
// once.
#include <spdlog/spdlog.h>

#include <memory>

#include "vtsync/sync/engine/pull.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<void> module_puller::fetch_relations(vtiger::client& client,
                                                     std::span<const flat_record> page,
                                                     std::size_t& queries) {
  if (!table_.relations || settings_.related.empty() || page.empty()) co_return;
  if (relation_targets_.empty()) {
    const std::string operation = "relatedtypes";  // named: GCC 12 (see push_calls.hpp)
    const vtiger::param_list params{{"elementType", table_.module}};
    ++queries;
    auto types = co_await client.call(operation, params, vtiger::http_method::get);
    if (!types)
      throw pull_error("relatedtypes of " + table_.module + ": " + types.error().code + ": " +
                       types.error().message);
    const auto info = types->value("information", vtiger::json::object());
    for (const auto& label : settings_.related) {
      const auto it = info.find(label);
      if (it == info.end() || !it->is_object() || !it->contains("name"))
        throw pull_error("relatedtypes of " + table_.module + " has no label '" + label + "'");
      relation_targets_[label] = it->value("name", std::string{});
    }
  }
  for (const auto& record : page) {
    const std::string id{record.text("id")};
    if (id.empty()) continue;
    auto& links = fetched_links_[id];
    links.clear();
    for (const auto& label : settings_.related) {
      const std::string operation = "retrieve_related";
      const vtiger::param_list params{
          {"id", id}, {"relatedType", relation_targets_[label]}, {"relatedLabel", label}};
      ++queries;
      auto answer = co_await client.call(operation, params, vtiger::http_method::get);
      if (!answer) {
        fetched_links_.erase(id);
        throw pull_error("retrieve_related " + id + " " + label + ": " + answer.error().code + ": " +
                         answer.error().message);
      }
      if (!answer->is_array()) throw pull_error("retrieve_related " + id + " " + label + ": not a list");
      for (const auto& row : *answer) {
        const std::string related = row.is_object() ? row.value("id", std::string{}) : std::string{};
        if (!related.empty()) links.push_back({id, label, related});
      }
    }
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

}  // namespace vtsync::sync

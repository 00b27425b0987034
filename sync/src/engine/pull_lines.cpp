// The pull of an inventory module's line items (pull.hpp: fetch_lines, take_lines; storage/line_rows.hpp).
// A page of changed headers brings its lines with batched LineItem queries (the ids of the whole page in
// one `parent_id IN (...)`, paged by id past Vtiger's 100-row cap), and they are stored with the page and
// its cursor in one transaction. The header rows' own productid/quantity/listprice... are what Vtiger's
// query answers for an inventory module (the LAST line's values): they are kept as columns, but lines are
// read only from LineItem.
#include <spdlog/spdlog.h>

#include <memory>

#include "vtsync/storage/line_rows.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/record/table.hpp"
#include "vtsync/sync/record/values.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<std::vector<flat_record>> module_puller::fetch_page(vtiger::client& client, std::string vtql,
                                                                    std::size_t& queries) {
  auto page = co_await fetch(client, vtql, queries);
  co_await fetch_lines(client, page, queries);
  co_await fetch_relations(client, page, queries);
  co_return page;
}

asio::awaitable<void> module_puller::fetch_lines(vtiger::client& client, std::span<const flat_record> page,
                                                 std::size_t& queries) {
  if (!table_.lines || page.empty()) co_return;
  std::vector<std::string> parents;
  parents.reserve(page.size());
  for (const auto& r : page) {
    const auto id = r.text("id");
    if (!id.empty()) parents.emplace_back(id);
  }
  if (parents.empty()) co_return;
  std::map<std::string, std::vector<flat_record>> found;
  for (const auto& p : parents) found[p];
  std::string after;
  while (true) {
    vtiger::vtql::select_query q{"LineItem"};
    q.where_in("parent_id", parents);
    if (!after.empty()) q.and_where("id", ">", after);
    q.order_by({"id"}).limit(vtiger::vtql::max_page_size);
    const auto text = q.str();
    if (!text) co_return;  // an empty id: nothing to ask
    ++queries;
    auto answer = co_await client.query_records(*text);
    if (!answer) {
      throw pull_error("query on LineItem (lines of " + table_.module + ") rejected: " + answer.error().code +
                       ": " + answer.error().message);
    }
    std::vector<flat_record> rows;
    if (answer->records) {
      rows = std::move(*answer->records);
    } else if (answer->other.is_array()) {
      for (const auto& row : answer->other) rows.push_back(record::to_flat_record(row));
    } else {
      throw pull_error("query on LineItem answered something other than a list");
    }
    const bool last = rows.size() < vtiger::vtql::max_page_size;
    if (!last) after = std::string{rows.back().text("id")};
    for (auto& line : rows) {
      const std::string parent{line.text("parent_id")};
      if (const auto it = found.find(parent); it != found.end()) it->second.push_back(std::move(line));
    }
    if (last) break;
    if (after.empty()) throw pull_error("query on LineItem returned a row without id");
  }
  for (auto& [parent, lines] : found) fetched_lines_[parent] = std::move(lines);
}

std::function<asio::awaitable<void>(storage::connection&)> module_puller::take_lines(
    std::span<const flat_record> records) {
  if (!table_.lines || fetched_lines_.empty()) return {};
  struct page_lines {
    storage::mirror_table header;
    std::vector<std::string> parents;
    storage::row_batch rows;
    std::string zone;
  };
  auto taken = std::make_shared<page_lines>();
  std::vector<flat_record> lines;
  for (const auto& r : records) {
    const std::string id{r.text("id")};
    const auto it = fetched_lines_.find(id);
    if (it == fetched_lines_.end()) continue;
    taken->parents.push_back(id);
    for (auto& line : it->second) lines.push_back(std::move(line));
    fetched_lines_.erase(it);
  }
  if (taken->parents.empty()) return {};
  taken->header = table_;
  taken->rows = record::to_rows(*table_.lines, lines);
  taken->zone = storage_.rows.options().vtiger_timezone;
  return [taken](storage::connection& c) -> asio::awaitable<void> {
    (void)co_await storage::store_lines(c, taken->header, taken->parents, taken->rows, taken->zone);
  };
}

}  // namespace vtsync::sync

// The push of an inventory record's line items (push.hpp: add_line_items, write_back_lines;
// storage/line_rows.hpp). A change of the header or of any of its lines goes out as ONE create or revise of
// the header carrying the whole current list (Vtiger replaces all lines on every LineItems write and gives
// them new ids); Vtiger's answer (the recomputed totals, the lines with their new ids) is written back as
// daemon writes, so nothing of it is pushed again.
#include <spdlog/spdlog.h>

#include <array>

#include "push_calls.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// What a line sends: the fields a user sets (recording 237); the rest Vtiger computes or ignores (ids,
// sequence_no: the list's order is the sequence).
constexpr std::array<std::string_view, 9> line_fields{
    "productid", "quantity", "listprice", "discount_percent", "discount_amount", "comment",
    "tax1",      "tax2",     "tax3"};

bool zero_number(const json& v) {
  if (!v.is_string()) return v.is_number() && v.get<double>() == 0.0;
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) return true;
  try {
    std::size_t used = 0;
    return std::stod(s, &used) == 0.0 && used == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

asio::awaitable<std::string> pusher::add_line_items(table_ref table, const storage::outbox_entry& entry,
                                                    json& element, bool create) {
  const auto rows = co_await outbox_.line_values(table, entry.row_id);
  if (rows.empty()) {
    co_return "an inventory record needs at least one line item (Vtiger: \"Mandatory Fields Missing..\"): "
              "insert its lines into " +
        table.lines->qualified_name() + (create ? " in the same transaction as the header" : "");
  }
  json lines = json::array();
  for (const auto& row : rows) {
    const json values = record::to_vtiger_values(*table.lines, row);
    json line = json::object();
    for (const auto name : line_fields) {
      const auto v = values.find(std::string{name});
      if (v == values.end() || empty_value(*v)) continue;
      // A discount or tax of 0 is no discount: sending both discount kinds would make Vtiger pick one.
      if (name != "productid" && name != "quantity" && name != "listprice" && name != "comment" &&
          zero_number(*v))
        continue;
      line[std::string{name}] = *v;
    }
    lines.push_back(std::move(line));
  }
  if (create && (!element.contains("productid") || empty_value(element["productid"]))) {
    const auto first = lines.front().find("productid");
    if (first != lines.front().end()) element["productid"] = *first;
  }
  // Vtiger 8.2 answers HTTP 500 for either of these (recordings 270-273).
  if (const auto d = element.find("hdnDiscountAmount"); d != element.end() && empty_value(*d))
    element.erase(d);
  if (const auto sh = element.find("shipping_&_handling"); sh != element.end() && sh->is_null())
    element.erase(sh);
  element["LineItems"] = std::move(lines);
  lines_sent_.insert(entry.id);
  co_return std::string{};
}

asio::awaitable<void> pusher::write_back_lines(table_ref table, entry_ref entry, const json& record) {
  const std::string id = record.is_object() ? record.value("id", entry.vtiger_id.value_or("")) : "";
  if (id.empty()) co_return;
  json lines = record.is_object() ? record.value("LineItems", json::array()) : json::array();
  if (!lines.is_array() || lines.empty()) {
    // An answer without its lines (update answers "LineItems": []): one query for them.
    vtiger::vtql::select_query q{"LineItem"};
    q.where("parent_id", "=", id).order_by({"id"}).limit(vtiger::vtql::max_page_size);
    const auto text = q.str();
    auto call = session(entry).query(*text);
    auto r = co_await capture(call);
    if (!r.answer || r.answer->has_error()) {
      spdlog::warn("push: {} {}: its lines' new ids not read back ({}); the next pull brings them",
                   table.module, id, r.message());
      co_return;
    }
    lines = r.answer->value();
    if (!lines.is_array()) co_return;
  }
  std::vector<flat_record> records;
  records.reserve(lines.size());
  for (auto line : lines) {
    if (!line.is_object()) continue;
    line["parent_id"] = id;  // a create/revise answer says "7xArray"
    // Only in create/revise answers, never in LineItem query rows (the pull's).
    for (const char* extra : {"product_name", "entity_type", "deleted"}) line.erase(extra);
    records.push_back(record::to_flat_record(line));
  }
  const auto rows = record::to_rows(*table.lines, records);
  const bool written = co_await outbox_.write_back_lines(table, entry.row_id, id, rows);
  if (!written)
    spdlog::debug("push: {} {}: lines changed again meanwhile; their next push writes them back",
                  table.module, id);
}

}  // namespace vtsync::sync

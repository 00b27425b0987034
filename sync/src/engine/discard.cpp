// Giving up rejected local changes (discard.hpp).
#include "vtsync/sync/engine/discard.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "push_calls.hpp"
#include "pull_fields.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;
using storage::discard_outcome;

std::string_view to_string(discard_outcome outcome) noexcept {
  switch (outcome) {
    case discard_outcome::restored:
      return "restored";
    case discard_outcome::removed:
      return "removed";
    case discard_outcome::gone:
      return "gone";
    case discard_outcome::busy:
      return "busy";
  }
  return "busy";
}

namespace {

std::string joined(const std::vector<std::string>& ops) {
  std::string out;
  for (const auto& op : ops) out += (out.empty() ? "" : ",") + op;
  return out;
}

// What the row became, in the words of the conflicts log's remote side.
std::string remote_side(discard_outcome outcome, bool mark_deleted) {
  switch (outcome) {
    case discard_outcome::restored:
      return "Vtiger's values";
    case discard_outcome::removed:
      return "(never created: row removed)";
    case discard_outcome::gone:
      return mark_deleted ? "(deleted in Vtiger: row marked)" : "(deleted in Vtiger: row removed)";
    case discard_outcome::busy:
      break;
  }
  return {};
}

}  // namespace

asio::awaitable<std::vector<discarded_row>> discard_changes(
    vtiger::client& client, storage::outbox& outbox,
    const std::map<std::string, storage::mirror_table>& tables, const storage::discard_selector& which,
    bool mark_deleted) {
  std::vector<discarded_row> out;
  auto found = co_await outbox.failed_rows(which);
  for (auto& row : found) {
    discarded_row d;
    d.row = std::move(row);
    const auto t = tables.find(d.row.module);
    if (t == tables.end()) {
      d.note = "no mirror table for module " + d.row.module + " in the configuration";
      out.push_back(std::move(d));
      continue;
    }
    const storage::mirror_table& table = t->second;
    std::optional<storage::row_batch> record;
    if (d.row.vtiger_id) {
      // Vtiger's record now (outside any transaction: the row is locked only while it is written).
      const std::string id = *d.row.vtiger_id;
      auto retrieve_call = client.retrieve(id);  // (GCC 12: no temporaries inside a co_await expression)
      auto answer = co_await std::move(retrieve_call);
      if (answer) {
        record = written_back(table, answer.value());
      } else if (detail::is_access_denied(answer.error())) {
        // Not proof on its own (pull_fields.hpp): gone only if a query no longer finds it either.
        vtiger::vtql::select_query q{table.module, {"id"}};
        q.where("id", "=", id);
        const auto text = q.str();
        auto query_call = client.query(*text);
        auto seen = co_await std::move(query_call);
        if (!seen || !seen.value().is_array() || !seen.value().empty())
          throw std::runtime_error("Vtiger refuses to retrieve " + id + " but does not confirm it is gone: " +
                                   answer.error().code + ": " + answer.error().message);
      } else {
        throw std::runtime_error("retrieve " + *d.row.vtiger_id + ": " + answer.error().code + ": " +
                                 answer.error().message);
      }
    }
    d.outcome = co_await outbox.discard(table, d.row, record, mark_deleted);
    if (d.outcome == discard_outcome::busy) {
      d.note = "being pushed now or changed again since: run discard again";
    } else {
      const std::string id = d.row.vtiger_id.value_or("not created");
      const std::string decision = "discarded";
      spdlog::info("discard: {} {} row {}:{} ({} rejected: {}): {}", d.row.module, id, d.row.table,
                   d.row.row_id, joined(d.row.ops), d.row.error, to_string(d.outcome));
      const storage::conflict_record logged{d.row.module,
                                            d.row.vtiger_id.value_or(""),
                                            "*",
                                            joined(d.row.ops) + " rejected: " + d.row.error,
                                            remote_side(d.outcome, mark_deleted),
                                            decision};
      co_await outbox.log_conflict(logged);
    }
    out.push_back(std::move(d));
  }
  co_return out;
}

}  // namespace vtsync::sync

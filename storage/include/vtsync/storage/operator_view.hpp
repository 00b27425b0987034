#pragma once
// What the operator page (daemon/src/operator_page.hpp) shows of the outbox and the conflicts log of one
// Vtiger instance: local changes queued and rejected per module, the rejected changes themselves, and the
// latest conflicts. Read in one statement, so the daemon can cache it and refresh it cheaply.
//
// Only ids, names, states and Vtiger's error texts leave PostgreSQL here, never a field's value: the page
// may be exposed to more people than the database (the conflicts' local and remote values stay in
// <state>.conflicts).
//
// Error policy: as state.hpp (throws pg_error; a read, retried like any other on connection loss).
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/state.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vtsync::storage {

struct module_outbox_counts {
  std::string module;
  std::int64_t pending = 0;  // queued or in flight
  std::int64_t failed = 0;   // rejected by Vtiger
};

// A local change Vtiger rejected.
struct failed_change {
  std::int64_t outbox_id = 0;
  std::string module;
  std::string table;  // the mirror table, without its schema
  std::int64_t row_id = 0;
  std::optional<std::string> vtiger_id;  // none for a create that never went through
  std::string op;                        // insert | update | delete
  std::string error;                     // Vtiger's code and message
  std::string since;                     // when it was rejected (last attempt), UTC "YYYY-MM-DDTHH:MM:SSZ"
  int attempts = 0;
};

// A conflict the push decided, without the two values.
struct conflict_summary {
  std::int64_t id = 0;
  std::string module;
  std::optional<std::string> vtiger_id;
  std::string field;
  std::string decision;  // remote_wins | local_wins | newest_wins's outcome
  std::string at;        // UTC "YYYY-MM-DDTHH:MM:SSZ"
};

struct operator_view {
  std::vector<module_outbox_counts> counts;  // modules with open or failed changes only, by name
  std::vector<failed_change> failed;         // newest first, at most `limit`
  std::vector<conflict_summary> conflicts;   // newest first, at most `limit`
};

// One round trip over the instance of `options.mirror_schema`.
asio::awaitable<operator_view> read_operator_view(connection& conn, const state_options& options, int limit);

}  // namespace vtsync::storage

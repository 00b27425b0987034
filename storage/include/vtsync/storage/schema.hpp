#pragma once
// Mirror tables: their shape (mirror_table, made from Vtiger's describe by sync/record/table.hpp) and
// their DDL.
//
// Error policy: `check_identifier` throws schema_error for a name PostgreSQL cannot hold.
// `ensure_mirror_table` throws pg_error (see pg.hpp); it runs in one transaction through run_transaction(),
// so it is retried on connection loss and is all-or-nothing.
//
// The table for module M is `<schema>.<M in ASCII lower case>` (vtiger.contacts). Its columns:
//   _row_id      bigserial PRIMARY KEY  local surrogate key: rows a user inserts have no vtiger_id until
//                                       they are pushed; the outbox refers to rows by it.
//   vtiger_id    text UNIQUE            the web-service id ("12x87"); NULL until a local insert is pushed.
//   <field>...   one per describe field, named exactly as the field (quoted), typed as
//                sync/record/values.hpp says.
//                The describe's `id` field is not a column: it lives in vtiger_id.
//   _sync_state  text NOT NULL          'synced' | 'pending' | 'failed' | 'deleted'. A user's INSERT or
//                                       data-changing UPDATE sets 'pending' (a trigger does it).
//   _sync_error  text                   Vtiger's code and message when a push failed.
//   _sync_base   text                   the record as last agreed with Vtiger (Vtiger's own strings, as
//                                       pulled or as returned by a push), as compact JSON text with the keys
//                                       sorted (`_sync_base::jsonb` to query it). Text, not jsonb: parsing
//                                       ~1.2 KB of jsonb per row was a third of PostgreSQL's time in a
//                                       backfill, and equal records give equal text. The push engine compares
//                                       local values against it to see what changed locally, and the pull
//                                       compares a new remote record against it to see what changed
//                                       remotely; both sides changing one field is a conflict.
// Columns starting with "_" and "vtiger_id" are internal: a Vtiger field with one of the internal names is
// not mirrored (reported in `skipped_fields`).
//
// Evolution: when Vtiger gains a field, the table gains the column (ALTER TABLE ADD COLUMN; existing rows
// keep their data, the new column is NULL until the next pull of the row). When a field disappears from
// describe, its column is kept with its data: it is no longer written by pulls and the push ignores it.
// A field whose Vtiger type changed keeps its old column type (reported in `type_mismatches`).
// Every name (schema, table, column, trigger) is quoted with quote_ident: a field or module called
// `a"b; DROP TABLE x; --` is just a strange name.
//
// Refused writes: a table with a `refusal` (pull-only modules, Users and Groups) has no capture triggers;
// a statement trigger (install_write_refusal) refuses a user's writes instead, and is dropped again when the
// table is captured once more (a module back to two-way).
//
// Capture: each other table gets two triggers that record a user's INSERT, UPDATE and DELETE in the state
// schema's outbox (see state.hpp) in the user's own transaction and pg_notify('vtsync_outbox',
// '<schema>.<table>'). Writes of transactions that ran set_config('vtsync.origin', 'daemon', true)
// (run_transaction does) are not captured. An UPDATE that changes only internal columns is not captured.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/columns.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

class schema_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct mirror_column {
  std::string name;         // the Vtiger field name = the column name
  std::string vtiger_type;  // describe's type.name (informational)
  column_type type = column_type::text;
  bool mandatory = false;
  bool editable = true;
};

struct mirror_table {
  std::string schema;  // postgres.schema, e.g. "vtiger"
  std::string module;  // Vtiger module name, e.g. "Contacts"
  std::string table;   // module in lower case
  std::vector<mirror_column> columns;
  std::vector<std::string> skipped_fields;  // fields not mirrored (internal name clash, or out of scope)
  std::vector<std::string> secret_fields;   // fields never mirrored: secrets (sync/record/table.hpp)
  // Set: a user's INSERT, UPDATE, DELETE and TRUNCATE of the table fail (SQLSTATE 42501) with
  //   <schema>.<table> is <what>: <op> is refused
  // and this detail and hint, instead of being captured for the push; the daemon's own writes pass.
  struct write_refusal {
    std::string what;    // "pull-only", "a read-only mirror"
    std::string detail;  // why (e.g. the setting that makes it so)
    std::string hint;    // what to do instead
    bool operator==(const write_refusal&) const = default;
  };
  std::optional<write_refusal> refusal;
  // An inventory module's line items table (<table>_lineitems, line_rows.hpp), when it has one.
  std::shared_ptr<const mirror_table> lines;
  // The mirror schema's related-lists table (relations.hpp), when this module has `related` labels.
  std::shared_ptr<const mirror_table> relations;
  // This module's configured related lists (modules.<Module>.related): the labels its links may be pushed
  // for.
  std::vector<std::string> related;

  [[nodiscard]] const mirror_column* find(std::string_view name) const noexcept;
  // "<schema>"."<table>", quoted.
  [[nodiscard]] std::string qualified_name() const;
};

// The module's table name: ASCII lower case.
[[nodiscard]] std::string table_name_for(std::string_view module);

// Whether `name` is one of the internal columns (above): such a field is not mirrored.
[[nodiscard]] bool is_internal_column(std::string_view name) noexcept;

// Throws schema_error when `name` cannot be a PostgreSQL identifier as it is (empty, over 63 bytes, NUL);
// `what` names it in the message ("field", "module Contacts", ...).
void check_identifier(std::string_view what, std::string_view name);

struct schema_change {
  bool created = false;                      // the table did not exist
  std::vector<std::string> added_columns;    // new fields
  std::vector<std::string> kept_columns;     // columns whose field left describe (kept, no longer written)
  std::vector<std::string> type_mismatches;  // "field: column is X, describe says Y"
};

// Refuses a user's writes of `table` (its `refusal`, which must be set), inside the caller's transaction on
// `conn`: drops the capture triggers and installs the statement trigger `_vtsync_refuse_write` (BEFORE
// INSERT, UPDATE, DELETE or TRUNCATE, skipped for the daemon's own writes). Needs migrate() (the trigger
// function, state schema version 3). ensure_mirror_table calls it for a table with a refusal.
asio::awaitable<void> install_write_refusal(connection& conn, const mirror_table& table,
                                            std::string_view state_schema = "vtsync");

// Creates the schema and table if needed, adds missing columns, (re)installs the capture triggers and
// registers the table in the state schema. Needs migrate() (state.hpp) to have run for `state_schema`.
// Serialised across processes by an advisory lock.
asio::awaitable<schema_change> ensure_mirror_table(connection& conn, const mirror_table& table,
                                                   std::string_view state_schema = "vtsync");

}  // namespace vtsync::storage

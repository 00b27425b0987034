#pragma once
// The related lists (Vtiger's many-to-many links: Contacts <-> Potentials, Accounts <-> Products, ...) of
// the modules with `related` labels, in ONE table per mirror schema, `<schema>.relations`:
//   _row_id, vtiger_id (the link's key "<source id>|<label>|<related id>", NULL until a local link is
//   pushed), source_id ("13x5"), label (the relation label as Vtiger's relatedtypes names it: "Contacts",
//   "Sales Order"), related_id ("12x7"), _sync_state, _sync_error, _sync_base.
// A link is seen from its source: Potentials' "Contacts" list holds potential -> contact rows; the same
// link listed from the contact's side ("Potentials") is another row. The table is a mirror table of the
// pseudo-module "Relations" (capture triggers: a user's INSERT is queued and pushed with add_related), plus
// a trigger refusing a user's UPDATE or DELETE of a link Vtiger has (migration 5: no delete_related exists).
// Error policy: as state.hpp.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"

#include <chrono>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

// The module name the relations table's outbox entries carry.
inline constexpr std::string_view relations_module = "Relations";

// The relations table of mirror schema `schema` (columns source_id, label, related_id).
[[nodiscard]] mirror_table relations_table(std::string_view schema);

// "<source>|<label>|<related>": a link's vtiger_id.
[[nodiscard]] std::string relation_key(std::string_view source, std::string_view label,
                                       std::string_view related);

// Creates the table if needed (ensure_mirror_table), its unique (source_id, label, related_id) index and
// the unlink refusal trigger. Needs migrate() (state schema version 5).
asio::awaitable<void> ensure_relations_table(connection& conn, const mirror_table& table,
                                             std::string_view state_schema = "vtsync");

struct relation_link {
  std::string source;
  std::string label;
  std::string related;
};

// Inside the caller's transaction, as daemon writes: the links Vtiger has for `sources` (source ids) under
// `labels` become the table's: synced rows of those sources and labels that Vtiger no longer lists are
// deleted, new links inserted as synced (a local link not yet pushed is left alone, and its push adds what
// Vtiger may already have: add_related is idempotent). Returns rows inserted or deleted.
asio::awaitable<std::size_t> store_relations(connection& c, const mirror_table& table,
                                             std::span<const std::string> sources,
                                             std::span<const std::string> labels,
                                             std::span<const relation_link> links);

// The same, seen from the related records' side: the links of the list `label` of `source_prefix`'s module
// ("13": Potentials) that point at `related_ids` become `links` (synced rows no longer listed deleted, new
// ones inserted; local rows not pushed yet left alone). Returns rows inserted or deleted.
asio::awaitable<std::size_t> store_relations_to(connection& c, const mirror_table& table,
                                                std::span<const std::string> related_ids,
                                                std::string_view label, std::string_view source_prefix,
                                                std::span<const relation_link> links);

// Of the records `ids` (with `modifiedtimes`, their mirror column's text as record::to_rows makes it),
// those the source mirror already holds with that same modifiedtime, older than `settle` before now: their
// links cannot have changed since they were read (a link moves its source's modifiedtime), so a re-read
// page need not ask again. A modifiedtime within `settle` of now may hide a second link made in the same
// second after the list was read (modifiedtime has whole seconds): read again while the overlap re-reads it.
asio::awaitable<std::set<std::string>> unmoved_records(connection& c, const mirror_table& source,
                                                       std::span<const std::string> ids,
                                                       std::span<const std::string> modifiedtimes,
                                                       std::chrono::seconds settle);

// Links of records mirrored before a label was added to `related` are read once by walking the source
// mirror in id order; the walk's progress per (mirror schema, module, label) is the state table
// relation_loads (migration 5). At start: registers `labels`; a label new to a module whose mirror is still
// empty is done at once (its first load reads every record's links as it brings them). The rows and the
// load of a list of this module (id prefix `source_prefix`) that is no longer configured are deleted (so
// that it is read again if it comes back).
asio::awaitable<void> plan_relation_loads(connection& conn, std::string_view state_schema,
                                          const mirror_table& source, std::string_view source_prefix,
                                          std::span<const std::string> labels);

struct relation_load {
  std::string label;
  std::vector<std::string> ids;  // the next source records (at most the limit asked), in id order
};

// The next records whose links are to be read for the first label of `labels` not done; nullopt when all
// are loaded.
asio::awaitable<std::optional<relation_load>> next_relation_load(connection& c, std::string_view state_schema,
                                                                 const mirror_table& source,
                                                                 std::span<const std::string> labels,
                                                                 std::size_t limit);

// In one transaction: the links read for `load.ids` (store_relations) and the walk's progress up to the
// record `walked_to` (`done` when it has reached the end of the mirror).
asio::awaitable<void> store_relation_load(connection& conn, std::string_view state_schema,
                                          const mirror_table& source, const mirror_table& relations,
                                          const relation_load& load, const std::string& walked_to,
                                          std::span<const relation_link> links, bool done,
                                          retry_policy retry = {});

}  // namespace vtsync::storage

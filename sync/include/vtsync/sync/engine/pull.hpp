#pragma once
// The pull side of the engine: Vtiger's changes into the mirror, all of them, once.
//
// How a module is pulled (vtiger-webservice.md §12.4, §13, §15):
// - Incremental: keyset pages ordered by (modifiedtime, id), 100 rows each (Vtiger's cap), from the cursor
//   (T, id) stored in vtsync.cursors. Each page is stored and the cursor advanced in ONE transaction
//   (storage::mirror_rows::store_page), so a crash loses nothing and repeats nothing. Paging stops on an
//   EMPTY page only: Vtiger drops rows it will not show after applying LIMIT, so a short page proves nothing.
// - Ties: any number of records may share one modifiedtime second (a mass update); the keyset condition
//   `modifiedtime > T OR modifiedtime = T AND id > Y` walks through them page by page.
// - Late commits: a save takes its modifiedtime before it commits. For a few cycles after one that moved
//   the cursor (and once after start-up), a cycle re-reads from T - overlap (sync.overlap); rows already
//   stored unchanged are not rewritten.
// - Cost (docs/performance.md): on a real Vtiger every modifiedtime-ordered query scans all of
//   vtiger_crmentity (no index on modifiedtime), so a poll (pass_end::short_page) makes ONE query per
//   cycle: a page shorter than 100 rows ends the pass, and the re-read window is folded into that query
//   (it reads from T - overlap onwards, the cursor's own rows included). Should a short page hide more
//   rows (Vtiger drops rows it will not show after applying LIMIT), the next cycle continues from the
//   cursor: nothing is skipped, it arrives one poll interval later.
// - Fetching the next page overlaps with storing the current one, and only two pages are ever in memory.
// - Deletions (pull_deletions.cpp, pull_counts.cpp), checked after the changes of every cycle, within a
//   time budget so that they never hold the next pull back by more than that: by range counts where
//   Vtiger answers `count(*)` (8.2: one `SELECT count(*) FROM M;` per idle cycle, compared with the
//   mirror's count of the rows Vtiger should have; when they differ, id ranges are bisected by count down
//   to one `SELECT id` page); else by `sync`'s `deleted` list where it works; else, and periodically as a
//   backstop, by a keyset scan of remote ids (`SELECT id ... ORDER BY id`) compared with the local ids, in
//   slices across cycles. A local row is deleted only when it is missing from Vtiger's ids AND a
//   `retrieve` answers ACCESS_DENIED: one ambiguous answer (ACCESS_DENIED also means lost permission) is
//   never enough. A record Vtiger shows that the mirror lacks (a missed create) is retrieved and stored.
// - Backfill (and the first pull of a module without a cursor): by the primary key, never by
//   modifiedtime: the id space as ranges (one range with one session, more with parallel > 1), each
//   fetched in `id` keyset pages by one session and resumable through vtsync.backfill_ranges. The cursor
//   is set first to the newest modifiedtime seen at the start, and once the ranges are done a pass from
//   that time minus the overlap picks up whatever changed during the backfill: exact. A module that has
//   a cursor already is brought up to date by the incremental walk.
//
// - Modules without modifiedtime (Users, Groups: their describe has none, recordings 213, 214): no cursor
//   can say what changed, so every cycle reads the module whole by id keyset pages (`SELECT * ... ORDER
//   BY id`, until an empty page), stores what changed and confirms each known id the read did not bring
//   with a retrieve before its row goes (pull_whole.cpp). A backfill of such a module is that same read.
// - Schema changes: a page that brings a field the table lacks (not one already re-described in vain)
//   calls the table refresh (set_table_refresh: the daemon re-describes and adds the column) before the
//   page is stored, in the same pass.
//
// The puller's parts: sync/src/engine/pull.cpp (the cycle), pull_deletions.cpp, pull_counts.cpp,
// pull_backfill.cpp, pull_whole.cpp.
//
// Error policy: a cycle throws on failure (vtiger::client_error after the client's own retries,
// storage::pg_error after the repositories', pull_error for an answer Vtiger should not give); the caller
// (one cycle = one unit of work) logs it and tries again next cycle. Nothing is half-stored: every page and
// its cursor are one transaction.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vtsync/storage/relations.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/storage/backfill_ranges.hpp"
#include "vtsync/storage/cursors.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::sync {

class pull_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How remote deletions are found (sync.deletion_detection).
enum class deletion_method {
  automatic,  // count where Vtiger answers count(*), else sync where it works, else scan
  count,      // range counts (the scan where count(*) answers nothing)
  sync,       // Vtiger's `sync` where it works, else scan
  scan,       // the id scan only
};

struct pull_settings {
  std::chrono::seconds overlap{5};
  storage::remote_delete on_remote_delete = storage::remote_delete::remove;
  deletion_method deletions = deletion_method::automatic;
  // How often `sync` is asked, or the id scan started when it is the method (sync.deletion_scan_interval).
  std::chrono::milliseconds scan_interval{std::chrono::minutes{15}};
  // With `sync`, a full id scan still runs as a backstop every this many scan intervals (sync only reports
  // records owned by the sync user).
  int id_scan_every = 12;
  // Cycles after a change that re-read the overlap window (late commits land within a cycle or two).
  int reread_cycles = 3;
  // modules.<Module>.filter: a VTQL condition ANDed into every query of the pull (pages, counts, id scans;
  // vtql::and_condition), so records outside it are neither pulled nor taken for deletions. A mirrored
  // record found outside it (edited in Vtiger so that it stopped matching, or created here without
  // matching) leaves the mirror as a deleted one does: removed, or marked under on_remote_delete = mark.
  std::string filter;
  // The table is narrowed to some fields (modules.<Module>.fields / exclude_fields): the pages ask for its
  // columns only (`SELECT f1, f2, ..., modifiedtime`) instead of `*`.
  bool select_columns = false;
  // modules.<Module>.related: relation labels whose links are pulled into the relations table
  // (storage/relations.hpp) for each record a page brings.
  std::vector<std::string> related;
  // The other modules' lists, (module, label): Vtiger moves only the record whose list was used, so a link
  // made from this module's side (a Contact's "Potentials" list) moves this record, not the other list's
  // source: the records of this module a page brings read their side of those lists too (pull_relations.cpp).
  std::vector<std::pair<std::string, std::string>> related_elsewhere;
};

// What of a module becomes its mirror table (modules.<Module>.*).
struct table_scope {
  bool pull_only = false;
  std::vector<std::string> fields;  // empty = every field
  std::vector<std::string> exclude_fields;
  std::vector<std::string> related;  // relation labels: the relations table is prepared too
  bool related_elsewhere = false;    // another module has lists: the relations table is prepared too
};

// Called as things happen (metrics, progress); all optional.
struct pull_observer {
  std::function<void(std::string_view module, std::size_t records)> on_records;  // rows stored or changed
  std::function<void(std::string_view module, std::size_t fetched)> on_fetched;  // rows received
  std::function<void(std::string_view module, std::size_t deleted)> on_deleted;
};

struct cycle_stats {
  std::size_t queries = 0;
  std::size_t fetched = 0;
  std::size_t inserted = 0;
  std::size_t updated = 0;
  std::size_t unchanged = 0;
  std::size_t skipped_local = 0;
  bool cursor_moved = false;
  std::chrono::nanoseconds vtiger_time{0};  // spent waiting for Vtiger's query answers
};

// How a pass ends: `empty_page` pages until Vtiger answers an empty page (backfill, --since: everything
// now); `short_page` also ends on a page shorter than 100 rows (the daemon's polls: one query per idle or
// lightly busy cycle; the next cycle continues from the cursor).
enum class pass_end { empty_page, short_page };

// What prepare_mirror_table has logged already: with the describe re-read every sync.describe_interval,
// each column kept for a field that left describe (or the module's fields), each changed type and each
// scope field describe does not know are logged once.
struct schema_reports {
  std::set<std::string> kept;
  std::set<std::string> mismatched;
  std::set<std::string> unknown_scope;
};

// The mirror table for `module` in `options`' mirror schema: describe (cached by the client; `fresh`
// asks Vtiger again), narrowed to `scope`'s fields -> create or extend the table
// (storage::ensure_mirror_table on `conn`), with the pull-only refusal installed or removed. Logs what
// changed: a created table, each added column, and (once per `reported`, when given) each kept column
// and each type change (a warning: the column keeps its type). With `current` (the table as prepared
// before) and a describe that gives the same columns, no DDL runs at all: the periodic re-read then takes
// no lock on the table.
boost::asio::awaitable<storage::mirror_table> prepare_mirror_table(
    vtiger::client& client, storage::connection& conn, const storage::state_options& options,
    const std::string& module, const table_scope& scope = {}, schema_reports* reported = nullptr,
    bool fresh = false, const storage::mirror_table* current = nullptr);

// Whether Vtiger accepts `filter` on `module`: one `SELECT count(*) FROM M WHERE <filter>;`. Vtiger's error
// (code: message) when it refuses it; std::nullopt when it accepts. Throws vtiger::client_error when
// Vtiger cannot be asked.
boost::asio::awaitable<std::optional<std::string>> filter_refused(vtiger::client& client,
                                                                  const std::string& module,
                                                                  const std::string& filter);

// The repositories a puller works through (one connection, used by one coroutine at a time); they must
// outlive the puller.
struct pull_storage {
  storage::mirror_rows& rows;          // pages and deletions
  storage::cursors& cursors;           // where the incremental pull stands
  storage::backfill_ranges& backfill;  // a parallel backfill's plan
};

class module_puller {
 public:
  module_puller(vtiger::client& client, pull_storage storage, storage::mirror_table table,
                pull_settings settings, pull_observer observer = {});

  [[nodiscard]] const storage::mirror_table& table() const { return table_; }
  // The table as it is now (the daemon's describe refresh); call between passes.
  void set_table(storage::mirror_table table) { table_ = std::move(table); }
  // Re-describes the module, extends the table and returns it: called when a page brings a field the
  // table lacks, before that page is stored. Without one, such a field is left out until the next refresh.
  using table_refresh = std::function<boost::asio::awaitable<storage::mirror_table>()>;
  void set_table_refresh(table_refresh refresh) { refresh_ = std::move(refresh); }
  // Whether the module has a modifiedtime to keep a cursor on (else each cycle reads it whole).
  [[nodiscard]] bool has_cursor_field() const;
  // Checked after each stored page: when it answers true, the pass ends there (everything stored so far is
  // committed with its cursor), so a shutdown never waits for a long backfill.
  void set_stop_check(std::function<bool()> check) { stop_check_ = std::move(check); }
  [[nodiscard]] const std::string& module() const { return table_.module; }

  // Reads the links of records mirrored before their related list was configured (storage::relation_loads),
  // a batch of records at a time, until `deadline` or until none is left. Returns the records read.
  boost::asio::awaitable<std::size_t> load_relations(std::chrono::steady_clock::time_point deadline);
  // Probes `sync` once (one request).
  boost::asio::awaitable<void> probe_sync();
  [[nodiscard]] bool sync_supported() const { return sync_supported_; }

  // One incremental pass, ending as `end` says. If `since` is given, starts there instead of the cursor
  // (and never moves the cursor backwards). A module never pulled (no cursor) is better loaded by
  // backfill(), by id: a modifiedtime walk scans the CRM's whole entity table per page.
  boost::asio::awaitable<cycle_stats> pull_changes(std::optional<std::string> since = std::nullopt,
                                                   pass_end end = pass_end::empty_page);

  // The deletion work of one cycle (range counts, sync's deleted list, or a slice of the id scan), stopped
  // at `deadline` once past it (the rest continues next cycle). Returns rows deleted or marked.
  boost::asio::awaitable<std::size_t> detect_deletions(
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  // The method in use after the first pass ("count", "sync" or "scan").
  [[nodiscard]] std::string_view deletion_method_name() const;

  // One session and one database connection of a parallel backfill (its pages carry their range's progress).
  struct worker {
    vtiger::client* client;
    storage::mirror_rows* rows;
  };
  // Full load with `workers.size()` workers over id ranges (resumable), then the changes since it started;
  // with one worker and a stored cursor it is pull_changes() from that cursor. `progress(rows_done)` is
  // called after each stored page.
  boost::asio::awaitable<cycle_stats> backfill(std::vector<worker> workers,
                                               std::function<void(std::uint64_t)> progress);

  // Whether a parallel backfill plan was left unfinished (the daemon finishes it before polling).
  boost::asio::awaitable<bool> unfinished_backfill();

  // Re-pulls one record by id (vtsyncd resync). Returns false when Vtiger no longer shows it.
  boost::asio::awaitable<bool> resync_record(const std::string& id);

  // Total rows Vtiger reports for the module (count(*)), 0 when the server does not say (Vtiger 8.4).
  boost::asio::awaitable<std::uint64_t> remote_count();

 private:
  // A range of ids with Vtiger's count and the mirror's (count_deletions).
  struct range_count {
    storage::id_range range;
    std::int64_t remote = 0;
    std::int64_t local = 0;
  };
  // The records a query answers, checked (a list of records with an id); counts the query.
  boost::asio::awaitable<std::vector<flat_record>> fetch(vtiger::client& client, std::string vtql,
                                                         std::size_t& queries);
  // Stores records as rows of the table (record/table.hpp: to_rows) with `options`' progress.
  boost::asio::awaitable<storage::page_result> store(storage::mirror_rows& db,
                                                     std::span<const flat_record> records,
                                                     const storage::page_options& options);
  // A page of records, then (an inventory module) their line items (fetch_lines).
  boost::asio::awaitable<std::vector<flat_record>> fetch_page(vtiger::client& client, std::string vtql,
                                                              std::size_t& queries);
  // The line items of a page's records (pull_lines.cpp): `SELECT * FROM LineItem WHERE parent_id IN (...)`
  // in id keyset pages, never one request per record; kept in fetched_lines_ until the page is stored.
  boost::asio::awaitable<void> fetch_lines(vtiger::client& client, std::span<const flat_record> page,
                                           std::size_t& queries);
  // What store() runs in the page's transaction for the lines fetched for `records` (taken out of
  // fetched_lines_); empty when none were fetched.
  std::function<boost::asio::awaitable<void>(storage::connection&)> take_lines(
      std::span<const flat_record> records);
  // The related lists of a page's records whose modifiedtime moved (pull_relations.cpp): one
  // retrieve_related per record and label (Vtiger has no batched form); kept in fetched_links_ until the
  // page is stored.
  boost::asio::awaitable<void> fetch_relations(vtiger::client& client, std::span<const flat_record> page,
                                               std::size_t& queries, bool every = false);
  // The label -> module map of settings_.related (relatedtypes, asked once).
  boost::asio::awaitable<void> relation_targets(vtiger::client& client, std::size_t& queries);
  // relatedtypes of `module`: its "information" (label -> {name, ...}).
  boost::asio::awaitable<vtiger::json> related_types(vtiger::client& client, const std::string& module,
                                                     std::size_t& queries);
  // Which of settings_.related_elsewhere this module's records can read from their side (asked once).
  boost::asio::awaitable<void> resolve_reverse_lists(vtiger::client& client, std::size_t& queries);
  // One record's links under `label` (listing `related_type` records) appended to `out`; false (nothing
  // appended) when Vtiger refuses to read that record now (deleted or out of reach: its deletion, or its
  // next change, settles it).
  boost::asio::awaitable<bool> read_links(vtiger::client& client, const std::string& id,
                                          const std::string& related_type, const std::string& label,
                                          std::vector<storage::relation_link>& out, std::size_t& queries);
  // What store() runs in the page's transaction for the links fetched for `records`; empty when none.
  std::function<boost::asio::awaitable<void>(storage::connection&)> take_relations(
      std::span<const flat_record> records);
  // A whole read of a module without modifiedtime, with its deletions (pull_whole.cpp).
  boost::asio::awaitable<cycle_stats> pull_whole();
  // Before a page is stored: a field the table lacks makes the refresh run (once per such field).
  boost::asio::awaitable<void> take_new_fields(std::span<const flat_record> page);
  // A slice of the id scan (scan_after_ says where it stands; starts one when none runs).
  boost::asio::awaitable<std::size_t> scan_ids(std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<std::size_t> sync_deletions();
  boost::asio::awaitable<cycle_stats> backfill_by_ranges(std::vector<worker> workers,
                                                         std::function<void(std::uint64_t)> progress);
  // Range counts (pull_counts.cpp); nullopt when Vtiger answers no count (the caller falls back).
  boost::asio::awaitable<std::optional<std::size_t>> count_deletions(
      std::chrono::steady_clock::time_point deadline);
  // count(*) of the module, or of the ids in `range`; nullopt when Vtiger gives no count.
  boost::asio::awaitable<std::optional<std::int64_t>> count_remote(
      std::optional<storage::id_range> range = std::nullopt);
  // Compares the ids Vtiger shows in `range` (`expected` of them, by its count) with the mirror's: local
  // rows confirmed deleted go, records the mirror lacks are stored. Returns rows deleted or marked.
  boost::asio::awaitable<std::size_t> reconcile_range(storage::id_range range, std::int64_t expected);
  // Each local id missing remotely, confirmed by a retrieve before its row goes (or refreshed from it; or,
  // with a filter, gone from the mirror when it exists but no longer matches).
  boost::asio::awaitable<std::size_t> confirm_deletions(const std::vector<std::string>& candidates);
  // Whether record `id` matches the filter (one `SELECT id ... WHERE id = 'x' AND <filter>` query).
  boost::asio::awaitable<bool> matches_filter(const std::string& id);
  // The columns a page asks for: the table's (select_columns), else none (`*`).
  [[nodiscard]] std::vector<std::string> page_columns() const;
  [[nodiscard]] std::string id_text(std::int64_t number) const {
    return id_prefix_ + "x" + std::to_string(number);
  }
  boost::asio::awaitable<cycle_stats> backfill_range(worker w, storage::backfill_range range,
                                                     std::function<void(std::size_t)> on_page);

  vtiger::client& client_;
  pull_storage storage_;
  storage::mirror_table table_;
  pull_settings settings_;
  pull_observer observer_;
  bool sync_supported_ = false;
  int reread_left_ = 1;  // cycles that still re-read the overlap window (one after start-up)
  std::optional<std::int64_t> sync_since_;
  std::optional<bool> count_supported_;                    // learnt from the first count
  std::optional<std::string> scan_after_;                  // an id scan under way: the last id compared
  std::chrono::steady_clock::time_point next_pass_{};      // next sync pass or scan start (scan, sync)
  std::chrono::steady_clock::time_point next_backstop_{};  // next full scan (sync)
  std::vector<range_count> ranges_left_;                   // a count bisection under way
  bool surplus_seen_ = false;  // the last count showed Vtiger with more rows (acted on when seen twice)
  std::string id_prefix_;      // e.g. "12", learnt from the first id seen
  std::function<void(std::size_t)> page_hook_;  // progress during a backfill
  // Lines fetched for records not stored yet: header id -> its lines (none: an empty list).
  std::map<std::string, std::vector<flat_record>> fetched_lines_;
  // Links fetched for records not stored yet: source id -> its links under settings_.related.
  std::map<std::string, std::vector<storage::relation_link>> fetched_links_;
  std::map<std::string, std::string> relation_targets_;  // label -> the module it lists (relatedtypes)
  // Another module's list read from this module's side: `source_module`'s list `label` holds a link to one of
  // our records exactly when our record's list `back_label` lists that source (Vtiger keeps a pair once).
  struct reverse_list {
    std::string source_module, label, source_prefix, back_label;
  };
  std::optional<std::vector<reverse_list>> reverse_lists_;
  // Links seen from our side for records not stored yet: our id -> (reverse list index, its links).
  std::map<std::string, std::vector<std::pair<std::size_t, std::vector<storage::relation_link>>>>
      fetched_reverse_;
  bool relations_loaded_ = false;  // load_relations found nothing left to read
  std::function<bool()> stop_check_;
  table_refresh refresh_;
  std::set<std::string> undescribed_;  // fields pages bring that a re-describe did not list: not asked again
  std::chrono::nanoseconds vtiger_time_{0};  // all query answers waited for, ever (cycle_stats::vtiger_time)
};

// Helpers on Vtiger's datetime strings ("YYYY-MM-DD HH:MM:SS"), exposed for tests.
[[nodiscard]] std::optional<std::string> shift_datetime(std::string_view datetime,
                                                        std::chrono::seconds delta);
// Keyset order of (modifiedtime, id): true when a < b.
[[nodiscard]] bool position_less(const storage::cursor_position& a, const storage::cursor_position& b);

}  // namespace vtsync::sync

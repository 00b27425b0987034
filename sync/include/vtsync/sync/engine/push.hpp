#pragma once
// The push side of the engine: users' INSERT, UPDATE and DELETE on the mirror tables go to Vtiger.
//
// Delivery
// - run() LISTENs on storage::outbox_channel (its own connection) and drains the outbox whenever a
//   notification arrives, and every `fallback_poll` anyway (a notification lost during a reconnect, an
//   entry released after a transient failure). drain() claims batches (storage::outbox::claim: one entry
//   per row, oldest first, so each record's changes go out in commit order) until none is left.
// - Quick successive edits of one row become one call: the claim folds the later pending UPDATE entries of
//   the same row into the claimed entry.
// - What is sent is the row's CURRENT value of each changed column (the claim reads the row), never a
//   stale captured value: a failed entry retried after later edits cannot revert them.
// - INSERT -> create (assigned_user_id filled from push_settings::default_assigned_user_id, else the sync
//   user's own id, when the row has none; empty values and non-editable fields are left out). The record
//   Vtiger returns (id, modifiedtime, numbering fields such as contact_no) is written back to the row and
//   to _sync_base (outbox::mark_done).
//   UPDATE -> revise with only the changed fields and the id; the returned record is written back.
//   An UPDATE of a row that was never created in Vtiger (its insert failed) is pushed as a create.
//   DELETE -> delete. ACCESS_DENIED there while a query no longer finds the id means the record is already
//   gone: done.
// - No echo: the daemon's own writes are not captured (storage), and the written-back server record is also
//   the row's _sync_base, so when the pull brings the same record back nothing is rewritten and nothing is
//   pushed.
//
// Bulk pushes (one statement changing thousands of rows)
// - Conflict checks in batches: the current records of a claimed batch's updates are read with one
//   `SELECT * FROM M WHERE id IN (...);` per module (a batch is at most 100 entries, Vtiger's row cap)
//   instead of one retrieve each. An update whose record the query did not bring (deleted, no longer
//   visible), or brought without a field the check needs (a module whose query omits fields retrieve has),
//   and every update of a batch whose query failed, is checked with its own retrieve as before, so the
//   outcomes (push_outcomes.hpp) stay those of retrieve. The records are read when the batch starts, so
//   the window in which a Vtiger edit can slip between the check and the revise is the batch's duration
//   (about 100 / sessions requests) instead of one request.
// - Parallel writes: Vtiger runs one session's requests one after another (PHP's session lock), so the
//   entries of a batch go out over several sessions at once (add_sessions; the client's inflight limit and
//   rate limit still bound them). A batch holds at most one entry per row and none for a row with an older
//   entry still open (outbox::claim), so one row's changes still go out in commit order; the next batch
//   is claimed when the whole batch is finished. PostgreSQL calls of the sessions take turns on the one
//   outbox connection (outbox.hpp).
// - Dependent creates: a reference field may name a row inserted locally and not yet created, as
//   `@<table>:<_row_id>` (e.g. account_id = '@accounts:17' in vtiger.contacts, written in the same
//   transaction as the account's INSERT). Before it is sent the value is replaced with that row's
//   vtiger_id; while the row has none yet (its create is queued or in flight), the entry waits for a later
//   batch (released, not failed); a reference to a row that does not exist, or whose create failed, fails.
//
// Conflicts (an UPDATE of a record that was also changed in Vtiger since the last agreement)
// - Before each revise the record is read (retrieve, or the batch's query above: the price of detecting
//   conflicts on this side). A changed column whose remote value differs both from _sync_base (changed
//   remotely) and from the local value (changed locally to something else) is a conflict; the policy
//   decides: remote_wins (default) leaves the field out of the revise, and the remote value reaches the
//   row through the write-back; local_wins sends it; newest_wins compares the remote modifiedtime with the
//   local change's commit time (outbox created_at; the first edit of a coalesced burst), both in the Vtiger
//   server's zone at one-second resolution: remote wins only when its modifiedtime is strictly later (Vtiger
//   truncates to the second, so a tie means the local change came last or in the same second). Every conflict
//   goes to vtsync.conflicts (outbox::log_conflict) with both values and the decision ("remote_wins",
//   "local_wins", "newest_wins:remote", "newest_wins:local"). Fields changed on one side only are merged:
//   the revise carries the local ones, the write-back brings the remote ones.
//
// Exactly once for creates
// - The moment Vtiger accepts a create, its id is made durable on the entry (outbox::record_created), before
//   the write-back or anything else that can fail. An entry that carries an id while its row has none (the
//   write-back failed: PostgreSQL restarted, the process died, ...) is never created again: the record is
//   retrieved and adopted (brought up to the row's values, then written back).
// - The pull may store the new record as a row of its own before the write-back; the write-back merges it
//   away (outbox::mark_done, which runs again when the pull's row only became visible while it ran).
// - Creates whose outcome is unknown (the reply was lost: client_error outcome_unknown; or the process died
//   between Vtiger's answer and record_created, so the entry is found in flight at start-up and
//   reset_in_flight() gives it back with attempts > 1, without an id): before (re-)sending such a create the
//   engine looks for the record it may already have made, and adopts it instead of creating a second one.
// - With `idempotency_field` (a Vtiger custom string field): every create writes the entry's idempotency
//   key (a uuid made by the capture trigger; "vtsync-<schema>.<table>-<entry id>" for an update pushed as a
//   create) into that field; the lookup is `SELECT * FROM M WHERE <field> = '<key>';`. Exact: no duplicate
//   as long as nobody else writes that field.
// - Without it: the lookup is `SELECT * FROM M WHERE <mandatory fields = the values we sent> AND
//   createdtime >= '<local commit time - lookup_margin, server zone>';` (paged by id), and a candidate is
//   adopted when EVERY field we sent equals the record's value (strings compared exactly, numbers
//   numerically, multipicklists as sets; our assigned_user_id included) and no mirror row already holds
//   its id; the lowest such id wins. How exact: a record that someone else created in that window with
//   exactly the same values for every field we sent would be adopted instead of creating ours (the two
//   would then be indistinguishable on every pushed field); a record of ours whose values Vtiger rewrote
//   on save (a value normalised differently from how it comes back, a workflow changing a field at once)
//   is not recognised, and then a duplicate IS created. Use idempotency_field where that matters.
//
// Error policy (per entry; one entry's failure never stops the others). The reaction to each Vtiger call's
// end is one table, push_outcomes.hpp; in words:
// - Vtiger rejects the change (an api_error: MANDATORY_FIELDS_MISSING, REFERENCE_INVALID, ACCESS_DENIED,
//   INVALID_ID_ATTRIBUTE, duplicate "0", ...), or the element cannot be sent (client_error
//   invalid_argument): the entry and the row are marked failed with "<code>: <message>" and are retried
//   only when the row is edited again or on `vtsyncd retry` (outbox::retry_failed).
// - A write whose outcome is unknown: a create is looked up at once (above); a revise or delete goes back
//   to pending and is simply sent again (both are idempotent).
// - Any other client_error (transient kinds after the client's own retries, login_failed, ...) means
//   Vtiger is not usable now: the entry and the rest of the batch go back to pending (outbox::release, the
//   error remembered, never marked failed) and the engine pauses with exponential backoff and full jitter
//   (only backoff_initial when the same drain got other entries through first: Vtiger is working).
// - storage::pg_error (after the outbox's own retries): the drain stops and throws; run() catches it, logs
//   it, pauses with backoff and starts over, first putting entries left in flight back to pending
//   (reset_in_flight). Therefore: ONE pusher per state schema.
// - Entries for a module without a mirror table given to the pusher are marked failed.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vtsync/storage/outbox.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/engine/push_outcomes.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::sync {

// [sync] conflict_policy.
enum class conflict_policy { remote_wins, local_wins, newest_wins };

[[nodiscard]] std::string_view to_string(conflict_policy policy) noexcept;
// "remote_wins" | "local_wins" | "newest_wins"; nullopt for anything else.
[[nodiscard]] std::optional<conflict_policy> parse_conflict_policy(std::string_view text) noexcept;

struct push_settings {
  std::string default_assigned_user_id;  // "" = the sync user's own id (from login)
  conflict_policy conflicts = conflict_policy::remote_wins;
  std::map<std::string, conflict_policy> module_conflicts;  // modules.<Module>.conflict_policy, by module
  std::string idempotency_field;                            // "" = none (see the header comment)
  std::chrono::milliseconds fallback_poll{5'000};           // drain at least this often without notifications
  int batch = 100;                                 // entries per claim (and per conflict-check query)
  std::chrono::milliseconds backoff_initial{500};  // first pause after Vtiger or PostgreSQL failed
  std::chrono::milliseconds backoff_max{30'000};
  std::chrono::seconds lookup_margin{300};  // clock skew allowed when looking up an unknown create
  // A drain running longer than this reports its progress (push_observer::on_progress, one log line) this
  // often: a bulk push shows the queue draining.
  std::chrono::milliseconds progress_interval{10'000};
  // Done outbox entries older than this are pruned (storage::outbox::prune_done, 1,000 per statement),
  // between batches and after drains, never inside one (at most every prune_interval).
  std::chrono::milliseconds outbox_retention{std::chrono::hours{7 * 24}};
  std::chrono::milliseconds prune_interval{std::chrono::minutes{1}};
  // Test hooks for fault injection and interleavings. after_create runs as soon as Vtiger accepted a create,
  // before its id is recorded; after_accepted after a create's id is recorded, or a revise was accepted,
  // and before the write-back. An exception thrown there escapes drain() and leaves the batch in flight
  // (as if the process died there).
  std::function<void(const storage::outbox_entry&)> after_create;
  std::function<void(const storage::outbox_entry&)> after_accepted;
};

// How far a push is: reported every push_settings::progress_interval while a drain runs, and when it ends.
struct push_progress {
  std::int64_t pending = 0;           // changes queued or in flight now
  std::size_t finished = 0;           // changes this drain finished so far (pushed, failed, nothing to do)
  double rate = 0;                    // finished per second in this drain (0 when it ended)
  std::optional<double> eta_seconds;  // pending / rate, while the drain runs and rate > 0
};

// Called as things happen (metrics); all optional.
struct push_observer {
  std::function<void(std::string_view module, std::string_view op)> on_pushed;  // op: create|revise|delete
  std::function<void(std::string_view module)> on_failed;                       // a change marked failed
  std::function<void(std::int64_t pending)> on_pending;                         // after each drain
  std::function<void(std::string_view module, std::string_view field)> on_conflict;
  std::function<void(const push_progress&)> on_progress;  // during and after each drain
};

// What one drain did (for logs and tests).
struct drain_stats {
  std::size_t handled = 0;    // entries finished (pushed, adopted, failed, or nothing to do)
  std::size_t pushed = 0;     // successful create/revise/delete calls
  std::size_t failed = 0;     // entries marked failed
  std::size_t released = 0;   // entries given back to pending (transient failures)
  std::size_t coalesced = 0;  // entries folded into another one
  std::size_t adopted = 0;    // creates resolved by finding the record already made
  std::size_t conflicts = 0;
};

class pusher {
 public:
  // `tables` by module name. `notify_conn` is used only by run() for LISTEN (a connection serves one
  // coroutine at a time, and `outbox` has its own). All references must outlive the pusher.
  pusher(vtiger::client& client, storage::connection& notify_conn, storage::outbox& outbox,
         std::map<std::string, storage::mirror_table> tables, push_settings settings,
         push_observer observer = {});

  // Puts entries a previous process left in flight back to pending, then LISTENs and drains on every
  // notification and every fallback_poll, until stop() or cancellation (asio cancellation of the
  // coroutine; noticed within 250 ms). Failures are logged and retried with backoff; only
  // std::bad_alloc-like errors escape.
  boost::asio::awaitable<void> run();
  // More Vtiger sessions for parallel writes (the header comment): the entries of a batch go out over the
  // constructor's client and these at once. They must outlive the pusher; call before run() or drain().
  void add_sessions(std::span<vtiger::client> sessions);

  // A module's table as it is now (a column added after a describe change, a module added on reload):
  // taken at the start of the next drain, never under one that is running.
  void update_table(storage::mirror_table table) { table_updates_.push_back(std::move(table)); }

  // Asks run() to return (within 250 ms).
  void stop() noexcept { stopping_ = true; }

  // Pushes everything pending now (batch after batch until a claim comes back empty, or until Vtiger
  // failed transiently: then the rest waits for the backoff). Throws storage::pg_error.
  boost::asio::awaitable<drain_stats> drain();

  // The pause run() would take now (0 when the last drain went well): for tests and status.
  [[nodiscard]] std::chrono::milliseconds current_backoff() const noexcept { return backoff_; }
  [[nodiscard]] const push_settings& settings() const noexcept { return settings_; }

 private:
  // deferred: released to wait for another row's create (a local reference), not a failure of Vtiger.
  enum class outcome { done, failed, released, vtiger_down, deferred };
  // What looking for an earlier create found, or the client_error that stopped the search.
  struct look_result {
    std::optional<nlohmann::json> found;
    std::optional<vtiger::client_error> error;
  };
  using table_ref = const storage::mirror_table&;
  using entry_ref = storage::outbox_entry&;

  boost::asio::awaitable<outcome> handle(entry_ref entry, drain_stats& stats);
  // The batch's entries over the sessions (push_batch.cpp); returns how many were finished. Sets
  // `vtiger_down` when Vtiger became unusable (the entries not yet started are then released).
  boost::asio::awaitable<std::size_t> push_batch(std::span<storage::outbox_entry> entries, drain_stats& stats,
                                                 bool& vtiger_down);
  boost::asio::awaitable<outcome> handle_on(vtiger::client& session, entry_ref entry, drain_stats& stats,
                                            bool& vtiger_down);
  // Reads the current records of the batch's updates, one query per module (push_batch.cpp), into remote_.
  boost::asio::awaitable<void> read_remote(std::span<const storage::outbox_entry> entries);
  // The record read_remote found for `entry`, when it carries every field the conflict check needs.
  std::optional<nlohmann::json> take_remote(const storage::outbox_entry& entry);
  // Replaces `@<table>:<_row_id>` references in `values` with those rows' vtiger_ids (push_batch.cpp):
  // "" when done, else why not, and whether to wait (the row's create is still to come) or fail.
  boost::asio::awaitable<std::string> resolve_local_references(table_ref table,
                                                               const storage::outbox_entry& entry,
                                                               nlohmann::json& values, bool& wait);
  // Counts what is pending and reports it (push_progress.cpp); `running`: the drain goes on.
  boost::asio::awaitable<void> report_progress(std::size_t finished,
                                               std::chrono::steady_clock::time_point started, bool running);
  // Prunes done outbox entries past the retention when prune_interval has passed since the last time
  // (push_prune.cpp).
  boost::asio::awaitable<void> maybe_prune();
  // The session handling `entry` now.
  vtiger::client& session(const storage::outbox_entry& entry);
  // Creates `element` (create_element's), exactly once.
  boost::asio::awaitable<outcome> push_create(table_ref table, entry_ref entry, const nlohmann::json& element,
                                              drain_stats& stats);
  // The record `found` (made by an earlier attempt of this entry's create) becomes the row's: its id is
  // recorded, it is brought up to the row's values (`element`), then written back.
  boost::asio::awaitable<outcome> adopt(table_ref table, entry_ref entry, const nlohmann::json& element,
                                        nlohmann::json found, drain_stats& stats);
  // The entry knows the id of its create (recorded) but the row has none: retrieve it and adopt it.
  boost::asio::awaitable<outcome> adopt_known(table_ref table, entry_ref entry, const nlohmann::json& element,
                                              drain_stats& stats);
  // The row was deleted after a create whose id is unknown: find that record and delete it.
  boost::asio::awaitable<outcome> delete_orphan(table_ref table, entry_ref entry, drain_stats& stats);
  boost::asio::awaitable<outcome> push_update(table_ref table, entry_ref entry, const std::string& vtiger_id,
                                              const nlohmann::json& values, const nlohmann::json& base,
                                              drain_stats& stats);
  boost::asio::awaitable<outcome> push_delete(table_ref table, entry_ref entry, drain_stats& stats);
  // A row of the relations table (storage/relations.hpp; push_relations.cpp): a local link is added with
  // add_related, then confirmed with retrieve_related (add_related answers success even when it links
  // nothing); a delete reaches here only for a link never pushed (a trigger refuses the others).
  boost::asio::awaitable<outcome> push_relation(table_ref table, entry_ref entry, drain_stats& stats);
  // The module a relation label of `source`'s module lists ("" with `why` set when there is none): the
  // source's module is the synced one whose describe idPrefix it carries; its relatedtypes, asked once.
  boost::asio::awaitable<std::string> relation_target(vtiger::client& on, const std::string& source,
                                                      const std::string& label, std::string& why);
  // The element a create of `values` sends (editable non-empty fields, owner, idempotency key), or nullopt
  // with `trouble` set when Vtiger could not be asked for the owner.
  boost::asio::awaitable<std::optional<nlohmann::json>> create_element(table_ref table,
                                                                       const storage::outbox_entry& entry,
                                                                       const nlohmann::json& values,
                                                                       std::string& trouble);
  // The record a create of `element` may already have made (see the header comment), or nullopt.
  boost::asio::awaitable<std::optional<nlohmann::json>> find_created(table_ref table,
                                                                     const storage::outbox_entry& entry,
                                                                     const nlohmann::json& element);
  boost::asio::awaitable<look_result> look_for_created(table_ref table, const storage::outbox_entry& entry,
                                                       const nlohmann::json& element);
  // Carries out a reaction that ends the entry's turn: fail_row, resend or pause (push_outcomes.hpp).
  boost::asio::awaitable<outcome> settle(entry_ref entry, reaction then, const std::string& error,
                                         drain_stats& stats);
  boost::asio::awaitable<outcome> fail(entry_ref entry, const std::string& error, drain_stats& stats);
  // Writes Vtiger's record back into the row and counts the push.
  boost::asio::awaitable<outcome> finish(table_ref table, entry_ref entry, const nlohmann::json& record,
                                         std::string_view op, drain_stats& stats);
  // An inventory record (push_lines.cpp): `element` gets its whole line list as `LineItems` (read from the
  // lines table now) and, for a create, the header `productid` (the first line's); the fields Vtiger 8.2
  // answers HTTP 500 for (hdnDiscountAmount "", shipping_&_handling null) are left out. Returns why it
  // cannot be sent (no lines), else "".
  boost::asio::awaitable<std::string> add_line_items(table_ref table, const storage::outbox_entry& entry,
                                                     nlohmann::json& element, bool create);
  // After an accepted create/revise that carried the lines: Vtiger's lines (ids, values) written back, from
  // the answer's LineItems or, when it has none, one LineItem query.
  boost::asio::awaitable<void> write_back_lines(table_ref table, entry_ref entry,
                                                const nlohmann::json& record);
  boost::asio::awaitable<std::string> owner_for_create();
  std::string idempotency_key(const storage::outbox_entry& entry) const;
  void grow_backoff();

  vtiger::client& client_;
  std::vector<vtiger::client*> sessions_;                 // client_ first, then add_sessions'
  std::map<std::int64_t, vtiger::client*> session_of_;    // entry id -> the session handling it now
  std::map<std::int64_t, nlohmann::json> remote_;         // entry id -> its record as read_remote found it
  std::set<std::int64_t> lines_sent_;                     // entries whose element carried LineItems
  std::map<std::string, nlohmann::json> relation_types_;  // module -> relatedtypes' information
  storage::connection& notify_conn_;
  storage::outbox& outbox_;
  std::map<std::string, storage::mirror_table> tables_;
  std::vector<storage::mirror_table> table_list_;     // the same tables, for claims
  std::vector<storage::mirror_table> table_updates_;  // update_table's, applied by the next drain
  push_settings settings_;
  push_observer observer_;
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_{std::random_device{}()};
  std::optional<std::chrono::steady_clock::time_point> last_prune_;    // maybe_prune
  std::optional<std::chrono::steady_clock::time_point> last_analyze_;  // outbox::analyze, before bulk pushes
  bool stopping_ = false;
  bool reset_due_ = true;  // put in-flight entries back before the next drain (start-up, after a failure)
};

// The fields a push of `entry` would send, built as the engine builds them before it reads the record in
// Vtiger (also what `vtsyncd pending` shows): a create (the row has no vtiger_id) sends every editable
// non-empty field (the owner, when the row names none, and the idempotency key are added when sent), an
// update its changed editable columns (the conflict check may then leave some out), a delete nothing but
// the id. `values`: record::to_vtiger_values of the row; `idempotency_field`: push_settings'.
[[nodiscard]] nlohmann::json fields_to_send(const storage::mirror_table& table,
                                            const storage::outbox_entry& entry, const nlohmann::json& values,
                                            std::string_view idempotency_field);

// Helpers exposed for unit tests.
// Vtiger's value of a field in a comparable form: multipicklist arrays joined with " |##| ", numbers and
// booleans as strings, null as "".
[[nodiscard]] std::string comparable_value(const nlohmann::json& value);
// Whether two values of a field are the same as far as Vtiger is concerned (exact strings; numbers
// numerically for numeric columns; multipicklists as sets; "" equals null).
[[nodiscard]] bool same_value(storage::column_type type, const nlohmann::json& a, const nlohmann::json& b);

}  // namespace vtsync::sync

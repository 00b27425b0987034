#pragma once
// The fake Vtiger's request handling, independent of sockets: one call per HTTP request to
// /webservice.php or /_fake/*, returning the reply and what the transport must do with it (answer,
// truncate, reset, drop, stall first). The HTTP server (server.hpp) owns the sockets, the per-session
// serialisation and --latency-ms.
//
// Error policy: handle() never throws for bad client input; every Vtiger error becomes the recorded
// envelope or HTTP status. std::invalid_argument is thrown only by parse_fault for a bad --fault spec.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fake_vtiger/actors.hpp"
#include "fake_vtiger/cost_model.hpp"
#include "fake_vtiger/line_items.hpp"
#include "fake_vtiger/related.hpp"
#include "fake_vtiger/store.hpp"

namespace vtsync::fake {

enum class sync_mode { php8_stock, php7, patched };
enum class count_mode { v82, v84 };
enum class fault_kind { http500, html, truncated, invalid_session, delay, reset, drop_reply };

[[nodiscard]] std::string_view fault_kind_name(fault_kind kind);

// OPERATION:KIND[:every=N|:prob=P][:seed=S][:after=K], OPERATION may be "*"; KIND is http500, html,
// truncated, invalid_session, reset, drop_reply or delay=MS. Without every/prob the fault fires on
// every call. Throws std::invalid_argument naming the problem.
struct fault_spec {
  std::string operation;
  fault_kind kind = fault_kind::http500;
  int delay_ms = 0;
  std::uint64_t every = 0;
  double probability = 0;
  std::uint64_t seed = 1;
  std::uint64_t after = 0;  // calls to let through before the fault may fire
  std::uint64_t calls = 0;
  std::mt19937_64 rng{1};
};
[[nodiscard]] fault_spec parse_fault(std::string_view spec);

struct service_options {
  std::string access_key = "fakeAdminKey0001";  // admin's; jdoe's is jdoe_access_key
  std::string jdoe_access_key = "fakeJdoeKey00002";
  std::vector<std::pair<std::string, std::uint64_t>> seeds;
  std::int64_t session_ttl = 1440;
  sync_mode sync = sync_mode::php8_stock;
  count_mode count = count_mode::v82;
  std::string idempotency_field;
  std::vector<fault_spec> faults;
  std::uint64_t expire_sessions_every = 0;
  std::int64_t clock_offset = 0;
  bool zone_is_utc = true;
  cost_model cost = cost_model::none;  // --cost-model: queries take the time a real Vtiger needs
  int cost_cores = 2;                  // --cost-cores: the server's cores under that model
  // --currency-decimals: the admin's "number of currency decimals"; currency fields written through the
  // web service are rounded to it (501: 0 decimals, "11.50" -> "12.00000000"). -1: stored as sent.
  int currency_decimals = -1;
};

// What an inventory write or read answers (recordings 237-295): retrieve; create; a revise or update that
// wrote lines; a revise (or update) without lines; an update with lines.
enum class inventory_answer_kind { retrieve, created, revised_lines, revised_header, updated };

struct http_in {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query string
  std::string body;
  std::string content_type;
};

struct http_out {
  enum class action { respond, truncate, reset, drop };
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  action act = action::respond;
  int delay_ms = 0;  // stall this long (holding the session) before acting
};

using form_fields = std::unordered_map<std::string, std::string>;
[[nodiscard]] form_fields parse_form(std::string_view text);  // a=b&c=d, percent- and +-decoding

class service {
 public:
  explicit service(service_options options);

  [[nodiscard]] http_out handle(const http_in& request);

  // The sessionName a request carries (query string or form body), "" when none: the server serialises
  // requests that share it.
  [[nodiscard]] static std::string session_name_of(const http_in& request);

  [[nodiscard]] std::int64_t now() const;
  // The server tells us when a request had to wait for its session's previous request (/_fake/stats).
  void note_session_wait() { ++stats_.session_waits; }
  [[nodiscard]] const store& records() const { return store_; }

 private:
  struct session {
    std::uint32_t user_id = 0;
    std::int64_t last_used = 0;
  };
  struct token {
    std::string value;
    std::int64_t expires = 0;
  };
  struct stats {
    std::map<std::string, std::uint64_t> requests;
    std::map<std::string, std::uint64_t> errors;
    std::map<std::string, std::uint64_t> faults;
    std::uint64_t logins = 0;
    std::uint64_t login_failures = 0;
    std::uint64_t total = 0;
    std::uint64_t session_waits = 0;
    std::deque<std::string> queries;  // the last max_logged_queries query texts, oldest first
  };
  static constexpr std::size_t max_logged_queries = 1000;
  struct call;

  http_out handle_webservice(const http_in& request, const std::string& query_string);
  http_out handle_fake(const http_in& request, std::string_view path, const std::string& query_string);

  http_out op_getchallenge(call& c);
  http_out op_login(call& c);
  http_out op_logout(call& c);
  http_out op_extendsession(call& c);
  http_out op_listtypes(call& c);
  http_out op_describe(call& c);
  http_out op_retrieve(call& c);
  http_out op_create(call& c);
  http_out op_update(call& c, bool revise);
  http_out op_delete(call& c);
  http_out op_query(call& c);
  http_out op_sync(call& c);
  // Related lists (relations_, fake_vtiger/related.hpp).
  http_out op_relatedtypes(call& c);
  http_out op_retrieve_related(call& c);
  http_out op_query_related(call& c);
  http_out op_add_related(call& c);
  // The related records of `source` under `label` (field links and pairs), live records only.
  [[nodiscard]] std::vector<record_view> related_records(const record_view& source,
                                                         const std::string& label) const;
  void touch(std::uint32_t crmid, const std::string& modifiedby);
  http_out fake_link(const nlohmann::json& body, bool unlink);

  http_out error(std::string_view code, std::string_view message);
  http_out error_code_zero(std::string_view message);
  static http_out success(std::string_view result_json);
  static http_out http500();

  std::string new_session_id();
  std::string uniqid();
  void append_record(std::string& out, const record_view& v, const std::vector<int>* fields, bool with_label,
                     bool nulls_as_null, bool sorted_keys) const;
  std::string label_of(const record_view& v) const;
  void append_price_extras(std::string& out, const record_view& v) const;
  void append_attachment(std::string& out, const record_view& v) const;
  static void set_task_duration(const module_meta& m, record& r);
  void bump_commented(const std::string& related_to, const std::string& commenter);
  [[nodiscard]] record as_event(const record& task) const;
  // Inventory records (src/inventory.cpp): their lines, totals and answers.
  [[nodiscard]] line_items::product_lookup products() const;
  std::optional<std::string> write_lines(record& r, const nlohmann::ordered_json& lines);
  void refresh_totals(record& r);
  // Header values a create or update writes beside the generic fields: the S&H charge, empty discounts,
  // region, SalesOrder's invoicestatus.
  void inventory_input(record& r, const nlohmann::ordered_json& element, bool creating,
                       bool writes_lines) const;
  // The answer of a retrieve, create, revise or update of an inventory record; `sent` is the element the
  // write sent (its totals feed LineItems_FinalDetails).
  [[nodiscard]] std::string inventory_answer(const record_view& v, inventory_answer_kind kind,
                                             const nlohmann::ordered_json* sent = nullptr) const;
  // A query row of an inventory module that joins the lines: the line columns are those of `line`, the
  // last joined line inside the LIMIT window (nullptr: the record has no lines).
  [[nodiscard]] std::string inventory_query_row(const record_view& v, const std::vector<int>* columns,
                                                const nlohmann::ordered_json* line, bool sorted_keys) const;
  void expire_all_sessions() { sessions_.clear(); }
  void reset_all();

  service_options options_;
  std::optional<std::int64_t> frozen_;  // POST /_fake/clock {"set": T}; before store_, which reads now()
  store store_;
  actors actors_;
  line_items lines_;
  relations relations_;
  std::unordered_map<std::uint32_t, std::uint32_t> attachments_;  // Document crmid -> its file's crmid
  std::unordered_map<std::uint32_t, std::uint32_t> star_owner_;   // crmid -> the non-admin who created it
  std::uint32_t viewer_ = 1;  // the user of the request being answered (whose "starred" is shown)
  std::unordered_map<std::string, session> sessions_;
  std::unordered_map<std::uint32_t, token> tokens_;  // one per user: a new challenge replaces the old one
  stats stats_;
  std::mt19937_64 rng_;
  std::uint64_t uniq_counter_ = 0;
  cost_clock cost_clock_;
};

}  // namespace vtsync::fake

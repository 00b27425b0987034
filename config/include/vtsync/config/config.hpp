#pragma once
// vtsync's configuration: the TOML file of the outside contract (README), read through one declarative key
// table.
//
// Error policy: load() throws config_error, whose what() is "file:key: what is wrong" (the daemon exits 78
// with it). Nothing here logs, and no message ever contains a secret's value.
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::config {

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class conflict_policy { remote_wins, local_wins, newest_wins };
enum class remote_delete_policy { remove, mark };                // "delete" | "mark"
enum class deletion_detection { automatic, count, sync, scan };  // "auto" | "count" | "sync" | "scan"
enum class log_format { text, json };
enum class sync_direction { two_way, pull_only };  // "two_way" | "pull_only"

// One [modules.<Module>] table: what of a module is mirrored and how. Unset policies fall back to [sync].
struct module_settings {
  sync_direction direction = sync_direction::two_way;
  std::vector<std::string> fields;          // only these Vtiger fields (empty = all)
  std::vector<std::string> exclude_fields;  // all but these
  std::string filter;                       // a VTQL condition ("" = every record)
  std::vector<std::string> related;         // relation labels as relatedtypes names them ("Sales Order")
  std::optional<conflict_policy> conflicts;
  std::optional<remote_delete_policy> on_remote_delete;
};

struct vtiger_settings {
  std::string name = "default";  // the instance's name (logs, status, leases)
  std::string url;               // normalised: always ends in webservice.php
  std::string username;
  std::string access_key;       // secret: never print
  std::string access_key_file;  // where access_key came from, when a file named in the config
  std::chrono::milliseconds timeout{std::chrono::seconds{30}};
  bool verify_tls = true;
  std::string ca_file;
  double max_requests_per_second = 0;  // 0 = unlimited
  std::string server_timezone = "UTC";
};

struct postgres_settings {
  std::string conninfo;  // may hold a password: log only through storage::scrub_conninfo
  std::string schema = "vtiger";
  std::chrono::milliseconds statement_timeout{std::chrono::seconds{60}};
};

struct sync_settings {
  std::vector<std::string> modules;
  std::chrono::milliseconds poll_interval{std::chrono::seconds{30}};
  std::string default_assigned_user_id;
  conflict_policy conflicts = conflict_policy::remote_wins;
  remote_delete_policy on_remote_delete = remote_delete_policy::remove;
  std::string idempotency_field;
  std::chrono::milliseconds overlap{std::chrono::seconds{5}};
  deletion_detection deletions = deletion_detection::automatic;
  std::chrono::milliseconds deletion_scan_interval{std::chrono::minutes{15}};
  std::chrono::milliseconds describe_interval{std::chrono::minutes{10}};
  int max_in_flight_requests = 4;
  int backfill_parallel = 1;
  std::chrono::milliseconds outbox_retention{std::chrono::hours{7 * 24}};
  std::map<std::string, module_settings> per_module;  // [modules.<Module>] tables, by module name

  // The module's settings with [sync]'s policies filled in.
  [[nodiscard]] module_settings scope_of(const std::string& module) const;
};

struct health_settings {
  std::string listen = "127.0.0.1:8089";
};

struct log_settings {
  std::string level = "info";
  log_format format = log_format::text;
};

struct settings {
  std::string source_file;
  vtiger_settings vtiger;
  postgres_settings postgres;
  sync_settings sync;
  health_settings health;
  log_settings log;
  // One full settings per Vtiger instance (the single [vtiger] form: one, equal to this one but for this
  // list, which is empty in the copies). With [[vtiger]] tables, the fields above hold the first instance.
  std::vector<settings> instances;
};

enum class key_type { string, boolean, duration, integer, number, string_list, choice, path };

// One row of the key table: it drives parsing, validation, --help, the README reference and the sample
// config, so these can never drift apart.
struct key_spec {
  std::string name;  // "section.key"
  key_type type;
  std::string default_text;  // as a user would write it in TOML; "" when there is none
  std::string description;
  bool reloadable = false;  // takes effect on SIGHUP without a restart
  bool required = false;
  std::vector<std::string> choices;  // for key_type::choice
  std::string env_override;          // environment variable that overrides the file, if any
};

[[nodiscard]] const std::vector<key_spec>& key_table();

// Environment consulted by load(); injectable for tests.
struct environment {
  std::map<std::string, std::string> vars;
  [[nodiscard]] static environment from_process();
  [[nodiscard]] std::optional<std::string> get(const std::string& name) const;
};

// Reads, validates and resolves secrets (access_key_file, $CREDENTIALS_DIRECTORY/vtiger-access-key,
// VTSYNC_VTIGER_ACCESS_KEY). Throws config_error.
[[nodiscard]] settings load(const std::string& path, const environment& env = environment::from_process());

// The same for TOML text already in memory; `path` names it in messages (and is settings::source_file).
// Never throws anything but config_error (and std::bad_alloc) for any text: tests/fuzz/fuzz_config.cpp.
[[nodiscard]] settings load_from_string(std::string_view toml_text, const std::string& path,
                                        const environment& env = environment::from_process());

// The keys whose values differ between two settings and that need a restart to take effect.
[[nodiscard]] std::vector<std::string> restart_required_changes(const settings& before,
                                                                const settings& after);

// Markdown table of every key (for README.md) and a commented sample TOML file.
[[nodiscard]] std::string render_reference_markdown();
[[nodiscard]] std::string render_sample_toml();

[[nodiscard]] std::string_view to_string(conflict_policy p);
[[nodiscard]] std::string_view to_string(remote_delete_policy p);
[[nodiscard]] std::string_view to_string(deletion_detection d);
[[nodiscard]] std::string_view to_string(sync_direction d);

}  // namespace vtsync::config

// The key table: one row per configuration key, its spec (public, key_spec) with how it is read and compared
// (key_impl). Adding a key here is all it takes to parse, validate, document and reload-check it; then run
// scripts/update-docs. Also the public views of the table: key_table(), restart_required_changes(),
// to_string().
#include "key_table.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>

#include "validation.hpp"
#include "vtsync/config/duration.hpp"

namespace vtsync::config {

namespace detail {

namespace {

using namespace std::chrono_literals;

constexpr named<conflict_policy> conflict_policy_names[] = {
    {conflict_policy::remote_wins, "remote_wins"},
    {conflict_policy::local_wins, "local_wins"},
    {conflict_policy::newest_wins, "newest_wins"},
};
constexpr named<remote_delete_policy> remote_delete_policy_names[] = {
    {remote_delete_policy::remove, "delete"},
    {remote_delete_policy::mark, "mark"},
};
constexpr named<deletion_detection> deletion_detection_names[] = {
    {deletion_detection::automatic, "auto"},
    {deletion_detection::count, "count"},
    {deletion_detection::sync, "sync"},
    {deletion_detection::scan, "scan"},
};
constexpr named<sync_direction> sync_direction_names[] = {
    {sync_direction::two_way, "two_way"},
    {sync_direction::pull_only, "pull_only"},
};
constexpr named<log_format> log_format_names[] = {
    {log_format::text, "text"},
    {log_format::json, "json"},
};

// A field's value as key_impl::show compares it.
std::string shown(const std::string& v) { return v; }
std::string shown(bool v) { return v ? "1" : "0"; }
std::string shown(int v) { return std::to_string(v); }
std::string shown(double v) { return std::to_string(v); }
std::string shown(std::chrono::milliseconds v) { return format_duration(v); }
std::string shown(conflict_policy v) { return std::string{name_of(conflict_policy_names, v)}; }
std::string shown(remote_delete_policy v) { return std::string{name_of(remote_delete_policy_names, v)}; }
std::string shown(deletion_detection v) { return std::string{name_of(deletion_detection_names, v)}; }
std::string shown(log_format v) { return std::string{name_of(log_format_names, v)}; }
std::string shown(sync_direction v) { return std::string{name_of(sync_direction_names, v)}; }
template <class T>
std::string shown(const std::optional<T>& v) {
  return v ? shown(*v) : std::string{};
}
std::string shown(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + '\x1f';
  return out;
}

// Readers for the common kinds of key: node and origin in, the field's value out (or config_error).
auto duration_between(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  return [=](const toml::node& n, const origin& at) { return as_duration(n, at, min, max); };
}
auto integer_between(int min, int max) {
  return [=](const toml::node& n, const origin& at) { return static_cast<int>(as_integer(n, at, min, max)); };
}
template <class Enum, std::size_t N>
auto one_of(const named<Enum> (&names)[N]) {
  return [&names](const toml::node& n, const origin& at) { return as_enum(n, at, names); };
}
// A string `is` accepts ("'<value>' <problem>" otherwise); with `optional`, "" is accepted too.
auto string_that(bool (*is)(const std::string&), std::string_view problem, bool optional = false) {
  return [=](const toml::node& n, const origin& at) {
    auto v = optional ? as_string(n, at) : as_nonempty_string(n, at);
    if ((!optional || !v.empty()) && !is(v)) at.fail(concat("'", v, "' ", problem));
    return v;
  };
}

std::string read_url(const toml::node& n, const origin& at) {
  return normalise_vtiger_url(as_nonempty_string(n, at), at);
}

std::string read_readable_file(const toml::node& n, const origin& at) {
  auto path = as_nonempty_string(n, at);
  std::ifstream probe(path);
  if (!probe) at.fail("cannot read '" + path + "': " + std::strerror(errno));
  return path;
}

double read_request_rate(const toml::node& n, const origin& at) {
  const double v = as_number(n, at);
  if (v < 0 || v > 100000) at.fail("must be between 0 and 100000");
  return v;
}

std::string read_schema(const toml::node& n, const origin& at) {
  auto schema = as_nonempty_string(n, at);
  if (schema == "vtsync") at.fail("'vtsync' is reserved for the daemon's internal state");
  if (schema.size() > 63) at.fail("must be at most 63 bytes");
  return schema;
}

std::vector<std::string> read_modules(const toml::node& n, const origin& at) {
  const auto* arr = n.as_array();
  if (arr == nullptr) at.fail("expected an array of module names, got " + node_type_name(n));
  if (arr->empty()) at.fail("the module list is empty: name at least one module");
  std::set<std::string> seen;
  std::vector<std::string> modules;
  for (const auto& item : *arr) {
    const auto name = as_nonempty_string(item, at);
    if (!is_identifier(name)) at.fail("'" + name + "' is not a Vtiger module name");
    if (!seen.insert(name).second) at.fail("'" + name + "' is listed twice");
    modules.push_back(name);
  }
  return modules;
}

// A list of distinct Vtiger field names.
std::vector<std::string> read_field_list(const toml::node& n, const origin& at) {
  const auto* arr = n.as_array();
  if (arr == nullptr) at.fail("expected an array of Vtiger field names, got " + node_type_name(n));
  std::set<std::string> seen;
  std::vector<std::string> fields;
  for (const auto& item : *arr) {
    const auto name = as_nonempty_string(item, at);
    if (!is_identifier(name)) at.fail("'" + name + "' is not a Vtiger field name");
    if (!seen.insert(name).second) at.fail("'" + name + "' is listed twice");
    fields.push_back(name);
  }
  return fields;
}

// Relation labels as Vtiger's relatedtypes gives them: distinct, non-empty (they may hold spaces).
std::vector<std::string> read_label_list(const toml::node& n, const origin& at) {
  const auto* arr = n.as_array();
  if (arr == nullptr) at.fail("expected an array of relation labels, got " + node_type_name(n));
  std::set<std::string> seen;
  std::vector<std::string> labels;
  for (const auto& item : *arr) {
    const auto label = as_nonempty_string(item, at);
    if (!seen.insert(label).second) at.fail("'" + label + "' is listed twice");
    labels.push_back(label);
  }
  return labels;
}

std::string read_filter(const toml::node& n, const origin& at) {
  auto filter = as_nonempty_string(n, at);
  if (const auto problem = filter_problem(filter); !problem.empty()) at.fail(problem);
  return filter;
}

// The module a [modules.<Module>] key is read for: "modules.Contacts.direction" -> "Contacts".
std::string module_of(const origin& at) {
  const auto first = at.key.find('.');
  const auto last = at.key.rfind('.');
  return at.key.substr(first + 1, last - first - 1);
}

const key_impl& find_key(std::string_view name) {
  for (const auto& k : impl_table()) {
    if (k.spec.name == name) return k;
  }
  throw std::logic_error("no key " + std::string{name});  // not reached: aliases name keys of the table
}

}  // namespace

const std::vector<key_impl>& impl_table() {
  static const std::vector<key_impl> table = [] {
    std::vector<key_impl> t;
    auto add = [&t](key_spec spec, auto apply, auto show) { t.push_back({std::move(spec), apply, show}); };
    // A key held in one field, settings.*section.*member, read by `read`.
    auto field = [&add](key_spec&& spec, auto section, auto member, auto read) {
      add(
          std::move(spec),
          [=](settings& s, const toml::node& n, const origin& at) { s.*section.*member = read(n, at); },
          [=](const settings& s) { return shown(s.*section.*member); });
    };
    // A per-instance key read and compared as the file-wide key it stands for (vtiger.schema as
    // postgres.schema).
    auto alias = [&add](key_spec&& spec, std::string_view target) {
      add(
          std::move(spec),
          [target](settings& s, const toml::node& n, const origin& at) { find_key(target).apply(s, n, at); },
          [target](const settings& s) { return find_key(target).show(s); });
    };
    constexpr auto vtiger = &settings::vtiger;
    constexpr auto postgres = &settings::postgres;
    constexpr auto sync = &settings::sync;
    using V = vtiger_settings;
    using S = sync_settings;

    // [vtiger]
    field({"vtiger.url", key_type::string, "", "Vtiger base URL; `webservice.php` is appended when missing.",
           false, true},
          vtiger, &V::url, read_url);
    field({"vtiger.username", key_type::string, "",
           "Vtiger user the daemon logs in as (a dedicated API user is best).", false, true},
          vtiger, &V::username, as_nonempty_string);
    add(
        {"vtiger.access_key_file",
         key_type::path,
         "",
         "File holding the user's access key (My Preferences > Access Key). Without it (and without `access_key`), "
         "the key is read from `$CREDENTIALS_DIRECTORY/vtiger-access-key` (the service's `LoadCredential=`), else from "
         "`vtiger-access-key` beside this file (root's `vtsyncd check`); env `VTSYNC_VTIGER_ACCESS_KEY` overrides all.",
         false,
         false,
         {},
         ""},
        [](settings& s, const toml::node& n, const origin& at) {
          s.vtiger.access_key_file = as_nonempty_string(n, at);  // read once the environment is known
        },
        [](const settings& s) { return s.vtiger.access_key; });
    add(
        {"vtiger.access_key",
         key_type::string,
         "",
         "The access key itself (prefer `access_key_file` or credentials; never on the command line).",
         false,
         false,
         {},
         "VTSYNC_VTIGER_ACCESS_KEY"},
        [](settings& s, const toml::node& n, const origin& at) {
          if (!s.vtiger.access_key_file.empty())
            at.fail("set either access_key or access_key_file, not both");
          s.vtiger.access_key = as_nonempty_string(n, at);
        },
        [](const settings& s) { return s.vtiger.access_key; });
    field({"vtiger.timeout", key_type::duration, "\"30s\"",
           "Deadline for each step of one web-service request.", true},
          vtiger, &V::timeout, duration_between(1s, 10min));
    field({"vtiger.verify_tls", key_type::boolean, "true",
           "Verify the server's TLS certificate and host name. `false` is for tests only and logs a warning.",
           false},
          vtiger, &V::verify_tls, as_bool);
    field({"vtiger.ca_file", key_type::path, "", "PEM file of a private CA to trust for the Vtiger server.",
           false},
          vtiger, &V::ca_file, read_readable_file);
    field({"vtiger.max_requests_per_second", key_type::number, "0",
           "Client-side rate limit on web-service requests (0 = unlimited).", true},
          vtiger, &V::max_requests_per_second, read_request_rate);
    field(
        {"vtiger.server_timezone", key_type::string, "\"UTC\"",
         "Time zone of Vtiger's stored datetimes (config.inc.php `$default_timezone`), an IANA name.", false},
        vtiger, &V::server_timezone,
        string_that(is_zone_name, "is not a time zone name (e.g. UTC, Europe/Berlin)"));
    // Per-instance keys: with several Vtiger instances (`[[vtiger]]` tables), each table takes every
    // vtiger.* key plus these, which override the [postgres]/[sync] key of the same meaning for it.
    field(
        {"vtiger.name", key_type::string, "\"default\"",
         "Names the Vtiger instance in logs, status and leases. Several instances: one `[[vtiger]]` table "
         "each (every `vtiger.*` key, these below included), each with its own `name` and `schema`; an instance that names no key reads "
         "`$CREDENTIALS_DIRECTORY/vtiger-access-key-<name>`.",
         false},
        vtiger, &V::name, string_that(is_identifier, "is not a name (letters, digits, _)"));
    alias({"vtiger.schema", key_type::string, "", "This instance's mirror schema; default `postgres.schema`.",
           false},
          "postgres.schema");
    alias({"vtiger.modules", key_type::string_list, "", "This instance's modules; default `sync.modules`.",
           true},
          "sync.modules");
    alias({"vtiger.default_assigned_user_id", key_type::string, "",
           "This instance's owner for local inserts; default `sync.default_assigned_user_id`.", true},
          "sync.default_assigned_user_id");
    alias({"vtiger.idempotency_field", key_type::string, "",
           "This instance's idempotency custom field; default `sync.idempotency_field`.", false},
          "sync.idempotency_field");

    // [postgres]
    field({"postgres.conninfo",
           key_type::string,
           "",
           "libpq connection string or URI of the mirror database.",
           false,
           true,
           {},
           "VTSYNC_POSTGRES_CONNINFO"},
          postgres, &postgres_settings::conninfo, as_nonempty_string);
    field({"postgres.schema", key_type::string, "\"vtiger\"",
           "Schema of the mirror tables (`<schema>.<module>`).", false},
          postgres, &postgres_settings::schema, read_schema);
    field({"postgres.statement_timeout", key_type::duration, "\"60s\"",
           "Server-side statement_timeout of the daemon's sessions.", false},
          postgres, &postgres_settings::statement_timeout, duration_between(1s, 1h));

    // [sync]
    field(
        {"sync.modules", key_type::string_list, "",
         "Vtiger modules to mirror, e.g. [\"Contacts\", \"Accounts\"]; `Users` and `Groups` are mirrored "
         "read-only. On SIGHUP an added module starts (its table is made), a removed one stops being pulled "
         "(its table stays).",
         true, true},
        sync, &S::modules, read_modules);
    field({"sync.poll_interval", key_type::duration, "\"30s\"",
           "Time between two pull cycles of a module (a little jitter is added).", true},
          sync, &S::poll_interval, duration_between(1s, 24h));
    field({"sync.default_assigned_user_id", key_type::string, "",
           "Owner (`19xN` user or `20xN` group) for local inserts that name none; empty = the sync user.",
           true},
          sync, &S::default_assigned_user_id,
          string_that(is_vtiger_id, "is not a Vtiger id like 19x1", true));
    field({"sync.conflict_policy", key_type::choice, "\"remote_wins\"",
           "Who wins when the same field changed on both sides since the last sync.", true, false,
           names_of(conflict_policy_names)},
          sync, &S::conflicts, one_of(conflict_policy_names));
    field(
        {"sync.on_remote_delete", key_type::choice, "\"delete\"",
         "What a record deleted in Vtiger does to its row: `delete` it, or `mark` it (`_sync_state = 'deleted'`).",
         true, false, names_of(remote_delete_policy_names)},
        sync, &S::on_remote_delete, one_of(remote_delete_policy_names));
    field(
        {"sync.idempotency_field", key_type::string, "",
         "A Vtiger custom field (e.g. cf_901) where the daemon writes a key on create, so a retried create never duplicates.",
         false},
        sync, &S::idempotency_field, string_that(is_identifier, "is not a Vtiger field name", true));
    field({"sync.overlap", key_type::duration, "\"5s\"",
           "How far back each pull re-reads, to catch saves that committed late; unchanged rows are skipped.",
           true},
          sync, &S::overlap, duration_between(0ms, 1h));
    field(
        {"sync.deletion_detection", key_type::choice, "\"auto\"",
         "How records deleted in Vtiger are found: `count` (range counts, every cycle), `sync` (Vtiger's `sync` operation), `scan` (id scans); `auto` = count where `count(*)` answers, else sync where it works, else scan.",
         true, false, names_of(deletion_detection_names)},
        sync, &S::deletions, one_of(deletion_detection_names));
    field(
        {"sync.deletion_scan_interval", key_type::duration, "\"15m\"",
         "How often `sync` is asked or an id scan starts when that is the method; with `sync`, a backstop id scan also runs every 12 such intervals.",
         true},
        sync, &S::deletion_scan_interval, duration_between(1s, 7 * 24h));
    field({"sync.describe_interval", key_type::duration, "\"10m\"",
           "How often each module's describe is read again: a field added in Vtiger becomes a column within "
           "this time (at once when a pulled record brings it).",
           true},
          sync, &S::describe_interval, duration_between(1s, 7 * 24h));
    field({"sync.max_in_flight_requests", key_type::integer, "4",
           "Global limit on concurrent web-service requests; also the number of Vtiger sessions the push "
           "writes over at once.",
           false},
          sync, &S::max_in_flight_requests, integer_between(1, 64));
    field({"sync.backfill_parallel", key_type::integer, "1",
           "Default `--parallel` of `vtsyncd backfill`: sessions fetching id ranges at once.", true},
          sync, &S::backfill_parallel, integer_between(1, 32));
    field({"sync.outbox_retention", key_type::duration, "\"7d\"",
           "How long pushed (`done`) outbox entries are kept before the daemon prunes them; failed ones stay "
           "until retried or discarded.",
           false},
          sync, &S::outbox_retention, duration_between(1s, 3650 * 24h));

    // [modules.<Module>]: one optional table per module of sync.modules, read by load.cpp for each.
    // A key held in module_settings::*member, read by `read`.
    auto per_module = [&add](key_spec&& spec, auto member, auto read) {
      add(
          std::move(spec),
          [=](settings& s, const toml::node& n, const origin& at) {
            s.sync.per_module[module_of(at)].*member = read(n, at);
          },
          [=](const settings& s) {
            std::string out;
            // A module's table that leaves the key out compares equal to no table at all.
            const auto unset = shown(module_settings{}.*member);
            for (const auto& [module, m] : s.sync.per_module) {
              if (auto value = shown(m.*member); value != unset) out += module + "=" + value + ";";
            }
            return out;
          });
    };
    using M = module_settings;
    per_module(
        {"modules.<Module>.direction", key_type::choice, "\"two_way\"",
         "`pull_only`: Vtiger to PostgreSQL only; the mirror table then refuses a user's INSERT, UPDATE "
         "and DELETE with an error (the daemon's own writes go on).",
         false, false, names_of(sync_direction_names)},
        &M::direction, one_of(sync_direction_names));
    per_module({"modules.<Module>.fields", key_type::string_list, "",
                "Only these Vtiger fields become columns and are pulled and pushed (the record's id and "
                "`modifiedtime` are always read). Not with `exclude_fields`.",
                false},
               &M::fields, read_field_list);
    per_module({"modules.<Module>.exclude_fields", key_type::string_list, "",
                "Every Vtiger field but these. A column left from a wider setting is kept with its data, no "
                "longer written or pushed.",
                false},
               &M::exclude_fields, read_field_list);
    per_module({"modules.<Module>.filter", key_type::string, "",
                "A VTQL condition (e.g. `mailingcountry = 'Germany'`): only matching records are mirrored. "
                "No parentheses (VTQL has none); checked with one count query at start.",
                false},
               &M::filter, read_filter);
    per_module(
        {"modules.<Module>.related", key_type::string_list, "",
         "Relation labels as Vtiger's `relatedtypes` names them (e.g. `[\"Contacts\", \"Products\"]`). "
         "Checked against `relatedtypes` at start (an unknown label stops the daemon, exit 78). The links "
         "are mirrored in `<schema>.relations` (README \"Related lists\").",
         false},
        &M::related, read_label_list);
    per_module({"modules.<Module>.conflict_policy", key_type::choice, "",
                "This module's `sync.conflict_policy`; default the [sync] one.", false, false,
                names_of(conflict_policy_names)},
               &M::conflicts, [](const toml::node& n, const origin& at) {
                 return std::optional{as_enum(n, at, conflict_policy_names)};
               });
    per_module({"modules.<Module>.on_remote_delete", key_type::choice, "",
                "This module's `sync.on_remote_delete`; default the [sync] one.", false, false,
                names_of(remote_delete_policy_names)},
               &M::on_remote_delete, [](const toml::node& n, const origin& at) {
                 return std::optional{as_enum(n, at, remote_delete_policy_names)};
               });

    // [health]
    field(
        {"health.listen", key_type::string, "\"127.0.0.1:8089\"",
         "Address of the health endpoint (`/healthz`, `/readyz`, `/metrics`, `/status`); `[::1]:8089` for IPv6.",
         false},
        &settings::health, &health_settings::listen,
        string_that(is_listen_address, "is not host:port (e.g. 127.0.0.1:8089 or [::1]:8089)"));

    // [log]
    const std::vector<std::string> log_levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    field({"log.level", key_type::choice, "\"info\"", "Log level.", true, false, log_levels}, &settings::log,
          &log_settings::level,
          [log_levels](const toml::node& n, const origin& at) { return as_choice(n, at, log_levels); });
    field({"log.format", key_type::choice, "\"text\"",
           "`text` lines for a terminal or journald, `json` lines for a collector.", true, false,
           names_of(log_format_names)},
          &settings::log, &log_settings::format, one_of(log_format_names));
    return t;
  }();
  return table;
}

bool is_instance_key(const key_impl& k) { return k.spec.name.rfind("vtiger.", 0) == 0; }

bool is_module_key(const key_impl& k) { return k.spec.name.rfind(module_key_prefix, 0) == 0; }

}  // namespace detail

const std::vector<key_spec>& key_table() {
  static const std::vector<key_spec> specs = [] {
    std::vector<key_spec> out;
    for (const auto& k : detail::impl_table()) out.push_back(k.spec);
    return out;
  }();
  return specs;
}

std::vector<std::string> restart_required_changes(const settings& before, const settings& after) {
  std::vector<std::string> out;
  for (const auto& k : detail::impl_table()) {
    if (!k.spec.reloadable && k.show(before) != k.show(after)) out.push_back(k.spec.name);
  }
  return out;
}

std::string_view to_string(conflict_policy p) { return detail::name_of(detail::conflict_policy_names, p); }

std::string_view to_string(remote_delete_policy p) {
  return detail::name_of(detail::remote_delete_policy_names, p);
}

std::string_view to_string(deletion_detection d) {
  return detail::name_of(detail::deletion_detection_names, d);
}

std::string_view to_string(sync_direction d) { return detail::name_of(detail::sync_direction_names, d); }

module_settings sync_settings::scope_of(const std::string& module) const {
  module_settings m;
  if (const auto it = per_module.find(module); it != per_module.end()) m = it->second;
  if (!m.conflicts) m.conflicts = conflicts;
  if (!m.on_remote_delete) m.on_remote_delete = on_remote_delete;
  return m;
}

}  // namespace vtsync::config

#include "vtsync/config/config.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

#include "vtsync/config/duration.hpp"

extern char** environ;  // NOLINT: POSIX

namespace vtsync::config {

namespace {

using namespace std::chrono_literals;

// The pieces one after the other, appended to one string (no temporary strings per `+`).
template <class... Parts>
void append(std::string& out, const Parts&... parts) {
  ((out += parts), ...);
}
template <class... Parts>
[[nodiscard]] std::string concat(const Parts&... parts) {
  std::string out;
  append(out, parts...);
  return out;
}

// Where a value is being read from, for error messages.
struct origin {
  const std::string& file;
  const std::string& key;
  [[noreturn]] void fail(const std::string& problem) const {
    throw config_error(file + ":" + key + ": " + problem);
  }
};

std::string node_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

std::string as_string(const toml::node& node, const origin& at) {
  if (const auto* s = node.as_string()) return s->get();
  at.fail("expected a string, got " + node_type_name(node));
}

std::string as_nonempty_string(const toml::node& node, const origin& at) {
  auto value = as_string(node, at);
  if (value.empty()) at.fail("must not be empty");
  return value;
}

bool as_bool(const toml::node& node, const origin& at) {
  if (const auto* b = node.as_boolean()) return b->get();
  at.fail("expected true or false, got " + node_type_name(node));
}

std::int64_t as_integer(const toml::node& node, const origin& at, std::int64_t min, std::int64_t max) {
  const auto* i = node.as_integer();
  if (i == nullptr) at.fail("expected an integer, got " + node_type_name(node));
  if (i->get() < min || i->get() > max) {
    at.fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
            std::to_string(i->get()));
  }
  return i->get();
}

double as_number(const toml::node& node, const origin& at) {
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  if (const auto* f = node.as_floating_point()) return f->get();
  at.fail("expected a number, got " + node_type_name(node));
}

std::chrono::milliseconds as_duration(const toml::node& node, const origin& at, std::chrono::milliseconds min,
                                      std::chrono::milliseconds max) {
  const auto text = as_string(node, at);
  const auto value = parse_duration(text);
  if (!value) at.fail("'" + text + "' is not a duration (write e.g. 500ms, 30s, 5m, 1h)");
  if (*value < min || *value > max) {
    at.fail("must be between " + format_duration(min) + " and " + format_duration(max) + ", got " + text);
  }
  return *value;
}

std::string as_choice(const toml::node& node, const origin& at, const std::vector<std::string>& choices) {
  auto value = as_string(node, at);
  for (const auto& c : choices) {
    if (c == value) return value;
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  at.fail("'" + value + "' is not one of: " + list);
}

// Hand-written matchers, no std::regex: libstdc++'s regex executor recurses once per character, so a
// long value (a 300 kB module name, found by tests/fuzz/fuzz_config) overflowed the stack instead of
// being reported.
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c); });
}

// ^[A-Za-z_][A-Za-z0-9_]*$
bool is_identifier(const std::string& s) {
  if (s.empty() || !(is_alpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

// ^[0-9]+x[0-9]+$
bool is_vtiger_id(const std::string& s) {
  const auto x = s.find('x');
  if (x == std::string::npos) return false;
  const std::string_view v{s};
  return all_digits(v.substr(0, x)) && all_digits(v.substr(x + 1));
}

// ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$
bool is_zone_name(const std::string& s) {
  std::size_t segment = 0;
  for (char c : s) {
    if (c == '/') {
      if (segment == 0) return false;
      segment = 0;
    } else if (is_alpha(c) || is_digit(c) || c == '_' || c == '+' || c == '-') {
      ++segment;
    } else {
      return false;
    }
  }
  return segment > 0;
}

// ^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost):([0-9]{1,5})$ with the port <= 65535.
bool is_listen_address(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string_view host = std::string_view{s}.substr(0, colon),
                         port = std::string_view{s}.substr(colon + 1);
  if (!all_digits(port) || port.size() > 5 || std::stoi(std::string{port}) > 65535) return false;
  if (host == "localhost") return true;
  if (host.size() >= 3 && host.front() == '[' && host.back() == ']') {
    const auto inner = host.substr(1, host.size() - 2);
    return std::all_of(inner.begin(), inner.end(), [](char c) {
      return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    });
  }
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

std::string normalise_vtiger_url(const std::string& text, const origin& at) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) at.fail("'" + text + "' is not an absolute URL (write e.g. https://crm.example.com)");
  const auto scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https")
    at.fail("the URL scheme must be http or https, got '" + std::string{scheme} + "'");
  if (parsed->encoded_host().empty()) at.fail("the URL has no host");
  if (parsed->has_userinfo()) at.fail("the URL must not carry a user name or password");
  std::string path{parsed->encoded_path()};
  const std::string tail = "webservice.php";
  if (path.size() < tail.size() || path.compare(path.size() - tail.size(), tail.size(), tail) != 0) {
    if (path.empty() || path.back() != '/') path += '/';
    path += tail;
  }
  std::string out{scheme};
  out += "://";
  out += parsed->encoded_authority();
  out += path;
  return out;
}

std::string read_secret_file(const std::string& path, const origin& at) {
  std::ifstream in(path, std::ios::binary);
  if (!in) at.fail("cannot read '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' '))
    value.pop_back();
  if (value.empty()) at.fail("the file '" + path + "' is empty");
  return value;
}

// The access key of one instance, the first of: the environment (`env_name`, single instance only),
// `access_key`, `access_key_file`, `$CREDENTIALS_DIRECTORY/<credential>` (the service: LoadCredential=), and
// `<credential>` beside the configuration file (root running `vtsyncd check` by hand: the file the credential
// is loaded from). A file that exists but cannot be read is an error naming it, never a silent fall-through.
void resolve_access_key(vtiger_settings& v, const std::string& credential, const char* env_name,
                        const environment& env, const std::string& path, const std::string& where) {
  const origin at{path, where + ".access_key_file"};
  if (const auto env_key = env_name != nullptr ? env.get(env_name) : std::nullopt) {
    v.access_key = *env_key;
  } else if (!v.access_key.empty()) {
    return;
  } else if (!v.access_key_file.empty()) {
    v.access_key = read_secret_file(v.access_key_file, at);
  } else if (auto dir = env.get("CREDENTIALS_DIRECTORY");
             dir && std::filesystem::exists(*dir + "/" + credential)) {
    v.access_key = read_secret_file(*dir + "/" + credential, at);
  } else {
    const auto beside = std::filesystem::path{path}.parent_path() / credential;
    std::error_code ec;
    if (!std::filesystem::exists(beside, ec)) {
      at.fail("missing: no access key (set access_key_file, or provide $CREDENTIALS_DIRECTORY/" + credential +
              ", or the file " + beside.string() +
              (env_name != nullptr ? std::string{", or "} + env_name : std::string{}) + ")");
    }
    v.access_key = read_secret_file(beside.string(), at);
  }
}

struct key_impl {
  key_spec spec;
  std::function<void(settings&, const toml::node&, const origin&)> apply;
  std::function<std::string(const settings&)> show;  // for change detection; never shown to users
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + '\x1f';
  return out;
}

const std::vector<key_impl>& impl_table();

void apply_key(const std::string& name, settings& s, const toml::node& n, const origin& at) {
  for (const auto& k : impl_table()) {
    if (k.spec.name == name) return k.apply(s, n, at);
  }
}

const std::vector<key_impl>& impl_table() {
  static const std::vector<key_impl> table = [] {
    std::vector<key_impl> t;
    auto add = [&t](key_spec spec, auto apply, auto show) { t.push_back({std::move(spec), apply, show}); };

    // [vtiger]
    add(
        {"vtiger.url", key_type::string, "", "Vtiger base URL; `webservice.php` is appended when missing.",
         false, true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.vtiger.url = normalise_vtiger_url(as_nonempty_string(n, at), at);
        },
        [](const settings& s) { return s.vtiger.url; });
    add(
        {"vtiger.username", key_type::string, "",
         "Vtiger user the daemon logs in as (a dedicated API user is best).", false, true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.vtiger.username = as_nonempty_string(n, at);
        },
        [](const settings& s) { return s.vtiger.username; });
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
    add(
        {"vtiger.timeout", key_type::duration, "\"30s\"",
         "Deadline for each step of one web-service request.", true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.vtiger.timeout = as_duration(n, at, 1s, 10min);
        },
        [](const settings& s) { return format_duration(s.vtiger.timeout); });
    add(
        {"vtiger.verify_tls", key_type::boolean, "true",
         "Verify the server's TLS certificate and host name. `false` is for tests only and logs a warning.",
         false},
        [](settings& s, const toml::node& n, const origin& at) { s.vtiger.verify_tls = as_bool(n, at); },
        [](const settings& s) { return std::string{s.vtiger.verify_tls ? "1" : "0"}; });
    add(
        {"vtiger.ca_file", key_type::path, "", "PEM file of a private CA to trust for the Vtiger server.",
         false},
        [](settings& s, const toml::node& n, const origin& at) {
          s.vtiger.ca_file = as_nonempty_string(n, at);
          std::ifstream probe(s.vtiger.ca_file);
          if (!probe) at.fail("cannot read '" + s.vtiger.ca_file + "': " + std::strerror(errno));
        },
        [](const settings& s) { return s.vtiger.ca_file; });
    add(
        {"vtiger.max_requests_per_second", key_type::number, "0",
         "Client-side rate limit on web-service requests (0 = unlimited).", true},
        [](settings& s, const toml::node& n, const origin& at) {
          const double v = as_number(n, at);
          if (v < 0 || v > 100000) at.fail("must be between 0 and 100000");
          s.vtiger.max_requests_per_second = v;
        },
        [](const settings& s) { return std::to_string(s.vtiger.max_requests_per_second); });
    add(
        {"vtiger.server_timezone", key_type::string, "\"UTC\"",
         "Time zone of Vtiger's stored datetimes (config.inc.php `$default_timezone`), an IANA name.", false},
        [](settings& s, const toml::node& n, const origin& at) {
          auto zone = as_nonempty_string(n, at);
          if (!is_zone_name(zone))
            at.fail("'" + zone + "' is not a time zone name (e.g. UTC, Europe/Berlin)");
          s.vtiger.server_timezone = zone;
        },
        [](const settings& s) { return s.vtiger.server_timezone; });
    // Per-instance keys: with several Vtiger instances (`[[vtiger]]` tables), each table takes every
    // vtiger.* key plus these, which override the [postgres]/[sync] key of the same meaning for it.
    add(
        {"vtiger.name", key_type::string, "\"default\"",
         "Names the Vtiger instance in logs, status and leases. Several instances: one `[[vtiger]]` table "
         "each (every `vtiger.*` key, these below included), each with its own `name` and `schema`; an instance that names no key reads "
         "`$CREDENTIALS_DIRECTORY/vtiger-access-key-<name>`.",
         false},
        [](settings& s, const toml::node& n, const origin& at) {
          auto name = as_nonempty_string(n, at);
          if (!is_identifier(name)) at.fail("'" + name + "' is not a name (letters, digits, _)");
          s.vtiger.name = name;
        },
        [](const settings& s) { return s.vtiger.name; });
    add(
        {"vtiger.schema", key_type::string, "", "This instance's mirror schema; default `postgres.schema`.",
         false},
        [](settings& s, const toml::node& n, const origin& at) { apply_key("postgres.schema", s, n, at); },
        [](const settings& s) { return s.postgres.schema; });
    add(
        {"vtiger.modules", key_type::string_list, "", "This instance's modules; default `sync.modules`.",
         false},
        [](settings& s, const toml::node& n, const origin& at) { apply_key("sync.modules", s, n, at); },
        [](const settings& s) { return join(s.sync.modules); });
    add(
        {"vtiger.default_assigned_user_id", key_type::string, "",
         "This instance's owner for local inserts; default `sync.default_assigned_user_id`.", true},
        [](settings& s, const toml::node& n, const origin& at) {
          apply_key("sync.default_assigned_user_id", s, n, at);
        },
        [](const settings& s) { return s.sync.default_assigned_user_id; });
    add(
        {"vtiger.idempotency_field", key_type::string, "",
         "This instance's idempotency custom field; default `sync.idempotency_field`.", false},
        [](settings& s, const toml::node& n, const origin& at) {
          apply_key("sync.idempotency_field", s, n, at);
        },
        [](const settings& s) { return s.sync.idempotency_field; });

    // [postgres]
    add(
        {"postgres.conninfo",
         key_type::string,
         "",
         "libpq connection string or URI of the mirror database.",
         false,
         true,
         {},
         "VTSYNC_POSTGRES_CONNINFO"},
        [](settings& s, const toml::node& n, const origin& at) {
          s.postgres.conninfo = as_nonempty_string(n, at);
        },
        [](const settings& s) { return s.postgres.conninfo; });
    add(
        {"postgres.schema", key_type::string, "\"vtiger\"",
         "Schema of the mirror tables (`<schema>.<module>`).", false},
        [](settings& s, const toml::node& n, const origin& at) {
          auto schema = as_nonempty_string(n, at);
          if (schema == "vtsync") at.fail("'vtsync' is reserved for the daemon's internal state");
          if (schema.size() > 63) at.fail("must be at most 63 bytes");
          s.postgres.schema = schema;
        },
        [](const settings& s) { return s.postgres.schema; });
    add(
        {"postgres.statement_timeout", key_type::duration, "\"60s\"",
         "Server-side statement_timeout of the daemon's sessions.", false},
        [](settings& s, const toml::node& n, const origin& at) {
          s.postgres.statement_timeout = as_duration(n, at, 1s, 1h);
        },
        [](const settings& s) { return format_duration(s.postgres.statement_timeout); });

    // [sync]
    add(
        {"sync.modules", key_type::string_list, "",
         "Vtiger modules to mirror, e.g. [\"Contacts\", \"Accounts\"].", false, true},
        [](settings& s, const toml::node& n, const origin& at) {
          const auto* arr = n.as_array();
          if (arr == nullptr) at.fail("expected an array of module names, got " + node_type_name(n));
          if (arr->empty()) at.fail("the module list is empty: name at least one module");
          std::set<std::string> seen;
          s.sync.modules.clear();
          for (const auto& item : *arr) {
            const auto name = as_nonempty_string(item, at);
            if (!is_identifier(name)) at.fail("'" + name + "' is not a Vtiger module name");
            if (!seen.insert(name).second) at.fail("'" + name + "' is listed twice");
            s.sync.modules.push_back(name);
          }
        },
        [](const settings& s) { return join(s.sync.modules); });
    add(
        {"sync.poll_interval", key_type::duration, "\"30s\"",
         "Time between two pull cycles of a module (a little jitter is added).", true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.poll_interval = as_duration(n, at, 1s, 24h);
        },
        [](const settings& s) { return format_duration(s.sync.poll_interval); });
    add(
        {"sync.default_assigned_user_id", key_type::string, "",
         "Owner (`19xN` user or `20xN` group) for local inserts that name none; empty = the sync user.",
         true},
        [](settings& s, const toml::node& n, const origin& at) {
          auto id = as_string(n, at);
          if (!id.empty() && !is_vtiger_id(id)) at.fail("'" + id + "' is not a Vtiger id like 19x1");
          s.sync.default_assigned_user_id = id;
        },
        [](const settings& s) { return s.sync.default_assigned_user_id; });
    add(
        {"sync.conflict_policy",
         key_type::choice,
         "\"remote_wins\"",
         "Who wins when the same field changed on both sides since the last sync.",
         true,
         false,
         {"remote_wins", "local_wins", "newest_wins"}},
        [](settings& s, const toml::node& n, const origin& at) {
          const auto v = as_choice(n, at, {"remote_wins", "local_wins", "newest_wins"});
          s.sync.conflicts = v == "local_wins"    ? conflict_policy::local_wins
                             : v == "newest_wins" ? conflict_policy::newest_wins
                                                  : conflict_policy::remote_wins;
        },
        [](const settings& s) { return std::string{to_string(s.sync.conflicts)}; });
    add(
        {"sync.on_remote_delete",
         key_type::choice,
         "\"delete\"",
         "What a record deleted in Vtiger does to its row: `delete` it, or `mark` it (`_sync_state = 'deleted'`).",
         true,
         false,
         {"delete", "mark"}},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.on_remote_delete = as_choice(n, at, {"delete", "mark"}) == "mark"
                                        ? remote_delete_policy::mark
                                        : remote_delete_policy::remove;
        },
        [](const settings& s) { return std::string{to_string(s.sync.on_remote_delete)}; });
    add(
        {"sync.idempotency_field", key_type::string, "",
         "A Vtiger custom field (e.g. cf_901) where the daemon writes a key on create, so a retried create never duplicates.",
         false},
        [](settings& s, const toml::node& n, const origin& at) {
          auto f = as_string(n, at);
          if (!f.empty() && !is_identifier(f)) at.fail("'" + f + "' is not a Vtiger field name");
          s.sync.idempotency_field = f;
        },
        [](const settings& s) { return s.sync.idempotency_field; });
    add(
        {"sync.overlap", key_type::duration, "\"5s\"",
         "How far back each pull re-reads, to catch saves that committed late; unchanged rows are skipped.",
         true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.overlap = as_duration(n, at, 0ms, 1h);
        },
        [](const settings& s) { return format_duration(s.sync.overlap); });
    add(
        {"sync.deletion_scan_interval", key_type::duration, "\"15m\"",
         "How often to scan ids for remote deletions when Vtiger's `sync` operation does not work.", true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.deletion_scan_interval = as_duration(n, at, 1s, 7 * 24h);
        },
        [](const settings& s) { return format_duration(s.sync.deletion_scan_interval); });
    add(
        {"sync.max_in_flight_requests", key_type::integer, "4",
         "Global limit on concurrent web-service requests.", false},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.max_in_flight_requests = static_cast<int>(as_integer(n, at, 1, 64));
        },
        [](const settings& s) { return std::to_string(s.sync.max_in_flight_requests); });
    add(
        {"sync.backfill_parallel", key_type::integer, "1",
         "Default `--parallel` of `vtsyncd backfill`: sessions fetching id ranges at once.", true},
        [](settings& s, const toml::node& n, const origin& at) {
          s.sync.backfill_parallel = static_cast<int>(as_integer(n, at, 1, 32));
        },
        [](const settings& s) { return std::to_string(s.sync.backfill_parallel); });

    // [health]
    add(
        {"health.listen", key_type::string, "\"127.0.0.1:8089\"",
         "Address of the health endpoint (`/healthz`, `/readyz`, `/metrics`, `/status`); `[::1]:8089` for IPv6.",
         false},
        [](settings& s, const toml::node& n, const origin& at) {
          auto v = as_nonempty_string(n, at);
          if (!is_listen_address(v)) {
            at.fail("'" + v + "' is not host:port (e.g. 127.0.0.1:8089 or [::1]:8089)");
          }
          s.health.listen = v;
        },
        [](const settings& s) { return s.health.listen; });

    // [log]
    add(
        {"log.level",
         key_type::choice,
         "\"info\"",
         "Log level.",
         true,
         false,
         {"trace", "debug", "info", "warn", "error", "critical", "off"}},
        [](settings& s, const toml::node& n, const origin& at) {
          s.log.level = as_choice(n, at, {"trace", "debug", "info", "warn", "error", "critical", "off"});
        },
        [](const settings& s) { return s.log.level; });
    add(
        {"log.format",
         key_type::choice,
         "\"text\"",
         "`text` lines for a terminal or journald, `json` lines for a collector.",
         true,
         false,
         {"text", "json"}},
        [](settings& s, const toml::node& n, const origin& at) {
          s.log.format = as_choice(n, at, {"text", "json"}) == "json" ? log_format::json : log_format::text;
        },
        [](const settings& s) { return std::string{s.log.format == log_format::json ? "json" : "text"}; });
    return t;
  }();
  return table;
}

}  // namespace

const std::vector<key_spec>& key_table() {
  static const std::vector<key_spec> specs = [] {
    std::vector<key_spec> out;
    for (const auto& k : impl_table()) out.push_back(k.spec);
    return out;
  }();
  return specs;
}

environment environment::from_process() {
  environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv{*e};
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env.vars.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::optional<std::string> environment::get(const std::string& name) const {
  const auto it = vars.find(name);
  if (it == vars.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

settings load(const std::string& path, const environment& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path + ": cannot read the configuration file: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path + ": cannot read the configuration file: " + std::strerror(errno));
  return load_from_string(text.str(), path, env);
}

settings load_from_string(std::string_view toml_text, const std::string& path, const environment& env) {
  settings s;
  s.source_file = path;
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view{path});
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw config_error(path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                       ": invalid TOML: " + std::string{e.description()});
  }

  const auto& table = impl_table();
  // Unknown sections and keys are errors: a typo must never silently fall back to a default.
  const auto* instance_array = root["vtiger"].as_array();
  for (const auto& [section_key, section_node] : root) {
    const std::string section{section_key.str()};
    if (section == "vtiger" && instance_array != nullptr) {
      if (instance_array->empty()) throw config_error(path + ":vtiger: the [[vtiger]] list is empty");
      for (std::size_t i = 0; i < instance_array->size(); ++i) {
        const auto* element = instance_array->get(i)->as_table();
        const std::string where = "vtiger[" + std::to_string(i) + "]";
        if (element == nullptr) throw config_error(concat(path, ":", where, ": expected a [[vtiger]] table"));
        for (const auto& [key, node] : *element) {
          const std::string full = "vtiger." + std::string{key.str()};
          bool known = false;
          for (const auto& k : table) known = known || k.spec.name == full;
          if (!known) throw config_error(concat(path, ":", where, ".", key.str(), ": unknown key"));
        }
      }
      continue;
    }
    const auto* section_table = section_node.as_table();
    bool known_section = false;
    for (const auto& k : table) known_section = known_section || k.spec.name.rfind(section + ".", 0) == 0;
    if (!known_section || section_table == nullptr) {
      throw config_error(concat(path, ":", section, ": unknown ", section_table ? "section" : "key",
                                " (sections are [vtiger], [postgres], [sync], [health], [log])"));
    }
    for (const auto& [key, node] : *section_table) {
      const std::string full = section + "." + std::string{key.str()};
      bool known = false;
      for (const auto& k : table) known = known || k.spec.name == full;
      if (!known) throw config_error(concat(path, ":", full, ": unknown key"));
    }
  }

  // Everything but [vtiger] first: an instance's keys override [postgres] and [sync] ones.
  auto is_instance_key = [](const key_impl& k) { return k.spec.name.rfind("vtiger.", 0) == 0; };
  for (const auto& k : table) {
    if (is_instance_key(k)) continue;
    const origin at{path, k.spec.name};
    const auto* node = root.at_path(k.spec.name).node();
    if (node != nullptr) k.apply(s, *node, at);
  }
  std::vector<settings> instances;
  if (instance_array == nullptr) {
    for (const auto& k : table) {
      if (!is_instance_key(k)) continue;
      const origin at{path, k.spec.name};
      const auto* node = root.at_path(k.spec.name).node();
      if (node != nullptr) k.apply(s, *node, at);
    }
  } else {
    for (std::size_t i = 0; i < instance_array->size(); ++i) {
      const auto& element = *instance_array->get(i)->as_table();
      settings one = s;
      one.vtiger = vtiger_settings{};
      const std::string where = "vtiger[" + std::to_string(i) + "]";
      for (const auto& k : table) {
        if (!is_instance_key(k)) continue;
        const std::string key_name = where + k.spec.name.substr(6);
        const origin at{path, key_name};
        const auto* node = element.get(k.spec.name.substr(7));
        if (node != nullptr) k.apply(one, *node, at);
      }
      if (!element.contains("name"))
        throw config_error(concat(path, ":", where, ".name: missing: each [[vtiger]] needs a name"));
      if (!element.contains("schema"))
        throw config_error(
            concat(path, ":", where, ".schema: missing: each [[vtiger]] needs its own schema"));
      for (const auto& required : {"url", "username"}) {
        if (!element.contains(required))
          throw config_error(concat(path, ":", where, ".", required, ": missing: this key is required"));
      }
      resolve_access_key(one.vtiger, "vtiger-access-key-" + one.vtiger.name, nullptr, env, path, where);
      if (one.sync.modules.empty())
        throw config_error(concat(path, ":", where, ".modules: missing: no modules (here or in [sync])"));
      for (const auto& other : instances) {
        if (other.vtiger.name == one.vtiger.name)
          throw config_error(concat(path, ":", where, ".name: '", one.vtiger.name, "' is used twice"));
        if (other.postgres.schema == one.postgres.schema)
          throw config_error(concat(path, ":", where, ".schema: '", one.postgres.schema,
                                    "' is already the schema of instance '", other.vtiger.name, "'"));
      }
      instances.push_back(std::move(one));
    }
    // The first instance stands for the whole file where one is expected (check, status, call, ...).
    s.vtiger = instances.front().vtiger;
    s.postgres.schema = instances.front().postgres.schema;
    s.sync.modules = instances.front().sync.modules;
    s.sync.default_assigned_user_id = instances.front().sync.default_assigned_user_id;
    s.sync.idempotency_field = instances.front().sync.idempotency_field;
  }

  // Environment overrides and credentials, after the file.
  if (auto conninfo = env.get("VTSYNC_POSTGRES_CONNINFO")) {
    s.postgres.conninfo = *conninfo;
    for (auto& one : instances) one.postgres.conninfo = *conninfo;
  }
  if (instance_array != nullptr) {
    // Each [[vtiger]] was resolved above; the file-wide rules apply to the rest.
  } else {
    resolve_access_key(s.vtiger, "vtiger-access-key", "VTSYNC_VTIGER_ACCESS_KEY", env, path, "vtiger");
  }

  for (const auto& k : table) {
    if (!k.spec.required) continue;
    if (k.show(s).empty()) {
      std::string hint = k.spec.env_override.empty() ? "" : " (or set " + k.spec.env_override + ")";
      throw config_error(concat(path, ":", k.spec.name, ": missing: this key is required", hint));
    }
  }
  if (instance_array == nullptr) instances.push_back(s);
  s.instances = std::move(instances);
  return s;
}

std::vector<std::string> restart_required_changes(const settings& before, const settings& after) {
  std::vector<std::string> out;
  for (const auto& k : impl_table()) {
    if (!k.spec.reloadable && k.show(before) != k.show(after)) out.push_back(k.spec.name);
  }
  return out;
}

std::string render_reference_markdown() {
  std::string out = "| key | type | default | reload | description |\n|---|---|---|---|---|\n";
  for (const auto& k : key_table()) {
    std::string type;
    switch (k.type) {
      case key_type::string:
        type = "string";
        break;
      case key_type::boolean:
        type = "boolean";
        break;
      case key_type::duration:
        type = "duration";
        break;
      case key_type::integer:
        type = "integer";
        break;
      case key_type::number:
        type = "number";
        break;
      case key_type::string_list:
        type = "list of strings";
        break;
      case key_type::path:
        type = "path";
        break;
      case key_type::choice: {
        for (const auto& c : k.choices) type += (type.empty() ? "" : " \\| ") + ("`" + c + "`");
        break;
      }
    }
    std::string def = k.required ? "required" : (k.default_text.empty() ? "—" : "`" + k.default_text + "`");
    std::string desc = k.description;
    if (!k.env_override.empty()) desc += " Env `" + k.env_override + "` overrides.";
    append(out, "| `", k.name, "` | ", type, " | ", def, " | ", k.reloadable ? "SIGHUP" : "restart", " | ",
           desc, " |\n");
  }
  return out;
}

std::string render_sample_toml() {
  std::string out =
      "# vtsync configuration (/etc/vtsync/vtsync.toml). Every key is listed; commented ones show defaults.\n";
  std::string section;
  for (const auto& k : key_table()) {
    const auto dot = k.name.find('.');
    const auto sec = k.name.substr(0, dot);
    const auto key = k.name.substr(dot + 1);
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += "# " + k.description + "\n";
    std::string example = k.default_text;
    if (k.name == "vtiger.url") example = "\"https://crm.example.com\"";
    if (k.name == "vtiger.username") example = "\"sync\"";
    if (k.name == "vtiger.access_key_file") example = "\"/etc/vtsync/vtiger-access-key\"";
    if (k.name == "vtiger.access_key") example = "\"...\"";
    if (k.name == "vtiger.ca_file") example = "\"/etc/vtsync/ca.pem\"";
    if (k.name == "postgres.conninfo") example = "\"postgresql:///vtsync\"";
    if (k.name == "sync.modules") example = "[\"Contacts\", \"Accounts\"]";
    if (k.name == "sync.default_assigned_user_id") example = "\"19x1\"";
    if (k.name == "sync.idempotency_field") example = "\"cf_901\"";
    if (k.name == "vtiger.schema") example = "\"vtiger\"";
    if (k.name == "vtiger.modules") example = "[\"Contacts\", \"Accounts\"]";
    if (k.name == "vtiger.default_assigned_user_id") example = "\"19x1\"";
    if (k.name == "vtiger.idempotency_field") example = "\"cf_901\"";
    const bool active = k.required;
    append(out, active ? "" : "# ", key, " = ", example, "\n");
  }
  out +=
      "\n# Several Vtiger instances: instead of the one [vtiger] table above, one [[vtiger]] table each, with\n"
      "# its own name, schema and modules (any vtiger.* key; [postgres] and [sync] give the defaults):\n"
      "# [[vtiger]]\n"
      "# name = \"eu\"\n"
      "# url = \"https://eu.crm.example.com\"\n"
      "# username = \"sync\"\n"
      "# (its key: the credential or file vtiger-access-key-eu, or access_key_file)\n"
      "# schema = \"vtiger_eu\"\n"
      "# modules = [\"Contacts\"]\n"
      "#\n"
      "# [[vtiger]]\n"
      "# name = \"us\"\n"
      "# url = \"https://us.crm.example.com\"\n"
      "# username = \"sync\"\n"
      "# (its key: the credential or file vtiger-access-key-us, or access_key_file)\n"
      "# schema = \"vtiger_us\"\n";
  return out;
}

std::string_view to_string(conflict_policy p) {
  switch (p) {
    case conflict_policy::local_wins:
      return "local_wins";
    case conflict_policy::newest_wins:
      return "newest_wins";
    default:
      return "remote_wins";
  }
}

std::string_view to_string(remote_delete_policy p) {
  return p == remote_delete_policy::mark ? "mark" : "delete";
}

}  // namespace vtsync::config

#include "config_to_options.hpp"

namespace vtsync::daemon {

storage::connection_options connection_options_from(const config::settings& s) {
  storage::connection_options o;
  o.conninfo = s.postgres.conninfo;
  o.statement_timeout = s.postgres.statement_timeout;
  o.call_timeout = s.postgres.statement_timeout + std::chrono::seconds{5};
  return o;
}

storage::state_options state_options_from(const config::settings& s) {
  storage::state_options o;
  o.mirror_schema = s.postgres.schema;
  o.vtiger_timezone = s.vtiger.server_timezone;
  return o;
}

vtiger::client_options client_options_from(const config::settings& s) {
  vtiger::client_options o;
  o.url = s.vtiger.url;
  o.username = s.vtiger.username;
  o.access_key = s.vtiger.access_key;
  o.timeout = s.vtiger.timeout;
  o.verify_tls = s.vtiger.verify_tls;
  o.ca_file = s.vtiger.ca_file;
  o.max_requests_per_second = s.vtiger.max_requests_per_second;
  return o;
}

sync::pull_settings pull_settings_from(const config::settings& s, const std::string& module) {
  const auto scope = s.sync.scope_of(module);
  sync::pull_settings p;
  p.overlap = std::chrono::duration_cast<std::chrono::seconds>(s.sync.overlap);
  p.filter = scope.filter;
  p.select_columns = !scope.fields.empty() || !scope.exclude_fields.empty();
  p.related = scope.related;
  for (const auto& m : s.sync.modules)
    if (m != module)
      for (const auto& label : s.sync.scope_of(m).related) p.related_elsewhere.emplace_back(m, label);
  p.on_remote_delete = scope.on_remote_delete == config::remote_delete_policy::mark
                           ? storage::remote_delete::mark
                           : storage::remote_delete::remove;
  using D = config::deletion_detection;
  p.deletions = s.sync.deletions == D::count  ? sync::deletion_method::count
                : s.sync.deletions == D::sync ? sync::deletion_method::sync
                : s.sync.deletions == D::scan ? sync::deletion_method::scan
                                              : sync::deletion_method::automatic;
  p.scan_interval = s.sync.deletion_scan_interval;
  return p;
}

sync::table_scope table_scope_from(const config::settings& s, const std::string& module) {
  const auto scope = s.sync.scope_of(module);
  sync::table_scope t;
  t.pull_only = scope.direction == config::sync_direction::pull_only;
  t.fields = scope.fields;
  t.exclude_fields = scope.exclude_fields;
  t.related = scope.related;
  for (const auto& m : s.sync.modules)
    t.related_elsewhere = t.related_elsewhere || (m != module && !s.sync.scope_of(m).related.empty());
  return t;
}

namespace {

sync::conflict_policy engine_policy(config::conflict_policy c) {
  return c == config::conflict_policy::local_wins    ? sync::conflict_policy::local_wins
         : c == config::conflict_policy::newest_wins ? sync::conflict_policy::newest_wins
                                                     : sync::conflict_policy::remote_wins;
}

}  // namespace

sync::push_settings push_settings_from(const config::settings& s) {
  sync::push_settings p;
  p.default_assigned_user_id = s.sync.default_assigned_user_id;
  p.idempotency_field = s.sync.idempotency_field;
  p.conflicts = engine_policy(s.sync.conflicts);
  for (const auto& [module, m] : s.sync.per_module) {
    if (m.conflicts) p.module_conflicts[module] = engine_policy(*m.conflicts);
  }
  p.outbox_retention = s.sync.outbox_retention;
  p.prune_interval = std::min<std::chrono::milliseconds>(std::chrono::minutes{1}, s.sync.outbox_retention);
  return p;
}

void take_reloadable(config::settings& running, const config::settings& next, bool one_of_several) {
  running.log = next.log;
  // Every [sync] key of `next` but the two that need a restart (config::restart_required_changes names
  // them). Those all instances share come from the file's [sync] (with [[vtiger]] tables: as the first
  // instance has them).
  auto sync = next.sync;
  sync.idempotency_field = std::move(running.sync.idempotency_field);
  sync.max_in_flight_requests = running.sync.max_in_flight_requests;
  sync.per_module = std::move(running.sync.per_module);  // [modules.*]: the mirror's shape, at start only
  if (one_of_several) {
    sync.default_assigned_user_id = running.sync.default_assigned_user_id;
    sync.modules = running.sync.modules;  // an instance that left the file keeps its modules
    for (const auto& one : next.instances) {
      if (one.vtiger.name == running.vtiger.name) {
        sync.default_assigned_user_id = one.sync.default_assigned_user_id;
        sync.modules = one.sync.modules;
      }
    }
  }
  running.sync = std::move(sync);
}

}  // namespace vtsync::daemon

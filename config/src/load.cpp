// The loader: TOML text -> settings. Parses the file, rejects unknown sections and keys, applies the key
// table (file-wide keys, then the single [vtiger] table or each [[vtiger]] instance), then the environment
// overrides and access keys, and checks the required keys. Errors are config_error "file:key: problem".
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "access_key.hpp"
#include "key_table.hpp"
#include "reading.hpp"
#include "vtsync/config/config.hpp"

namespace vtsync::config {

namespace {

using detail::concat;
using detail::impl_table;
using detail::is_instance_key;
using detail::key_impl;
using detail::origin;

toml::table parse_toml(std::string_view toml_text, const std::string& path) {
  try {
    return toml::parse(toml_text, std::string_view{path});
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw config_error(path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                       ": invalid TOML: " + std::string{e.description()});
  }
}

// Every key of `table` must be a key of `section` in the key table; `where` names the table in messages.
void check_keys(const toml::table& table, const std::string& section, const std::string& where,
                const std::string& path) {
  for (const auto& [key, node] : table) {
    const std::string full = section + "." + std::string{key.str()};
    bool known = false;
    for (const auto& k : impl_table()) known = known || k.spec.name == full;
    if (!known) throw config_error(concat(path, ":", where, ".", key.str(), ": unknown key"));
  }
}

// Unknown sections and keys are errors: a typo must never silently fall back to a default.
void check_structure(const toml::table& root, const toml::array* instance_array, const std::string& path) {
  for (const auto& [section_key, section_node] : root) {
    const std::string section{section_key.str()};
    if (section == "vtiger" && instance_array != nullptr) {
      if (instance_array->empty()) throw config_error(path + ":vtiger: the [[vtiger]] list is empty");
      for (std::size_t i = 0; i < instance_array->size(); ++i) {
        const auto* element = instance_array->get(i)->as_table();
        const std::string where = "vtiger[" + std::to_string(i) + "]";
        if (element == nullptr) throw config_error(concat(path, ":", where, ": expected a [[vtiger]] table"));
        check_keys(*element, "vtiger", where, path);
      }
      continue;
    }
    const auto* section_table = section_node.as_table();
    if (section == "modules" && section_table != nullptr) {
      for (const auto& [module, module_node] : *section_table) {
        const std::string where = concat("modules.", module.str());
        const auto* module_table = module_node.as_table();
        if (module_table == nullptr)
          throw config_error(concat(path, ":", where, ": expected a table ([modules.", module.str(), "])"));
        for (const auto& [key, node] : *module_table) {
          bool known = false;
          for (const auto& k : impl_table())
            known = known || (detail::is_module_key(k) &&
                              k.spec.name.substr(detail::module_key_prefix.size()) == key.str());
          if (!known) throw config_error(concat(path, ":", where, ".", key.str(), ": unknown key"));
        }
      }
      continue;
    }
    bool known_section = false;
    for (const auto& k : impl_table())
      known_section = known_section || k.spec.name.rfind(section + ".", 0) == 0;
    if (!known_section || section_table == nullptr) {
      throw config_error(
          concat(path, ":", section, ": unknown ", section_table ? "section" : "key",
                 " (sections are [vtiger], [postgres], [sync], [modules.<Module>], [health], [log])"));
    }
    check_keys(*section_table, section, section, path);
  }
}

// Applies the keys of the file's own sections: the per-instance (vtiger.*) ones or all the others but the
// [modules.<Module>] ones.
void apply_file_keys(settings& s, const toml::table& root, bool instance_keys, const std::string& path) {
  for (const auto& k : impl_table()) {
    if (is_instance_key(k) != instance_keys || detail::is_module_key(k)) continue;
    const origin at{path, k.spec.name};
    if (const auto* node = root.at_path(k.spec.name).node()) k.apply(s, *node, at);
  }
}

// One [[vtiger]] table (the i-th) over the file-wide settings, checked against the instances before it.
settings load_instance(const settings& file_wide, const toml::table& element, std::size_t i,
                       const std::vector<settings>& earlier, const environment& env,
                       const std::string& path) {
  settings one = file_wide;
  one.vtiger = vtiger_settings{};
  const std::string where = "vtiger[" + std::to_string(i) + "]";
  for (const auto& k : impl_table()) {
    if (!is_instance_key(k)) continue;
    const std::string key_name = where + k.spec.name.substr(6);
    const origin at{path, key_name};
    if (const auto* node = element.get(k.spec.name.substr(7))) k.apply(one, *node, at);
  }
  if (!element.contains("name"))
    throw config_error(concat(path, ":", where, ".name: missing: each [[vtiger]] needs a name"));
  if (!element.contains("schema"))
    throw config_error(concat(path, ":", where, ".schema: missing: each [[vtiger]] needs its own schema"));
  for (const auto& required : {"url", "username"}) {
    if (!element.contains(required))
      throw config_error(concat(path, ":", where, ".", required, ": missing: this key is required"));
  }
  detail::resolve_access_key(one.vtiger, "vtiger-access-key-" + one.vtiger.name, nullptr, env, path, where);
  if (one.sync.modules.empty())
    throw config_error(concat(path, ":", where, ".modules: missing: no modules (here or in [sync])"));
  for (const auto& other : earlier) {
    if (other.vtiger.name == one.vtiger.name)
      throw config_error(concat(path, ":", where, ".name: '", one.vtiger.name, "' is used twice"));
    if (other.postgres.schema == one.postgres.schema)
      throw config_error(concat(path, ":", where, ".schema: '", one.postgres.schema,
                                "' is already the schema of instance '", other.vtiger.name, "'"));
  }
  return one;
}

// The [modules.<Module>] tables, once every module list is known: each names a synced module and holds
// the keys of the table's modules.<Module>.* rows.
void apply_module_tables(settings& s, const toml::table& root, const std::vector<settings>& instances,
                         const std::string& path) {
  const auto* modules = root["modules"].as_table();
  if (modules == nullptr) return;
  for (const auto& [name_key, node] : *modules) {
    const std::string module{name_key.str()};
    const std::string where = "modules." + module;
    bool synced = false;
    for (const auto& one : instances)
      synced = synced ||
               std::find(one.sync.modules.begin(), one.sync.modules.end(), module) != one.sync.modules.end();
    if (!synced)
      throw config_error(concat(path, ":", where, ": '", module,
                                "' is not in sync.modules (a module's table ",
                                "needs the module to be synced)"));
    s.sync.per_module[module];  // an empty table is a module with [sync]'s defaults
    for (const auto& k : impl_table()) {
      if (!detail::is_module_key(k)) continue;
      const std::string key = where + "." + k.spec.name.substr(detail::module_key_prefix.size());
      const origin at{path, key};
      if (const auto* value = root.at_path(key).node()) k.apply(s, *value, at);
    }
    const auto& m = s.sync.per_module[module];
    if (!m.fields.empty() && !m.exclude_fields.empty())
      throw config_error(
          concat(path, ":", where, ".exclude_fields: set either fields or exclude_fields, not both"));
  }
}

}  // namespace

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
  const toml::table root = parse_toml(toml_text, path);
  const auto* instance_array = root["vtiger"].as_array();
  check_structure(root, instance_array, path);

  // Everything but [vtiger] first: an instance's keys override [postgres] and [sync] ones.
  apply_file_keys(s, root, false, path);
  std::vector<settings> instances;
  if (instance_array == nullptr) {
    apply_file_keys(s, root, true, path);
  } else {
    for (std::size_t i = 0; i < instance_array->size(); ++i) {
      instances.push_back(load_instance(s, *instance_array->get(i)->as_table(), i, instances, env, path));
    }
    // The first instance stands for the whole file where one is expected (check, status, call, ...).
    s.vtiger = instances.front().vtiger;
    s.postgres.schema = instances.front().postgres.schema;
    s.sync.modules = instances.front().sync.modules;
    s.sync.default_assigned_user_id = instances.front().sync.default_assigned_user_id;
    s.sync.idempotency_field = instances.front().sync.idempotency_field;
  }

  // Environment overrides and credentials, after the file (each [[vtiger]] was resolved above).
  if (auto conninfo = env.get("VTSYNC_POSTGRES_CONNINFO")) {
    s.postgres.conninfo = *conninfo;
    for (auto& one : instances) one.postgres.conninfo = *conninfo;
  }
  if (instance_array == nullptr) {
    detail::resolve_access_key(s.vtiger, "vtiger-access-key", "VTSYNC_VTIGER_ACCESS_KEY", env, path,
                               "vtiger");
  }

  for (const key_impl& k : impl_table()) {
    if (!k.spec.required) continue;
    if (k.show(s).empty()) {
      std::string hint = k.spec.env_override.empty() ? "" : " (or set " + k.spec.env_override + ")";
      throw config_error(concat(path, ":", k.spec.name, ": missing: this key is required", hint));
    }
  }
  if (instance_array == nullptr) instances.push_back(s);
  apply_module_tables(s, root, instances, path);
  for (auto& one : instances) one.sync.per_module = s.sync.per_module;
  s.instances = std::move(instances);
  return s;
}

}  // namespace vtsync::config

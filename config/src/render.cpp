// The documentation generated from the key table: the README's configuration reference (Markdown) and the
// sample configuration file (config/vtsync.toml.example); scripts/update-docs writes both.
#include <string_view>

#include "reading.hpp"
#include "vtsync/config/config.hpp"

namespace vtsync::config {

namespace {

using detail::append;
using detail::named;

constexpr named<key_type> key_type_names[] = {
    {key_type::string, "string"},     {key_type::boolean, "boolean"},
    {key_type::duration, "duration"}, {key_type::integer, "integer"},
    {key_type::number, "number"},     {key_type::string_list, "list of strings"},
    {key_type::path, "path"},
};

// The value the sample shows for a key whose default is empty (or none): a plausible one to edit.
constexpr struct {
  std::string_view key, value;
} sample_values[] = {
    {"vtiger.url", "\"https://crm.example.com\""},
    {"vtiger.username", "\"sync\""},
    {"vtiger.access_key_file", "\"/etc/vtsync/vtiger-access-key\""},
    {"vtiger.access_key", "\"...\""},
    {"vtiger.ca_file", "\"/etc/vtsync/ca.pem\""},
    {"postgres.conninfo", "\"postgresql:///vtsync\""},
    {"sync.modules", "[\"Contacts\", \"Accounts\"]"},
    {"sync.default_assigned_user_id", "\"19x1\""},
    {"sync.idempotency_field", "\"cf_901\""},
    {"vtiger.schema", "\"vtiger\""},
    {"vtiger.modules", "[\"Contacts\", \"Accounts\"]"},
    {"vtiger.default_assigned_user_id", "\"19x1\""},
    {"vtiger.idempotency_field", "\"cf_901\""},
    {"modules.<Module>.fields", "[\"firstname\", \"lastname\", \"email\", \"mailingcountry\"]"},
    {"modules.<Module>.exclude_fields", "[\"description\"]"},
    {"modules.<Module>.filter", "\"mailingcountry = 'Germany'\""},
    {"modules.<Module>.conflict_policy", "\"local_wins\""},
    {"modules.<Module>.on_remote_delete", "\"mark\""},
};

std::string type_text(const key_spec& k) {
  if (k.type != key_type::choice) return std::string{detail::name_of(key_type_names, k.type)};
  std::string type;
  for (const auto& c : k.choices) type += (type.empty() ? "" : " \\| ") + ("`" + c + "`");
  return type;
}

std::string sample_value(const key_spec& k) {
  for (const auto& [key, value] : sample_values) {
    if (key == k.name) return std::string{value};
  }
  return k.default_text;
}

}  // namespace

std::string render_reference_markdown() {
  std::string out = "| key | type | default | reload | description |\n|---|---|---|---|---|\n";
  for (const auto& k : key_table()) {
    std::string def = k.required ? "required" : (k.default_text.empty() ? "—" : "`" + k.default_text + "`");
    std::string desc = k.description;
    if (!k.env_override.empty()) desc += " Env `" + k.env_override + "` overrides.";
    append(out, "| `", k.name, "` | ", type_text(k), " | ", def, " | ", k.reloadable ? "SIGHUP" : "restart",
           " | ", desc, " |\n");
  }
  return out;
}

std::string render_sample_toml() {
  std::string out =
      "# vtsync configuration (/etc/vtsync/vtsync.toml). Every key is listed; commented ones show defaults.\n";
  std::string section;
  for (const auto& k : key_table()) {
    const auto dot = k.name.rfind('.');
    auto sec = k.name.substr(0, dot);
    const auto key = k.name.substr(dot + 1);
    const auto placeholder = sec.find("<Module>");
    if (sec != section) {
      if (placeholder == std::string::npos) {
        out += "\n[" + sec + "]\n";
      } else {
        // One optional table per module; the sample shows one for Contacts, commented out.
        out +=
            "\n# Per-module settings: an optional table for any module of sync.modules; [sync] gives the "
            "defaults.\n# [" +
            sec.replace(placeholder, 8, "Contacts") + "]\n";
      }
      section = k.name.substr(0, dot);
    }
    out += "# " + k.description + "\n";
    const bool active = k.required;
    append(out, active ? "" : "# ", key, " = ", sample_value(k), "\n");
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

}  // namespace vtsync::config

#pragma once
// The key table's full rows: each public key_spec with how it is read into settings (apply) and how its
// value compares between two settings (show). load(), restart_required_changes() and key_table() all walk
// this one table.
#include <functional>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "reading.hpp"
#include "vtsync/config/config.hpp"

namespace vtsync::config::detail {

struct key_impl {
  key_spec spec;
  std::function<void(settings&, const toml::node&, const origin&)> apply;  // validates; throws config_error
  std::function<std::string(const settings&)> show;  // for change detection; never shown to users
};

// Every key in the documented order: [vtiger] (the per-instance keys last), [postgres], [sync], [health],
// [log].
[[nodiscard]] const std::vector<key_impl>& impl_table();

// A key a [[vtiger]] table may hold (vtiger.*).
[[nodiscard]] bool is_instance_key(const key_impl& k);

// A key of a [modules.<Module>] table: its name is module_key_prefix + the key's own name.
inline constexpr std::string_view module_key_prefix = "modules.<Module>.";
[[nodiscard]] bool is_module_key(const key_impl& k);

}  // namespace vtsync::config::detail

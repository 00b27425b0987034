#pragma once
// The one place where the configuration becomes the options of the libraries: PostgreSQL connections and
// the state schema (storage), the Vtiger client (sync/vtiger), the pull and the push (sync/engine). The
// libraries never read the configuration themselves. Also which keys a reload (SIGHUP) of `vtsyncd run`
// takes from the new file.
#include "vtsync/config/config.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/mirror_rows.hpp"
#include "vtsync/storage/state.hpp"
#include "vtsync/sync/engine/pull.hpp"
#include "vtsync/sync/engine/push.hpp"
#include "vtsync/sync/vtiger/options.hpp"

namespace vtsync::daemon {

[[nodiscard]] storage::connection_options connection_options_from(const config::settings& s);
[[nodiscard]] storage::state_options state_options_from(const config::settings& s);
// Client options from the [vtiger] section (verify_tls = false is warned about loudly by the client).
[[nodiscard]] vtiger::client_options client_options_from(const config::settings& s);
// The pull of `module`: [sync] with its [modules.<Module>] table over it.
[[nodiscard]] sync::pull_settings pull_settings_from(const config::settings& s, const std::string& module);
// What of `module` becomes its mirror table ([modules.<Module>]: direction, fields, exclude_fields).
[[nodiscard]] sync::table_scope table_scope_from(const config::settings& s, const std::string& module);
[[nodiscard]] sync::push_settings push_settings_from(const config::settings& s);

// A reload: `next`'s [log] and the [sync] keys that take effect at once into the running settings; the
// keys that need a restart keep their running values. `one_of_several`: `running` is one of several
// Vtiger instances ([[vtiger]] tables), whose default_assigned_user_id and modules are its own table's.
// sync.modules is taken too: the caller starts the pulls of added modules and stops the removed ones.
void take_reloadable(config::settings& running, const config::settings& next, bool one_of_several);

}  // namespace vtsync::daemon

#pragma once
// Where an instance's Vtiger access key comes from, once the file is read: the environment, the file's own
// access_key or access_key_file, the service's credential, or the credential file beside the configuration.
// Failures throw config_error naming the file and key, never the secret.
#include <string>

#include "vtsync/config/config.hpp"

namespace vtsync::config::detail {

// The access key of one instance, the first of: the environment (`env_name`, single instance only),
// `access_key`, `access_key_file`, `$CREDENTIALS_DIRECTORY/<credential>` (the service: LoadCredential=), and
// `<credential>` beside the configuration file (root running `vtsyncd check` by hand: the file the credential
// is loaded from). A file that exists but cannot be read is an error naming it, never a silent fall-through.
// `path` is the configuration file, `where` the table in it ("vtiger", "vtiger[1]") for messages.
void resolve_access_key(vtiger_settings& v, const std::string& credential, const char* env_name,
                        const environment& env, const std::string& path, const std::string& where);

}  // namespace vtsync::config::detail

#pragma once
// Root running a vtsyncd command by hand takes the service's identity, so that `vtsyncd check`, `status`,
// `backfill`, ... reach the same PostgreSQL role as vtsyncd.service (peer authentication maps the OS user
// to the role of the same name) and touch nothing the service could not.
//
// The package creates the system user "vtsyncd" (sysusers.d); both units run as it (User=vtsyncd with
// DynamicUser=yes: systemd uses the static user and keeps the sandbox that DynamicUser implies). The
// configuration and the access key are read first, as root (the key file is root's, mode 0600); then the
// process drops to that user for good. Nothing happens when the process is not root, or when no such user
// exists (a development machine). VTSYNC_SERVICE_USER names another user; set it empty to stay root.
namespace vtsync::daemon {

// Throws std::runtime_error when the switch was due but failed (never continues as root by accident).
void become_service_user();

}  // namespace vtsync::daemon

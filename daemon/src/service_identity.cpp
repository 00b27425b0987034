#include "service_identity.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vtsync::daemon {

void become_service_user() {
  if (::geteuid() != 0) return;
  const char* configured = std::getenv("VTSYNC_SERVICE_USER");
  const std::string name = configured != nullptr ? configured : "vtsyncd";
  if (name.empty()) return;
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) return;  // no service user on this machine: stay who we are
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const auto fail = [&name](const char* step) {
    throw std::runtime_error("cannot switch to the service user '" + name + "' (" + step +
                             "): " + std::strerror(errno));
  };
  if (::initgroups(name.c_str(), gid) != 0) fail("initgroups");
  if (::setgid(gid) != 0) fail("setgid");
  if (::setuid(uid) != 0) fail("setuid");
  if (::geteuid() != uid || ::setuid(0) == 0) fail("verify");  // root must be gone for good
  ::setenv("USER", name.c_str(), 1);
  ::setenv("LOGNAME", name.c_str(), 1);
  ::setenv("HOME", pw->pw_dir != nullptr ? pw->pw_dir : "/", 1);
}

}  // namespace vtsync::daemon

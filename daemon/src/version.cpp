#include "vtsync/daemon/version.hpp"

namespace vtsync::daemon {

std::string_view version() { return VTSYNC_VERSION; }

}  // namespace vtsync::daemon

#pragma once
// What `vtsyncd run` tells its health endpoint (run_status.cpp): /readyz, /status, /metrics and the
// operator page (operator_page.hpp).
#include "run_state.hpp"
#include "vtsync/daemon/health_server.hpp"

namespace vtsync::daemon {

// The health endpoint's providers, reading `run` (which must outlive the server).
[[nodiscard]] health_state health_of(run_state& run);

}  // namespace vtsync::daemon

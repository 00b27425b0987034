#pragma once
// One module's pull in `vtsyncd run` (pull_loop.cpp).
#include <boost/asio/awaitable.hpp>
#include <string>

#include "run_state.hpp"

namespace vtsync::daemon {

// Pulls `module` of `inst` under its lease until run.stopping; reports to run.modules["<prefix><module>"].
boost::asio::awaitable<void> pull_loop(run_state& run, instance& inst, std::string module);

}  // namespace vtsync::daemon

#pragma once
// One instance's push in `vtsyncd run` (push_loop.cpp).
#include <boost/asio/awaitable.hpp>

#include "run_state.hpp"

namespace vtsync::daemon {

// Pushes the local changes of `inst` under its push lease until run.stopping; inst.pusher is the engine
// while it runs (a stop request stops it).
boost::asio::awaitable<void> push_loop(run_state& run, instance& inst);

}  // namespace vtsync::daemon

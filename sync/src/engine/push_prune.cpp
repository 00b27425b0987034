// Keeping the outbox small (push.hpp: push_settings::outbox_retention).
#include <spdlog/spdlog.h>

#include "vtsync/sync/engine/push.hpp"

namespace vtsync::sync {

namespace asio = boost::asio;

asio::awaitable<void> pusher::maybe_prune() {
  const auto now = std::chrono::steady_clock::now();
  if (last_prune_ && now - *last_prune_ < settings_.prune_interval) co_return;
  last_prune_ = now;
  const auto pruned = co_await outbox_.prune_done(settings_.outbox_retention);
  if (pruned > 0) spdlog::debug("push: pruned {} done outbox entries older than the retention", pruned);
}

}  // namespace vtsync::sync

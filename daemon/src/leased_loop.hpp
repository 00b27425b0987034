#pragma once
// The one loop of `vtsyncd run` for work done under a lease (storage/lease.hpp): every module's pull and
// every instance's push.
//
// High availability: the lease is a PostgreSQL session-level advisory lock, held on the very connection
// the work then writes on (opened with reconnect = false). Any number of daemons may run one configuration
// against one database: the holder works, the others are hot standbys that try the lock again every
// retry interval (half a poll interval, at most 5 s: lease_retry_interval). A holder that loses its
// connection loses the lock with it and cannot write any more; it goes back to standby. The next holder
// starts from the committed cursor, and puts the outbox entries the old holder left in flight back to
// pending (the push engine's start-up path: creates are looked up through the idempotency field before
// being sent again).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "runtime.hpp"

namespace vtsync::daemon {

// One lease as this daemon last saw it; /readyz and /status read it.
struct lease_state {
  bool held = false;   // this daemon holds the lease and works it
  std::string holder;  // who holds the lease ("host:pid"), "" when unknown or nobody
  std::optional<std::chrono::system_clock::time_point> checked;  // last time it was held or found taken
};

// How one turn of the work ended: the lease is still held, or its connection (and with it the lease) is
// gone or may be.
enum class turn_end { kept, lost };

// What leased_loop needs to know. The functions run on the loop's thread; those returning awaitables are
// awaited at once.
struct leased_work {
  std::int64_t key = 0;     // storage::lease_key
  std::string identity;     // this process, "host:pid" (storage::process_identity)
  std::string name;         // in the log lines: "module=Contacts", "push", "eu/push"
  std::string holder_does;  // the log line's end after "lease acquired: <identity>", e.g. "works it now"
  lease_state* state = nullptr;
  // Opens the lease's connection (open_lease_db).
  std::function<boost::asio::awaitable<db_session>()> open;
  // Optional: on that connection before each try for the lease (the pull prepares its mirror table).
  std::function<boost::asio::awaitable<void>(db_session&)> prepare;
  // One turn of the work while the lease is held: the pull's cycle; the push until stop or a lost
  // connection. If it throws, the connection (and the lease) is given up as after `lost`, and `failed`
  // says how long to wait.
  std::function<boost::asio::awaitable<turn_end>(db_session&)> turn;
  // Optional: the pause after each turn (also after one that lost the lease); none: the next turn at once.
  std::function<std::chrono::milliseconds()> pause;
  // Reports an error (`attempt`: errors since the start or since the lease was last lost) and returns how
  // long to wait before trying again. A storage::pg_error also gives up the connection and the lease.
  std::function<std::chrono::milliseconds(const std::exception&, int attempt)> failed;
  std::function<std::chrono::milliseconds()> retry_interval;  // between two tries of a standby
  std::function<bool()> stopping;
  boost::asio::steady_timer* sleeper = nullptr;  // the sleeps' timer, which a stop cancels; null: none
};

// Until `stopping()`: opens the connection, tries the lease (standby until it is free), runs turn after
// turn while it is held, back to standby when it is lost. Ends with the connection closed (the lease, if
// held, given up with it).
boost::asio::awaitable<void> leased_loop(leased_work work);

// Sleeps `d` on `timer` (cancelling it ends the sleep early), or on a timer of its own when null.
boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d, boost::asio::steady_timer* timer);

}  // namespace vtsync::daemon

#pragma once
// Leases: which daemon works which (Vtiger instance, module), and which one pushes an instance's outbox.
//
// A lease is a PostgreSQL session-level advisory lock (pg_try_advisory_lock) taken on the very connection
// the holder then runs that module's store operations on. Why this and not a lease row with a heartbeat:
// - no clock and no heartbeat to tune: PostgreSQL releases the lock the moment the holder's session ends
//   (process killed: the kernel closes the socket at once; network lost: when the server notices the dead
//   session, through TCP keepalives or the server's timeouts);
// - no split brain on writes: the holder's writes travel on the session that holds the lock. When that
//   session is gone, so is the lock, and the writes fail with it: the connection is opened with
//   connection_options::reconnect = false, so it is never silently reopened without the lock. The holder
//   then drops the module and goes back to waiting for the lease on a fresh connection.
// Keys: a 64-bit FNV-1a hash (detail::lock_key) of "vtsync.lease:<state schema>:<mirror schema>:<what>",
// where <what> is "pull:<module>" or "push". The mirror schema names the Vtiger instance (each instance
// has its own), so the same module of two instances are two leases.
// Who holds a lease is read from pg_locks joined with pg_stat_activity: the holder sets its session's
// application_name to "vtsyncd <hostname>:<pid>" before taking the lock.
#include "vtsync/storage/pg.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vtsync::storage {

[[nodiscard]] std::int64_t lease_key(std::string_view state_schema, std::string_view mirror_schema,
                                     std::string_view what);

// "<hostname>:<pid>" of this process.
[[nodiscard]] std::string process_identity();

// Sets application_name to "vtsyncd <identity>" and tries the lock once. True: this session holds it (until
// the session ends). Throws pg_error.
asio::awaitable<bool> try_acquire_lease(connection& conn, std::int64_t key, std::string_view identity);

// The holder's identity (application_name without the "vtsyncd " prefix), nullopt when nobody holds it.
asio::awaitable<std::optional<std::string>> lease_holder(connection& conn, std::int64_t key);

}  // namespace vtsync::storage

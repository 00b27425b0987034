#include "vtsync/storage/lease.hpp"

#include <unistd.h>

#include <climits>

#include "sql_text.hpp"

namespace vtsync::storage {

std::int64_t lease_key(std::string_view state_schema, std::string_view mirror_schema, std::string_view what) {
  std::string name = "vtsync.lease:";
  name += state_schema;
  name += ':';
  name += mirror_schema;
  name += ':';
  name += what;
  return detail::lock_key(name);
}

std::string process_identity() {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string{host[0] != '\0' ? host : "localhost"} + ":" + std::to_string(::getpid());
}

asio::awaitable<bool> try_acquire_lease(connection& conn, std::int64_t key, std::string_view identity) {
  const std::string app = "vtsyncd " + std::string{identity};
  co_await conn.query("SELECT set_config('application_name', $1, false)", params(app));
  auto r = co_await conn.query("SELECT pg_try_advisory_lock($1::bigint)", params(std::to_string(key)));
  co_return r.value(0, 0) == "t";
}

asio::awaitable<std::optional<std::string>> lease_holder(connection& conn, std::int64_t key) {
  // pg_advisory_lock(bigint) shows in pg_locks as classid = high 32 bits, objid = low 32 bits, objsubid 1.
  const auto u = static_cast<std::uint64_t>(key);
  const auto hi = std::to_string(u >> 32);
  const auto lo = std::to_string(u & 0xffffffffull);
  auto r = co_await conn.query(
      "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND l.classid::text::bigint = $1::bigint AND l.objid::text::bigint = $2::bigint LIMIT 1",
      params(hi, lo));
  if (r.rows() == 0) co_return std::nullopt;
  std::string name{r.value(0, 0)};
  constexpr std::string_view prefix = "vtsyncd ";
  if (name.rfind(prefix, 0) == 0) name.erase(0, prefix.size());
  co_return name;
}

}  // namespace vtsync::storage

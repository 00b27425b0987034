#include "test_env.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace vtsync::test {

std::string postgres_conninfo() {
  const char* value = std::getenv("VTSYNC_TEST_POSTGRES");
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(
        "VTSYNC_TEST_POSTGRES is not set: integration tests need the throwaway PostgreSQL that "
        "scripts/test starts (run them through scripts/test)");
  }
  return value;
}

pg_conn_ptr connect_blocking() {
  pg_conn_ptr conn{PQconnectdb(postgres_conninfo().c_str()), &PQfinish};
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string{"cannot connect to the test PostgreSQL: "} +
                             (conn ? PQerrorMessage(conn.get()) : "out of memory"));
  }
  return conn;
}

std::string exec_scalar(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> result{PQexec(conn, sql.c_str()), &PQclear};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("SQL failed: " + sql + ": " + PQerrorMessage(conn));
  }
  if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0) {
    return PQgetvalue(result.get(), 0, 0);
  }
  return {};
}

std::string unique_schema(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

std::string binary_path(const std::string& name) { return std::string{VTSYNC_BINARY_DIR} + "/" + name; }

std::string fixtures_dir() {
  if (const char* dir = std::getenv("VTSYNC_FIXTURES_DIR"); dir != nullptr && *dir != '\0') return dir;
  return VTSYNC_FIXTURES_DIR;
}

}  // namespace vtsync::test

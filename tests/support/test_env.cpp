#include "test_env.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdint>
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

self_signed::self_signed(const std::string& names) {
  dir = std::filesystem::temp_directory_path() / ("vtsync-tls-" + std::to_string(::getpid()) + "-" +
                                                  std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  std::filesystem::create_directories(dir);
  cert = (dir / "cert.pem").string();
  key = (dir / "key.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=" +
      names + " -keyout '" + key + "' -out '" + cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a certificate");
}

self_signed::~self_signed() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace vtsync::test

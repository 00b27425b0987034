#pragma once
// What a test needs from its surroundings. Integration tests never skip: a missing PostgreSQL is a failure.
#include <libpq-fe.h>

#include <filesystem>
#include <memory>
#include <string>

namespace vtsync::test {

// The throwaway PostgreSQL's connection string, from VTSYNC_TEST_POSTGRES (scripts/test sets it).
// Throws std::runtime_error naming the variable when it is missing, so the test fails loudly.
[[nodiscard]] std::string postgres_conninfo();

using pg_conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

// A blocking libpq connection for test set-up and assertions (never used by the daemon's own code).
// Throws std::runtime_error with libpq's message when it cannot connect.
[[nodiscard]] pg_conn_ptr connect_blocking();

// Runs one statement on a blocking connection; throws with the server's message on failure.
// Returns the first column of the first row, or "" when there is none.
std::string exec_scalar(PGconn* conn, const std::string& sql);

// A schema name unique to this process and call, for tests that run in parallel.
[[nodiscard]] std::string unique_schema(const std::string& prefix);

[[nodiscard]] std::string binary_path(const std::string& name);  // e.g. "fake-vtiger" -> build/fake-vtiger
[[nodiscard]] std::string fixtures_dir();                        // tests/fixtures/vtiger-8.2

// A self-signed certificate (for 127.0.0.1 and localhost by default; `names` is an openssl subjectAltName
// list) and its key, made with openssl in a fresh directory that goes with the object.
struct self_signed {
  std::filesystem::path dir;
  std::string cert, key;
  explicit self_signed(const std::string& names = "IP:127.0.0.1,DNS:localhost");
  ~self_signed();
  self_signed(const self_signed&) = delete;
  self_signed& operator=(const self_signed&) = delete;
};

}  // namespace vtsync::test

#pragma once
// Asynchronous PostgreSQL on the Asio event loop: libpq's non-blocking API, waiting on libpq's socket
// through an asio::posix::stream_descriptor. No call ever blocks the loop in libpq.
//
// Error policy
// - Every failure of a call is a thrown `pg_error`; its `kind()` says what the caller may do about it,
//   decided by SQLSTATE class, never by message text:
//     connection  SQLSTATE class 08, 57P01..57P03 (server shutting down / backend terminated), or libpq
//                 lost the socket         -> the connection is discarded; reconnect and retry.
//     timeout     our deadline passed (the connection is discarded: it may still be mid-statement) or
//                 the server's statement_timeout fired (57014) -> reconnect if needed and retry.
//     transaction 40001 serialization failure, 40P01 deadlock  -> retry the whole transaction.
//     data        class 23 (integrity: unique, not null, check, foreign key), 22 (bad data)
//                                         -> a data problem: never retried, reported to the caller.
//     other       anything else (syntax, permissions, ...) -> a bug or a setup problem: not retried.
// - `run_transaction()` is the one place that retries: connection, timeout and transaction kinds, up to
//   `retry_policy::max_attempts`, with a growing pause. The body is re-run from the start in a fresh
//   transaction, so it must derive everything from its inputs (a connection lost during COMMIT leaves it
//   unknown whether the first attempt committed: bodies must be safe to apply twice — every storage
//   operation in this library is).
// - A `connection` is used by one coroutine at a time (a second concurrent call throws std::logic_error).
//   After a failure of kind connection/timeout it is closed; the next call reconnects (and re-LISTENs).
// - Deadlines: every call has one (connection_options::call_timeout, an Asio timer); the server also gets
//   `statement_timeout`. Messages never contain the conninfo's password (libpq does not echo it).
#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vtsync::storage {

namespace asio = boost::asio;

enum class error_kind { connection, timeout, transaction, data, other };

[[nodiscard]] error_kind classify_sqlstate(std::string_view sqlstate) noexcept;

class pg_error : public std::runtime_error {
 public:
  pg_error(error_kind kind, std::string sqlstate, const std::string& message)
      : std::runtime_error(message), kind_(kind), sqlstate_(std::move(sqlstate)) {}

  [[nodiscard]] error_kind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }  // "" when none
  // Reconnect (if needed) and run again.
  [[nodiscard]] bool retryable() const noexcept {
    return kind_ == error_kind::connection || kind_ == error_kind::timeout ||
           kind_ == error_kind::transaction;
  }

 private:
  error_kind kind_;
  std::string sqlstate_;
};

// One statement's result (rows in text format). Owns its PGresult.
class result {
 public:
  result() = default;
  explicit result(PGresult* r) : res_(r, &PQclear) {}

  [[nodiscard]] int rows() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
  [[nodiscard]] int columns() const noexcept { return res_ ? PQnfields(res_.get()) : 0; }
  [[nodiscard]] bool is_null(int row, int col) const noexcept {
    return PQgetisnull(res_.get(), row, col) != 0;
  }
  // The value's text ("" for NULL).
  [[nodiscard]] std::string_view value(int row, int col) const noexcept {
    return {PQgetvalue(res_.get(), row, col), static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
  }
  [[nodiscard]] std::optional<std::string> get(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return std::string{value(row, col)};
  }
  // Rows affected by INSERT/UPDATE/DELETE (0 for others).
  [[nodiscard]] long affected_rows() const noexcept;

 private:
  std::shared_ptr<PGresult> res_;
};

// A statement parameter in text form; nullopt is SQL NULL. Parameters are always sent out of band
// (PQsendQueryParams), never spliced into the statement text.
using param = std::optional<std::string>;

// A parameter list: params("a", std::to_string(n), std::nullopt). Prefer it to a braced list inside
// coroutines: GCC 12 rejects `co_await c.query(sql, {a, b})` ("array used as initializer", a compiler bug
// with initializer_list temporaries in a coroutine frame).
template <class... Args>
[[nodiscard]] std::vector<param> params(Args&&... args) {
  std::vector<param> out;
  out.reserve(sizeof...(Args));
  (out.emplace_back(std::forward<Args>(args)), ...);
  return out;
}

// One statement of a pipeline: its text and parameters.
struct statement {
  std::string sql;
  std::vector<param> params;
};

struct notification {
  std::string channel;
  std::string payload;
  int backend_pid = 0;
  // True for the one synthetic notification per channel returned after a reconnect: notifications sent
  // while the connection was down are lost, so the listener should rescan.
  bool after_reconnect = false;
};

struct connection_options {
  std::string conninfo;                                 // libpq key=value or URI
  std::chrono::milliseconds connect_timeout{10'000};    // for the whole connect + session set-up
  std::chrono::milliseconds call_timeout{60'000};       // per query (client side)
  std::chrono::milliseconds statement_timeout{55'000};  // server side (0 = off)
  std::string application_name = "vtsyncd";
  // false: once a session is lost it is not reopened; every later call throws pg_error(connection). For
  // the connection that holds a lease (lease.hpp): a new session would not hold the advisory lock.
  bool reconnect = true;
};

class connection {
 public:
  connection(asio::any_io_executor executor, connection_options options);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects now (calls connect lazily otherwise). Throws pg_error(connection|timeout).
  asio::awaitable<void> connect();
  [[nodiscard]] bool is_open() const noexcept { return conn_ != nullptr; }
  // Closes the connection (if open); the next call reconnects.
  void close() noexcept;

  // One statement with parameters ($1, $2, ...). Throws pg_error. Each distinct text is prepared once per
  // session (up to 256 of them) and then only executed.
  asio::awaitable<result> query(std::string_view sql, std::vector<param> params = {});
  // One or more statements without parameters (simple protocol: DDL scripts, BEGIN; ...). Returns the
  // last statement's result. Throws pg_error.
  asio::awaitable<result> execute(std::string_view sql);

  // A `COPY ... FROM STDIN` statement (no parameters) fed with `data`, the whole input in the COPY format
  // the statement names. Returns the command's result (affected_rows() is the number of rows copied).
  // Throws pg_error as query() does; a failed COPY (a unique violation, bad data) aborts the surrounding
  // transaction, so callers that want to go on wrap it in a savepoint.
  asio::awaitable<result> copy_in(std::string_view sql, std::string_view data);

  // Statements sent together in ONE round trip (libpq pipeline mode) and run as one implicit transaction:
  // all of them commit at the end, or the first error aborts the rest, rolls everything back and is thrown.
  // Returns each statement's result, in order. Throws pg_error as query() does.
  asio::awaitable<std::vector<result>> pipeline(std::span<const statement> statements);

  // LISTEN on a channel (quoted safely); remembered and re-issued after every reconnect.
  asio::awaitable<void> listen(std::string channel);
  // The next notification, or nullopt when `timeout` passes first (not an error: the connection stays).
  // Notifications that arrived during queries are returned first. Throws pg_error(connection) when the
  // connection is lost while waiting (the next call reconnects and reports after_reconnect).
  asio::awaitable<std::optional<notification>> next_notification(std::chrono::milliseconds timeout);

  // The server process id of the current session (0 when closed): lets tests terminate it.
  [[nodiscard]] int backend_pid() const noexcept;
  // How many times a session was opened (1 after the first connect).
  [[nodiscard]] int connect_count() const noexcept { return connect_count_; }
  [[nodiscard]] const connection_options& options() const noexcept { return options_; }
  [[nodiscard]] asio::any_io_executor get_executor() const noexcept { return executor_; }

 private:
  using clock = std::chrono::steady_clock;
  using pg_conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

  asio::awaitable<void> open_session();
  asio::awaitable<void> ensure_open();
  asio::awaitable<result> run(std::string_view sql, const std::vector<param>* params, bool simple);
  // Reads results until the statement is done (or, with `until_copy_in`, until the server waits for COPY
  // data: then returns that result).
  asio::awaitable<result> collect_results(clock::time_point deadline, bool until_copy_in = false);
  asio::awaitable<void> flush_all(clock::time_point deadline);
  // Waits until libpq's socket is ready; returns false when the deadline passed first.
  asio::awaitable<bool> wait_socket(asio::posix::stream_descriptor::wait_type what,
                                    clock::time_point deadline);
  void wrap_socket();
  void drain_notifications();
  [[noreturn]] void fail_connection(const std::string& what);
  [[noreturn]] void fail_timeout(const std::string& what);

  asio::any_io_executor executor_;
  connection_options options_;
  pg_conn_ptr conn_{nullptr, &PQfinish};
  std::optional<asio::posix::stream_descriptor> socket_;
  int socket_fd_ = -1;
  asio::steady_timer timer_;
  std::uint64_t wait_generation_ = 0;
  std::uint64_t expired_generation_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // lets a late timer handler see we are gone
  bool busy_ = false;
  int connect_count_ = 0;
  std::vector<std::string> channels_;
  std::deque<notification> notifications_;
  static constexpr std::size_t max_prepared_statements = 256;
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> prepared name
};

struct retry_policy {
  int max_attempts = 5;
  std::chrono::milliseconds first_pause{50};
  std::chrono::milliseconds max_pause{2'000};
};

// Pause before the attempt after `failed_attempts` failures (exponential, capped).
asio::awaitable<void> retry_pause(connection& conn, const retry_policy& policy, int failed_attempts);

// Runs `statements` as one transaction in one round trip (connection::pipeline), marked as the daemon's
// own like run_transaction's, with the same retries. Returns the statements' results (without the marking).
asio::awaitable<std::vector<result>> run_pipeline(connection& conn, std::vector<statement> statements,
                                                  retry_policy policy = {});

// Runs `body(conn)` inside BEGIN ... COMMIT, marking the transaction as the daemon's own
// (set_config('vtsync.origin', 'daemon', true)) so the capture triggers do not record it.
// Retries as the error policy above says; rethrows the last error otherwise. `Body` returns
// asio::awaitable<T>. `prologue`: statements without parameters sent with the BEGIN, in the same round
// trip (store_page's savepoint, mirror_rows.hpp), on every attempt.
template <class Body>
auto run_transaction(connection& conn, Body body, retry_policy policy = {}, std::string prologue = {})
    -> decltype(body(conn)) {
  using value_type = typename decltype(body(conn))::value_type;
  std::string begin = "BEGIN; SELECT set_config('vtsync.origin', 'daemon', true)";
  if (!prologue.empty()) begin.append("; ").append(prologue);
  for (int attempt = 1;; ++attempt) {
    std::exception_ptr failure;
    bool retry = false;
    try {
      co_await conn.execute(begin);
      if constexpr (std::is_void_v<value_type>) {
        co_await body(conn);
        co_await conn.execute("COMMIT");
        co_return;
      } else {
        value_type value = co_await body(conn);
        co_await conn.execute("COMMIT");
        co_return value;
      }
    } catch (const pg_error& e) {
      failure = std::current_exception();
      retry = e.retryable() && attempt < policy.max_attempts;
    } catch (...) {
      failure = std::current_exception();
    }
    // Roll back whatever the body left open (a coroutine cannot co_await inside a catch block).
    if (conn.is_open()) {
      try {
        co_await conn.execute("ROLLBACK");
      } catch (const pg_error&) {
        conn.close();  // cannot even roll back: start the next attempt on a fresh session
      }
    }
    if (!retry) std::rethrow_exception(failure);
    co_await retry_pause(conn, policy, attempt);
  }
}

}  // namespace vtsync::storage

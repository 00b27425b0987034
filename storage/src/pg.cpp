#include "vtsync/storage/pg.hpp"

#include "pg_internal.hpp"
#include "vtsync/storage/columns.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>

#include <algorithm>
#include <cstdlib>

namespace vtsync::storage {

namespace detail {

std::string trimmed_message(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

pg_error error_of(const PGresult* raw) {
  const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  std::string message = trimmed_message(PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY));
  if (message.empty()) message = trimmed_message(PQresultErrorMessage(raw));
  if (const char* detail = PQresultErrorField(raw, PG_DIAG_MESSAGE_DETAIL)) {
    message += " (" + trimmed_message(detail) + ")";
  }
  const std::string sqlstate = state != nullptr ? state : "";
  return pg_error(classify_sqlstate(sqlstate), sqlstate, "PostgreSQL: " + message);
}

}  // namespace detail

namespace {

using detail::busy_guard;
using detail::trimmed_message;
using wait_type = asio::posix::stream_descriptor::wait_type;

// Wraps a shared PGresult pointer so `result` (which owns it) is built in one place.
result take(PGresult* r) { return result{r}; }

}  // namespace

error_kind classify_sqlstate(std::string_view s) noexcept {
  if (s.size() != 5) return error_kind::other;
  const auto cls = s.substr(0, 2);
  if (cls == "08") return error_kind::connection;
  if (s == "57P01" || s == "57P02" || s == "57P03") return error_kind::connection;
  if (s == "57014") return error_kind::timeout;
  if (s == "40001" || s == "40P01") return error_kind::transaction;
  if (cls == "23" || cls == "22") return error_kind::data;
  return error_kind::other;
}

long result::affected_rows() const noexcept {
  if (!res_) return 0;
  return std::strtol(PQcmdTuples(res_.get()), nullptr, 10);
}

connection::connection(asio::any_io_executor executor, connection_options options)
    : executor_(std::move(executor)), options_(std::move(options)), timer_(executor_) {}

connection::~connection() { close(); }

void connection::close() noexcept {
  if (socket_) {
    // libpq owns the descriptor: release it from Asio (deregister) and let PQfinish close it.
    socket_->release();
    socket_.reset();
  }
  socket_fd_ = -1;
  conn_.reset();
  prepared_.clear();  // prepared statements die with their session
  ++wait_generation_;
}

int connection::backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_.get()) : 0; }

void connection::wrap_socket() {
  const int fd = PQsocket(conn_.get());
  if (fd == socket_fd_ && socket_) return;
  // libpq may switch sockets while connecting (another host, SSL fallback): re-wrap the new one.
  if (socket_) {
    socket_->release();
    socket_.reset();
  }
  socket_fd_ = fd;
  if (fd < 0) fail_connection("libpq has no socket");
  socket_.emplace(executor_, fd);
}

void connection::fail_connection(const std::string& what) {
  std::string message = what;
  if (conn_) {
    const auto detail = trimmed_message(PQerrorMessage(conn_.get()));
    if (!detail.empty()) message += ": " + detail;
  }
  close();
  throw pg_error(error_kind::connection, "08006", "PostgreSQL connection lost (" + message + ")");
}

void connection::fail_timeout(const std::string& what) {
  // A session that missed its deadline may still be running the statement: never reuse it.
  close();
  throw pg_error(error_kind::timeout, "", "PostgreSQL " + what + " timed out");
}

asio::awaitable<bool> connection::wait_socket(wait_type what, clock::time_point deadline) {
  if (!socket_) fail_connection("no socket");
  const auto generation = ++wait_generation_;
  timer_.expires_at(deadline);
  timer_.async_wait([this, generation, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired() || generation != wait_generation_) return;
    expired_generation_ = generation;
    if (socket_) socket_->cancel();
  });
  auto [ec] = co_await socket_->async_wait(what, asio::as_tuple(asio::use_awaitable));
  const bool expired = expired_generation_ == generation;
  ++wait_generation_;  // disarms a timer handler that is already queued
  timer_.cancel();
  if (expired) co_return false;
  if (ec) fail_connection("waiting on the socket: " + ec.message());
  co_return true;
}

asio::awaitable<void> connection::connect() {
  busy_guard guard{busy_};
  co_await open_session();
}

asio::awaitable<void> connection::open_session() {
  close();
  const auto deadline = clock::now() + options_.connect_timeout;
  // expand_dbname lets `dbname` carry a whole conninfo or URI; our keys below only fill in defaults or
  // settings the daemon needs (UTF-8 strings).
  const char* keywords[] = {"dbname", "fallback_application_name", "client_encoding", nullptr};
  const char* values[] = {options_.conninfo.c_str(), options_.application_name.c_str(), "UTF8", nullptr};
  conn_.reset(PQconnectStartParams(keywords, values, 1));
  if (!conn_) throw pg_error(error_kind::connection, "08001", "PostgreSQL: out of memory while connecting");
  if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_connection("cannot connect");
  for (;;) {
    const auto state = PQconnectPoll(conn_.get());
    if (state == PGRES_POLLING_OK) break;
    if (state == PGRES_POLLING_FAILED) fail_connection("cannot connect");
    wrap_socket();
    const auto what = state == PGRES_POLLING_READING ? wait_type::wait_read : wait_type::wait_write;
    if (!co_await wait_socket(what, deadline)) fail_timeout("connect");
  }
  if (PQsetnonblocking(conn_.get(), 1) != 0) fail_connection("cannot switch to non-blocking mode");
  // Server notices ("... does not exist, skipping") go to the log, not to stderr.
  PQsetNoticeProcessor(
      conn_.get(),
      [](void*, const char* message) { spdlog::debug("PostgreSQL: {}", trimmed_message(message)); }, nullptr);
  wrap_socket();
  ++connect_count_;
  // Session settings: the server-side deadline; UTC so timestamptz text never depends on the host;
  // standard strings so a backslash in a DDL literal is just a character; generic plans because our
  // prepared statements are shaped so that one plan fits all parameters, and re-planning a page upsert
  // costs as much as running it.
  const std::vector<param> settings = params(std::to_string(options_.statement_timeout.count()));
  co_await run(
      "SELECT set_config('statement_timeout', $1, false), set_config('TimeZone', 'UTC', false), "
      "set_config('standard_conforming_strings', 'on', false), "
      "set_config('plan_cache_mode', 'force_generic_plan', false)",
      &settings, false);
  for (const auto& channel : channels_) {
    co_await run("LISTEN " + quote_ident(channel), nullptr, true);
    // Whatever was sent while we were away is lost: tell the listener to rescan.
    if (connect_count_ > 1) notifications_.push_back({channel, "", 0, true});
  }
}

asio::awaitable<void> connection::ensure_open() {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    if (!options_.reconnect && connect_count_ > 0) {
      throw pg_error(error_kind::connection, "08003",
                     "the session was lost and is not reopened (the locks it held went with it)");
    }
    co_await open_session();
  }
}

void connection::drain_notifications() {
  while (PGnotify* n = PQnotifies(conn_.get())) {
    notifications_.push_back({n->relname, n->extra != nullptr ? n->extra : "", n->be_pid, false});
    PQfreemem(n);
  }
}

asio::awaitable<result> connection::query(std::string_view sql, std::vector<param> params) {
  busy_guard guard{busy_};
  co_await ensure_open();
  co_return co_await run(sql, &params, false);
}

asio::awaitable<result> connection::execute(std::string_view sql) {
  busy_guard guard{busy_};
  co_await ensure_open();
  co_return co_await run(sql, nullptr, true);
}

asio::awaitable<result> connection::copy_in(std::string_view sql, std::string_view data) {
  busy_guard guard{busy_};
  co_await ensure_open();
  const auto deadline = clock::now() + options_.call_timeout;
  const std::string text{sql};
  if (PQsendQuery(conn_.get(), text.c_str()) == 0) fail_connection("sending a statement");
  co_await flush_all(deadline);
  // An error instead (no such table, ...) is thrown from here.
  co_await collect_results(deadline, /*until_copy_in=*/true);
  // Non-blocking mode: PQputCopyData returns 0 when libpq's buffer is full; wait until the socket drains.
  constexpr std::size_t chunk = std::size_t{1} << 16;
  for (std::size_t offset = 0; offset < data.size();) {
    const auto size = std::min(chunk, data.size() - offset);
    const int put = PQputCopyData(conn_.get(), data.data() + offset, static_cast<int>(size));
    if (put < 0) fail_connection("sending COPY data");
    if (put == 0) {
      if (!co_await wait_socket(wait_type::wait_write, deadline)) fail_timeout("COPY");
      if (PQconsumeInput(conn_.get()) == 0) fail_connection("reading");
      continue;
    }
    offset += size;
  }
  for (;;) {
    const int ended = PQputCopyEnd(conn_.get(), nullptr);
    if (ended < 0) fail_connection("ending COPY data");
    if (ended == 1) break;
    if (!co_await wait_socket(wait_type::wait_write, deadline)) fail_timeout("COPY");
  }
  co_await flush_all(deadline);
  co_return co_await collect_results(deadline);
}

asio::awaitable<void> connection::flush_all(clock::time_point deadline) {
  // Push the whole statement out; libpq may need to read (server notices) to make progress.
  for (;;) {
    const int flushed = PQflush(conn_.get());
    if (flushed == 0) break;
    if (flushed < 0) fail_connection("sending a statement");
    if (!co_await wait_socket(wait_type::wait_write, deadline)) fail_timeout("query");
    if (PQconsumeInput(conn_.get()) == 0) fail_connection("reading");
  }
}

asio::awaitable<result> connection::run(std::string_view sql, const std::vector<param>* params, bool simple) {
  const auto deadline = clock::now() + options_.call_timeout;
  const std::string text{sql};
  if (simple) {
    if (PQsendQuery(conn_.get(), text.c_str()) == 0) fail_connection("sending a statement");
    co_await flush_all(deadline);
    co_return co_await collect_results(deadline);
  }
  std::vector<const char*> values;
  values.reserve(params->size());
  for (const auto& p : *params) values.push_back(p ? p->c_str() : nullptr);
  const int count = static_cast<int>(values.size());

  // Each distinct statement is prepared once per session: planning a page upsert with dozens of columns
  // costs more than running it.
  auto statement = prepared_.find(text);
  if (statement == prepared_.end() && prepared_.size() < max_prepared_statements) {
    const std::string name = "vtsync_" + std::to_string(prepared_.size());
    if (PQsendPrepare(conn_.get(), name.c_str(), text.c_str(), count, nullptr) == 0)
      fail_connection("preparing a statement");
    co_await flush_all(deadline);
    co_await collect_results(deadline);
    statement = prepared_.emplace(text, name).first;
  }
  const int sent =
      statement != prepared_.end()
          ? PQsendQueryPrepared(conn_.get(), statement->second.c_str(), count, values.data(), nullptr,
                                nullptr, 0)
          : PQsendQueryParams(conn_.get(), text.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0);
  if (sent == 0) fail_connection("sending a statement");
  co_await flush_all(deadline);
  co_return co_await collect_results(deadline);
}

asio::awaitable<result> connection::collect_results(clock::time_point deadline, bool until_copy_in) {
  result last;
  std::optional<pg_error> error;
  for (;;) {
    while (PQisBusy(conn_.get()) != 0) {
      if (!co_await wait_socket(wait_type::wait_read, deadline)) fail_timeout("query");
      if (PQconsumeInput(conn_.get()) == 0) fail_connection("reading a result");
    }
    drain_notifications();
    PGresult* raw = PQgetResult(conn_.get());
    if (raw == nullptr) break;
    result r = take(raw);
    const auto status = PQresultStatus(raw);
    if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
      if (!error) error.emplace(detail::error_of(raw));
    } else if (status == PGRES_COPY_IN && until_copy_in && !error) {
      co_return r;
    } else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
      close();
      throw std::logic_error("COPY is only supported through vtsync::storage::connection::copy_in");
    } else {
      last = std::move(r);
    }
    if (PQstatus(conn_.get()) == CONNECTION_BAD) break;
  }
  if (PQstatus(conn_.get()) == CONNECTION_BAD) {
    // The server ended the session (terminated backend, shutdown): whatever it said, it is a lost
    // connection, so the caller reconnects.
    const std::string what = error ? error->what() : std::string{"the server closed the connection"};
    close();
    throw pg_error(error_kind::connection, error && !error->sqlstate().empty() ? error->sqlstate() : "08006",
                   what);
  }
  if (error) {
    if (error->kind() == error_kind::connection) close();
    throw *error;
  }
  co_return last;
}

asio::awaitable<void> connection::listen(std::string channel) {
  busy_guard guard{busy_};
  if (std::find(channels_.begin(), channels_.end(), channel) == channels_.end()) channels_.push_back(channel);
  if (!conn_) {
    co_await ensure_open();  // a new session LISTENs on every remembered channel
    co_return;
  }
  co_await run("LISTEN " + quote_ident(channel), nullptr, true);
}

asio::awaitable<std::optional<notification>> connection::next_notification(
    std::chrono::milliseconds timeout) {
  busy_guard guard{busy_};
  if (notifications_.empty()) co_await ensure_open();
  const auto deadline = clock::now() + timeout;
  for (;;) {
    if (!notifications_.empty()) {
      auto n = std::move(notifications_.front());
      notifications_.pop_front();
      co_return n;
    }
    const bool ready = co_await wait_socket(wait_type::wait_read, deadline);
    if (!ready) co_return std::nullopt;  // an idle wait ran out: the session is fine
    if (PQconsumeInput(conn_.get()) == 0) fail_connection("waiting for notifications");
    drain_notifications();
  }
}

asio::awaitable<void> retry_pause(connection& conn, const retry_policy& policy, int failed_attempts) {
  auto pause = policy.first_pause;
  for (int i = 1; i < failed_attempts && pause < policy.max_pause; ++i) pause *= 2;
  pause = std::min(pause, policy.max_pause);
  asio::steady_timer timer{conn.get_executor()};
  timer.expires_after(pause);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace vtsync::storage

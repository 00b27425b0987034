// connection::pipeline and run_pipeline: several statements, one round trip, one transaction (libpq
// pipeline mode; the statements up to the pipeline's sync point form one implicit transaction).
#include "pg_internal.hpp"
#include "vtsync/storage/pg.hpp"

#include <algorithm>

namespace vtsync::storage {

asio::awaitable<std::vector<result>> connection::pipeline(std::span<const statement> statements) {
  detail::busy_guard guard{busy_};
  co_await ensure_open();
  const auto deadline = clock::now() + options_.call_timeout;
  if (PQenterPipelineMode(conn_.get()) == 0) fail_connection("entering pipeline mode");
  // Each distinct statement is prepared once per session, as query() does: a statement met for the first
  // time is prepared in the same pipeline, just before it runs (a prepare is not undone by the rollback of
  // a failed pipeline; one the server skipped after an error is simply not remembered).
  struct command {
    bool prepare = false;
    std::string name;  // the prepared statement's name (prepare commands)
    const statement* of = nullptr;
  };
  std::vector<command> commands;
  commands.reserve(statements.size() * 2);
  std::size_t prepares = 0;
  for (const auto& s : statements) {
    std::vector<const char*> values;
    values.reserve(s.params.size());
    for (const auto& p : s.params) values.push_back(p ? p->c_str() : nullptr);
    const int count = static_cast<int>(values.size());
    std::string name;
    if (const auto known = prepared_.find(s.sql); known != prepared_.end()) {
      name = known->second;
    } else if (const auto pending =
                   std::find_if(commands.begin(), commands.end(),
                                [&](const command& c) { return c.prepare && c.of->sql == s.sql; });
               pending != commands.end()) {
      name = pending->name;
    } else if (prepared_.size() + prepares < max_prepared_statements) {
      // Named as query() names them: the prepares of a pipeline that the server ran are a prefix of those
      // sent (after an error it skips everything), so remembered names stay numbered without gaps.
      name = "vtsync_" + std::to_string(prepared_.size() + prepares++);
      if (PQsendPrepare(conn_.get(), name.c_str(), s.sql.c_str(), count, nullptr) == 0)
        fail_connection("preparing a statement");
      commands.push_back({true, name, &s});
    }
    const int sent = !name.empty() ? PQsendQueryPrepared(conn_.get(), name.c_str(), count, values.data(),
                                                         nullptr, nullptr, 0)
                                   : PQsendQueryParams(conn_.get(), s.sql.c_str(), count, nullptr,
                                                       values.data(), nullptr, nullptr, 0);
    if (sent == 0) fail_connection("sending a statement");
    commands.push_back({false, {}, &s});
  }
  if (PQpipelineSync(conn_.get()) == 0) fail_connection("sending a pipeline");
  co_await flush_all(deadline);

  // Each command's results end with a null result; the sync point ends the pipeline. After an error the
  // server skips the rest (PGRES_PIPELINE_ABORTED) up to the sync point and rolls the transaction back.
  std::vector<result> out;
  out.reserve(statements.size());
  std::optional<pg_error> error;
  std::size_t current = 0;  // the command whose results are being read
  for (;;) {
    while (PQisBusy(conn_.get()) != 0) {
      if (!co_await wait_socket(asio::posix::stream_descriptor::wait_type::wait_read, deadline))
        fail_timeout("pipeline");
      if (PQconsumeInput(conn_.get()) == 0) fail_connection("reading a result");
    }
    drain_notifications();
    if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_connection("reading a result");
    PGresult* raw = PQgetResult(conn_.get());
    if (raw == nullptr) {  // the end of one command's results
      ++current;
      continue;
    }
    result r{raw};
    const auto status = PQresultStatus(raw);
    if (status == PGRES_PIPELINE_SYNC) break;
    const bool prepare = current < commands.size() && commands[current].prepare;
    if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) {
      if (!error) error.emplace(detail::error_of(raw));
      if (!prepare) out.emplace_back();
    } else if (prepare) {
      if (status == PGRES_COMMAND_OK) prepared_.emplace(commands[current].of->sql, commands[current].name);
    } else if (status == PGRES_PIPELINE_ABORTED) {
      out.emplace_back();
    } else {
      out.push_back(std::move(r));
    }
  }
  if (PQexitPipelineMode(conn_.get()) == 0) fail_connection("leaving pipeline mode");
  if (error) {
    if (error->kind() == error_kind::connection) close();
    throw *error;
  }
  co_return out;
}

asio::awaitable<std::vector<result>> run_pipeline(connection& conn, std::vector<statement> statements,
                                                  retry_policy policy) {
  statements.insert(statements.begin(), statement{"SELECT set_config('vtsync.origin', 'daemon', true)", {}});
  for (int attempt = 1;; ++attempt) {
    try {
      auto results = co_await conn.pipeline(statements);
      results.erase(results.begin());
      co_return results;
    } catch (const pg_error& e) {
      if (!e.retryable() || attempt >= policy.max_attempts) throw;
    }
    co_await retry_pause(conn, policy, attempt);
  }
}

}  // namespace vtsync::storage

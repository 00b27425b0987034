// connection::pipeline and run_pipeline: several statements, one round trip, one transaction (libpq
// pipeline mode; the statements up to the pipeline's sync point form one implicit transaction).
#include "pg_internal.hpp"
#include "vtsync/storage/pg.hpp"

namespace vtsync::storage {

asio::awaitable<std::vector<result>> connection::pipeline(std::span<const statement> statements) {
  detail::busy_guard guard{busy_};
  co_await ensure_open();
  const auto deadline = clock::now() + options_.call_timeout;
  if (PQenterPipelineMode(conn_.get()) == 0) fail_connection("entering pipeline mode");
  for (const auto& s : statements) {
    std::vector<const char*> values;
    values.reserve(s.params.size());
    for (const auto& p : s.params) values.push_back(p ? p->c_str() : nullptr);
    const int count = static_cast<int>(values.size());
    // Statements query() prepared are executed as such; others are planned once here.
    const auto prepared = prepared_.find(s.sql);
    const int sent = prepared != prepared_.end()
                         ? PQsendQueryPrepared(conn_.get(), prepared->second.c_str(), count, values.data(),
                                               nullptr, nullptr, 0)
                         : PQsendQueryParams(conn_.get(), s.sql.c_str(), count, nullptr, values.data(),
                                             nullptr, nullptr, 0);
    if (sent == 0) fail_connection("sending a statement");
  }
  if (PQpipelineSync(conn_.get()) == 0) fail_connection("sending a pipeline");
  co_await flush_all(deadline);

  // Each statement's results end with a null result; the sync point ends the pipeline. After an error the
  // server skips the rest (PGRES_PIPELINE_ABORTED) up to the sync point and rolls the transaction back.
  std::vector<result> out;
  out.reserve(statements.size());
  std::optional<pg_error> error;
  for (;;) {
    while (PQisBusy(conn_.get()) != 0) {
      if (!co_await wait_socket(asio::posix::stream_descriptor::wait_type::wait_read, deadline))
        fail_timeout("pipeline");
      if (PQconsumeInput(conn_.get()) == 0) fail_connection("reading a result");
    }
    drain_notifications();
    if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_connection("reading a result");
    PGresult* raw = PQgetResult(conn_.get());
    if (raw == nullptr) continue;  // the end of one statement's results
    result r{raw};
    const auto status = PQresultStatus(raw);
    if (status == PGRES_PIPELINE_SYNC) break;
    if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) {
      if (!error) error.emplace(detail::error_of(raw));
      out.emplace_back();
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

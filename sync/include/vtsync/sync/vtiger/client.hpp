#pragma once
// The asynchronous Vtiger web-service client (webservice.php over HTTP or HTTPS, Boost.Beast, coroutines).
//
// Error policy (details in error.hpp):
// - Operations return api_result<json>: Vtiger's result, or the api_error it answered. api_result::value()
//   throws client_error{api} for callers that do not expect a rejection.
// - Session errors (INVALID_SESSIONID, SESSION_EXPIRED, SESSION_LEFT_IDLE, AUTHENTICATION_REQUIRED) cause
//   one re-login and one retry; concurrent callers of one session share that re-login.
// - Transient failures (connect errors, timeouts, 5xx, HTML, bad or truncated JSON, reset connections) are
//   retried with exponential backoff and full jitter within options.retry, then thrown as client_error.
// - Writes (create, update, revise, delete, POST through call()) are retried only while nothing was sent;
//   afterwards a failure is client_error{outcome_unknown}.
// - logout never throws for a server failure (stock Vtiger 8 on PHP 8 answers it with HTTP 500): harmless.
// - sync answers std::nullopt when the server cannot run it (HTTP 500 with an empty body, stock Vtiger 8).
//
// Threading: a client_context and its clients belong to one thread (one io_context thread or one strand).
// One client is one Vtiger session; the server runs a session's requests one at a time, so parallel workers
// each take their own client on a shared context (logins are serialised there, because the server keeps
// one challenge token per user).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vtsync/sync/vtiger/error.hpp"
#include "vtsync/sync/vtiger/options.hpp"
#include "vtsync/sync/vtiger/protocol.hpp"

namespace vtsync::vtiger {

// What login tells about the user (the session name is kept inside the client, never handed out).
struct login_info {
  std::string user_id;  // "19x1"
  std::string username;
  std::string time_zone;
  std::string vtiger_version;
  std::string api_version;
};

// Shared by the sessions of one Vtiger user: options, endpoint, TLS context, login serialisation, request
// rate, describe cache and counters.
class client_context {
 public:
  // Throws client_error{invalid_argument} for a bad url, client_error{tls} when ca_file cannot be loaded.
  client_context(boost::asio::any_io_executor executor, client_options options);
  client_context(const client_context&) = delete;
  client_context& operator=(const client_context&) = delete;
  ~client_context();

  [[nodiscard]] const client_options& options() const;
  [[nodiscard]] const endpoint& target() const;
  [[nodiscard]] boost::asio::any_io_executor executor() const;
  [[nodiscard]] client_stats stats() const;

  struct state;  // private to the implementation
  [[nodiscard]] state& internal() { return *state_; }

 private:
  std::unique_ptr<state> state_;
};

// What query_records returns.
struct record_answer {
  std::optional<std::vector<flat_record>> records;
  json other;  // the result when it was not plain records (to be checked by the caller)
};

class client {
 public:
  // A session on its own context.
  client(boost::asio::any_io_executor executor, client_options options);
  // Another session sharing `context` (its login serialisation, rate limit, describe cache and counters).
  explicit client(std::shared_ptr<client_context> context);
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();  // closes the connections; does not log out (use logout())

  [[nodiscard]] const std::shared_ptr<client_context>& context() const;
  [[nodiscard]] client_stats stats() const { return context()->stats(); }

  // Logs in now (getchallenge + login with md5(token + access key)); otherwise the first operation does.
  // INVALID_USER_CREDENTIALS or INVALID_AUTH_TOKEN: retried once with a fresh challenge, then
  // client_error{login_failed}.
  boost::asio::awaitable<login_info> login();
  [[nodiscard]] bool logged_in() const;
  [[nodiscard]] const std::optional<login_info>& session_info() const;
  // Ends the session; a failure is logged at debug level and otherwise ignored (stock PHP-8 Vtiger fails it).
  boost::asio::awaitable<void> logout();

  boost::asio::awaitable<api_result<json>> listtypes();
  boost::asio::awaitable<api_result<json>> describe(std::string module);  // cached per module (context)
  // Drops the cached describe of `module`: the next describe() asks Vtiger (a schema change).
  void forget_describe(std::string_view module);
  boost::asio::awaitable<api_result<json>> query(std::string vtql);
  // query for the pull's pages: a plain answer of flat records (protocol.hpp: parse_query_records) comes
  // as `records` without a JSON document being built; any other successful answer as `other`.
  boost::asio::awaitable<api_result<record_answer>> query_records(std::string vtql);
  boost::asio::awaitable<api_result<json>> retrieve(std::string id);
  boost::asio::awaitable<api_result<json>> create(std::string module, json element);
  boost::asio::awaitable<api_result<json>> update(json element);
  boost::asio::awaitable<api_result<json>> revise(json element);
  boost::asio::awaitable<api_result<json>> delete_record(std::string id);
  // modifiedTime is Unix seconds (0 is sent as 1: Vtiger reads "0" as missing). sync_type ("user",
  // "userandgroup", "application") only works on servers that registered it. std::nullopt: the server
  // cannot run sync at all (stock Vtiger 8 on PHP 8).
  boost::asio::awaitable<api_result<std::optional<json>>> sync(std::string module, std::int64_t modified_time,
                                                               std::optional<std::string> sync_type = {});
  // One sync call from now: true when the server runs sync for `module`.
  boost::asio::awaitable<bool> probe_sync(std::string module);

  // Any operation by name, also custom ones: GET puts the parameters in the query string, POST in a form
  // body (operation and sessionName included). A POST counts as a write for the retry rules.
  boost::asio::awaitable<api_result<json>> call(std::string operation, param_list params, http_method method);

  struct impl;

 private:
  friend boost::asio::awaitable<std::vector<client>> open_sessions(std::shared_ptr<client_context> context,
                                                                   std::size_t count,
                                                                   bool rest_in_background);
  std::shared_ptr<impl> impl_;
};

// `count` sessions on one context, logged in one after another (the server keeps one challenge token per
// user). The first is logged in when this returns; so are the others, unless `rest_in_background`: then
// they log in on the event loop while the caller already works with the first (a parallel backfill plans
// its ranges meanwhile), and a session whose login has not finished or failed logs in on its first
// request (an error then surfaces there).
boost::asio::awaitable<std::vector<client>> open_sessions(std::shared_ptr<client_context> context,
                                                          std::size_t count, bool rest_in_background = false);

}  // namespace vtsync::vtiger

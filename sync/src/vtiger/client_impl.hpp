#pragma once
// Private to the Vtiger client (client.hpp): what its source files share. client_context::state (the
// per-user state of context.cpp), client::impl (one session: its connections in transport.cpp, its login
// in session.cpp) and op_spec, how an operation (operations.cpp) tells both how to send and retry it.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "async_gate.hpp"
#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::vtiger {

namespace detail {

// How an operation may be retried (error.hpp): reads freely, writes only before anything was sent, login
// steps freely (a repeated challenge or login is harmless), logout never (a failed logout is harmless).
enum class op_class { read, write, login, logout };

struct op_spec {
  std::string name;
  http_method method;
  bool needs_session;
  op_class cls;
  bool empty_500_means_unsupported =
      false;  // stock Vtiger 8 on PHP 8 dies on sync (vtiger-webservice.md §13.1)
  // query_records: a plain success answer is parsed straight into flat records here (the json result is
  // then null); anything else comes back as json.
  std::optional<std::vector<flat_record>>* records = nullptr;
};

// Plain functions instead of braced temporaries: GCC 12 miscompiles ("array used as initializer") braced
// string-literal aggregates inside coroutines.
inline op_spec make_spec(std::string_view name, http_method method, bool needs_session, op_class cls) {
  op_spec spec;
  spec.name = std::string(name);
  spec.method = method;
  spec.needs_session = needs_session;
  spec.cls = cls;
  return spec;
}

// The kept-alive connections of one session (transport.cpp, where a connection is defined).
class connection_pool {
 public:
  struct connection;
  connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;
  ~connection_pool();

  // An idle connection still fit to carry a request, or null.
  std::unique_ptr<connection> take();
  // Keeps `conn` for the next request unless `max_idle` are kept already.
  void give_back(std::unique_ptr<connection> conn, std::size_t max_idle);
  void clear();

 private:
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace detail

// Shared by the sessions of one user (context.cpp).
struct client_context::state {
  // Sets up TLS for an https url; throws client_error{tls} when ca_file cannot be loaded.
  state(boost::asio::any_io_executor ex, client_options opts);

  spdlog::logger& log() const;
  // Waits for the request rate's next slot.
  boost::asio::awaitable<void> pace();

  void remember_secret(const std::string& secret);
  // Server text (HTML pages, JSON excerpts) may echo what we sent; nothing secret leaves in a message.
  std::string scrub(std::string text) const;
  client_error scrubbed(const client_error& e) const;

  // Counters (client_stats) and their hooks.
  void count_request(std::string_view operation);
  void time_answer(std::string_view operation, std::chrono::nanoseconds took);
  void count_error(std::string_view code);
  void count_retry(std::string_view operation, error_kind kind);
  void count_login(bool relogin);

  boost::asio::any_io_executor executor;
  client_options options;
  endpoint ep;
  std::optional<boost::asio::ssl::context> tls;
  rate_schedule rate;
  std::mt19937_64 rng;
  // One challenge token per user on the server: logins of all sessions of this user go one at a time.
  detail::async_semaphore login_gate{1};
  std::map<std::string, json, std::less<>> describe_cache;
  std::vector<std::string> secrets;  // login digests and session names, for scrub()
  mutable std::mutex stats_mutex;    // stats may be read from a metrics thread
  client_stats stats;
};

// One session and its connections.
struct client::impl {
  explicit impl(std::shared_ptr<client_context> context) : ctx(std::move(context)), st(ctx->internal()) {}

  // transport.cpp: one request with the transient-failure retries (error.hpp). Returns Vtiger's answer.
  boost::asio::awaitable<api_result<json>> send_with_retries(const detail::op_spec& spec,
                                                             const param_list& params);

  // session.cpp: getchallenge + login, with the context's login gate held.
  boost::asio::awaitable<login_info> do_login(bool relogin);
  // session.cpp: logs in unless another caller already did since `seen_generation` was read.
  boost::asio::awaitable<void> renew_session(std::uint64_t seen_generation, bool relogin);
  // session.cpp: one operation in this session, logging in first or again (once) as needed.
  boost::asio::awaitable<api_result<json>> invoke(const detail::op_spec& spec, const param_list& params);

  std::shared_ptr<client_context> ctx;
  client_context::state& st;
  detail::connection_pool connections;
  std::string session_name;      // never logged; scrubbed from messages
  std::uint64_t generation = 0;  // bumped by every login: tells concurrent callers a re-login happened
  std::optional<login_info> info;
  detail::async_semaphore session_gate{1};
};

}  // namespace vtsync::vtiger

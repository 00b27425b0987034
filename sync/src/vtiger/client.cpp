#include "vtsync/sync/vtiger/client.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <random>

#include "async_gate.hpp"

namespace vtsync::vtiger {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_remembered_secrets = 64;

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

struct raw_response {
  int status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
};

struct connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& tcp() { return secure ? secure->next_layer() : *plain; }

  // An idle kept-alive connection that became readable was closed by the server (EOF) or holds bytes nobody
  // asked for; either way it must not carry the next request. Checked without blocking.
  bool still_usable() {
    auto& sock = tcp().socket();
    if (!sock.is_open()) return false;
    char byte = 0;
    const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](unsigned char x, unsigned char y) { return std::tolower(x) == std::tolower(y); });
}

// Plain functions instead of braced temporaries: GCC 12 miscompiles ("array used as initializer") braced
// string-literal aggregates inside coroutines.
op_spec make_spec(std::string_view name, http_method method, bool needs_session, op_class cls) {
  op_spec spec;
  spec.name = std::string(name);
  spec.method = method;
  spec.needs_session = needs_session;
  spec.cls = cls;
  return spec;
}

param_list one_param(std::string_view name, std::string value) {
  param_list params;
  params.emplace_back(std::string(name), std::move(value));
  return params;
}

std::string describe_error(const error_code& ec) { return ec.message() + " [" + ec.category().name() + "]"; }

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// client_context

struct client_context::state {
  state(asio::any_io_executor ex, client_options opts)
      : executor(std::move(ex)),
        options(std::move(opts)),
        ep(parse_endpoint(options.url)),
        rate(options.max_requests_per_second),
        rng(std::random_device{}()) {
    if (ep.tls) {
      tls.emplace(ssl::context::tls_client);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      error_code ec;
      tls->set_default_verify_paths(ec);  // the system's CAs; a missing store only matters with verify on
      if (!options.ca_file.empty()) {
        tls->load_verify_file(options.ca_file, ec);
        if (ec)
          throw client_error(error_kind::tls, "cannot load ca_file " + options.ca_file + ": " + ec.message());
      }
      tls->set_verify_mode(options.verify_tls ? ssl::verify_peer : ssl::verify_none);
      if (!options.verify_tls) {
        log().warn(
            "TLS certificate verification is DISABLED for {} (verify_tls = false): anyone between vtsync and "
            "the "
            "server can impersonate Vtiger and read the synced data. Use ca_file for a private CA instead.",
            ep.to_string());
      }
    }
  }

  spdlog::logger& log() const { return options.logger ? *options.logger : *spdlog::default_logger_raw(); }

  awaitable<void> pace() {
    const auto now = rate_schedule::clock::now();
    const auto slot = rate.reserve(now);
    if (slot > now) {
      asio::steady_timer timer(executor, slot);
      co_await timer.async_wait(use_awaitable);
    }
  }

  void remember_secret(const std::string& secret) {
    if (secret.empty()) return;
    secrets.push_back(secret);
    if (secrets.size() > max_remembered_secrets) secrets.erase(secrets.begin());
  }

  // Server text (HTML pages, JSON excerpts) may echo what we sent; nothing secret leaves in a message.
  std::string scrub(std::string text) const {
    auto hide = [&text](const std::string& secret) {
      if (secret.empty()) return;
      for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3)) {
        text.replace(pos, secret.size(), "***");
      }
    };
    hide(options.access_key);
    for (const auto& s : secrets) hide(s);
    return text;
  }

  client_error scrubbed(const client_error& e) const {
    const std::string message = scrub(e.what());
    if (message == e.what()) return e;
    client_error copy(e.kind(), message, e.http_status(), e.api());
    return copy;
  }

  void count_request(std::string_view operation) {
    {
      std::lock_guard lock(stats_mutex);
      auto it = stats.requests.find(operation);
      if (it == stats.requests.end()) it = stats.requests.emplace(std::string(operation), 0).first;
      ++it->second;
    }
    if (options.hooks.on_request) options.hooks.on_request(operation);
  }

  void count_error(std::string_view code) {
    {
      std::lock_guard lock(stats_mutex);
      auto it = stats.errors.find(code);
      if (it == stats.errors.end()) it = stats.errors.emplace(std::string(code), 0).first;
      ++it->second;
    }
    if (options.hooks.on_error) options.hooks.on_error(code);
  }

  void count_retry(std::string_view operation, error_kind kind) {
    {
      std::lock_guard lock(stats_mutex);
      ++stats.retries;
    }
    if (options.hooks.on_retry) options.hooks.on_retry(operation, kind);
  }

  void count_login(bool relogin) {
    {
      std::lock_guard lock(stats_mutex);
      ++stats.logins;
      if (relogin) ++stats.relogins;
    }
    if (relogin && options.hooks.on_relogin) options.hooks.on_relogin();
  }

  asio::any_io_executor executor;
  client_options options;
  endpoint ep;
  std::optional<ssl::context> tls;
  rate_schedule rate;
  std::mt19937_64 rng;
  // One challenge token per user on the server: logins of all sessions of this user go one at a time.
  detail::async_semaphore login_gate{1};
  std::map<std::string, json, std::less<>> describe_cache;
  std::vector<std::string> secrets;  // login digests and session names, for scrub()
  mutable std::mutex stats_mutex;    // stats may be read from a metrics thread
  client_stats stats;
};

client_context::client_context(asio::any_io_executor executor, client_options options)
    : state_(std::make_unique<state>(std::move(executor), std::move(options))) {}
client_context::~client_context() = default;

const client_options& client_context::options() const { return state_->options; }
const endpoint& client_context::target() const { return state_->ep; }
asio::any_io_executor client_context::executor() const { return state_->executor; }
client_stats client_context::stats() const {
  std::lock_guard lock(state_->stats_mutex);
  return state_->stats;
}

// ---------------------------------------------------------------------------------------------------------
// inflight_limit

struct inflight_limit::impl {
  explicit impl(std::size_t max) : semaphore(std::max<std::size_t>(1, max)) {}
  detail::async_semaphore semaphore;
};

inflight_limit::inflight_limit(std::size_t max_in_flight) : impl_(std::make_unique<impl>(max_in_flight)) {}
inflight_limit::~inflight_limit() = default;

awaitable<inflight_limit::slot> inflight_limit::acquire() {
  auto self = shared_from_this();
  co_await impl_->semaphore.acquire();
  ++in_flight_;
  co_return slot(std::move(self));
}

void inflight_limit::release() {
  --in_flight_;
  impl_->semaphore.release();
}

inflight_limit::slot& inflight_limit::slot::operator=(slot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->release();
    owner_ = std::move(other.owner_);
  }
  return *this;
}

inflight_limit::slot::~slot() {
  if (owner_) owner_->release();
}

// ---------------------------------------------------------------------------------------------------------
// client::impl: one session and its connections

struct client::impl {
  explicit impl(std::shared_ptr<client_context> context) : ctx(std::move(context)), st(ctx->internal()) {}

  std::shared_ptr<client_context> ctx;
  client_context::state& st;
  std::vector<std::unique_ptr<connection>> idle;
  std::string session_name;      // never logged; scrubbed from messages
  std::uint64_t generation = 0;  // bumped by every login: tells concurrent callers a re-login happened
  std::optional<login_info> info;
  detail::async_semaphore session_gate{1};

  // --- transport ------------------------------------------------------------------------------------------

  http::request<http::string_body> build_request(http_method method, const param_list& params) const {
    http::request<http::string_body> req;
    req.version(11);
    req.set(http::field::host, st.ep.host_header());
    req.set(http::field::user_agent, "vtsync");
    req.set(http::field::accept, "application/json");
    if (method == http_method::get) {
      req.method(http::verb::get);
      req.target(st.ep.target + "?" + form_encode(params));
    } else {
      req.method(http::verb::post);
      req.target(st.ep.target);
      req.set(http::field::content_type, "application/x-www-form-urlencoded");
      req.body() = form_encode(params);
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  std::unique_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      if (conn->still_usable()) return conn;
    }
    return nullptr;
  }

  awaitable<std::unique_ptr<connection>> open_connection() {
    const auto timeout = st.options.timeout;
    // The resolver has no deadline of its own: a timer cancels it (shared state, as the timer may fire late).
    auto resolver = std::make_shared<tcp::resolver>(st.executor);
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(st.executor, timeout);
    timer.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver), timed_out](error_code ec) {
      if (ec) return;
      *timed_out = true;
      if (auto r = weak.lock()) r->cancel();
    });
    auto [rec, results] = co_await resolver->async_resolve(st.ep.host, st.ep.port, tuple_awaitable);
    timer.cancel();
    if (*timed_out) throw client_error(error_kind::timeout, "resolving " + st.ep.host + " timed out");
    if (rec)
      throw client_error(error_kind::connect, "cannot resolve " + st.ep.host + ": " + describe_error(rec));

    auto conn = std::make_unique<connection>();
    if (st.tls) {
      conn->secure.emplace(st.executor, *st.tls);
    } else {
      conn->plain.emplace(st.executor);
    }
    conn->tcp().expires_after(timeout);
    auto [cec, peer] = co_await conn->tcp().async_connect(results, tuple_awaitable);
    if (cec == beast::error::timeout) {
      throw client_error(error_kind::timeout, "connecting to " + st.ep.host_header() + " timed out");
    }
    if (cec) {
      throw client_error(error_kind::connect,
                         "cannot connect to " + st.ep.host_header() + ": " + describe_error(cec));
    }
    if (conn->secure) {
      auto* native = conn->secure->native_handle();
      error_code ip_ec;
      asio::ip::make_address(st.ep.host, ip_ec);
      // SNI carries host names only (RFC 6066), never an IP literal.
      if (ip_ec && !SSL_set_tlsext_host_name(native, st.ep.host.c_str())) {
        throw client_error(error_kind::tls, "cannot set TLS server name " + st.ep.host);
      }
      if (st.options.verify_tls) conn->secure->set_verify_callback(ssl::host_name_verification(st.ep.host));
      conn->tcp().expires_after(timeout);
      auto [hec] = co_await conn->secure->async_handshake(ssl::stream_base::client, tuple_awaitable);
      if (hec == beast::error::timeout) {
        throw client_error(error_kind::timeout, "TLS handshake with " + st.ep.host_header() + " timed out");
      }
      if (hec) {
        const bool tls_failure = hec.category() == asio::error::get_ssl_category() ||
                                 hec.category() == ssl::error::get_stream_category();
        throw client_error(tls_failure ? error_kind::tls : error_kind::connect,
                           "TLS handshake with " + st.ep.host_header() + " failed: " + describe_error(hec));
      }
    }
    co_return conn;
  }

  template <class Stream>
  awaitable<raw_response> exchange(Stream& stream, connection& conn,
                                   const http::request<http::string_body>& req, bool& sent) {
    const auto timeout = st.options.timeout;
    conn.tcp().expires_after(timeout);
    auto [wec, written] = co_await http::async_write(stream, req, tuple_awaitable);
    if (wec == beast::error::timeout)
      throw client_error(error_kind::timeout, "sending the request timed out");
    if (wec) throw client_error(error_kind::transport, "sending the request failed: " + describe_error(wec));
    // From here on the server may have acted on the request.
    sent = true;

    http::response_parser<http::string_body> parser;
    parser.body_limit(st.options.body_limit);
    conn.tcp().expires_after(timeout);
    auto [rec, read] = co_await http::async_read(stream, conn.buffer, parser, tuple_awaitable);
    if (rec == beast::error::timeout) {
      throw client_error(error_kind::timeout,
                         "no complete answer within " + std::to_string(timeout.count()) + " ms");
    }
    if (rec == http::error::body_limit) {
      throw client_error(error_kind::body_too_large, "the answer is larger than body_limit (" +
                                                         std::to_string(st.options.body_limit) + " bytes)");
    }
    if (rec) {
      // EOF, reset, a half-sent message, or a TLS stream cut without close_notify: the answer is incomplete.
      throw client_error(error_kind::transport,
                         "the connection broke before the whole answer arrived: " + describe_error(rec));
    }
    auto res = parser.release();
    raw_response raw;
    raw.status = static_cast<int>(res.result_int());
    raw.content_type = std::string(res[http::field::content_type]);
    raw.keep_alive = res.keep_alive();
    raw.body = std::move(res.body());
    co_return raw;
  }

  awaitable<raw_response> send_once(const http::request<http::string_body>& req, bool& sent) {
    auto conn = take_idle();
    if (!conn) conn = co_await open_connection();
    // On any failure `conn` dies with this frame: a connection that failed or timed out is never reused.
    // if/else, not ?: -- GCC 12 destroys the result of a co_await inside a conditional expression twice.
    raw_response raw;
    if (conn->secure) {
      raw = co_await exchange(*conn->secure, *conn, req, sent);
    } else {
      raw = co_await exchange(*conn->plain, *conn, req, sent);
    }
    if (raw.keep_alive && idle.size() < st.options.max_idle_connections) {
      idle.push_back(std::move(conn));
    }
    co_return raw;
  }

  // One request with the transient-failure retries (error.hpp). Returns Vtiger's answer.
  awaitable<api_result<json>> send_with_retries(const op_spec& spec, const param_list& params) {
    const auto req = build_request(spec.method, params);
    const auto& retry = st.options.retry;
    const auto started = std::chrono::steady_clock::now();
    for (int attempt = 1;; ++attempt) {
      co_await st.pace();
      inflight_limit::slot slot;
      if (st.options.inflight) slot = co_await st.options.inflight->acquire();
      st.count_request(spec.name);
      st.log().trace("vtiger -> {} {}", spec.method == http_method::get ? "GET" : "POST",
                     redact_params(params));

      bool sent = false;
      std::optional<client_error> failure;
      try {
        raw_response raw = co_await send_once(req, sent);
        if (spec.empty_500_means_unsupported && raw.status == 500 && raw.body.empty()) {
          throw client_error(error_kind::unsupported,
                             spec.name + " is not supported by this server (HTTP 500 with an empty body)",
                             500);
        }
        if (spec.records != nullptr && raw.status == 200) {
          if (auto records = parse_query_records(raw.body)) {
            *spec.records = std::move(records);
            co_return api_result<json>(boost::system::in_place_value, json());
          }
        }
        co_return parse_response(raw.status, raw.content_type, raw.body);
      } catch (const client_error& e) {
        failure.emplace(st.scrubbed(e));
      }
      slot = inflight_limit::slot();  // not held while sleeping

      const client_error& e = *failure;
      st.count_error(to_string(e.kind()));
      if (!e.transient() || spec.cls == op_class::logout) throw e;
      if (spec.cls == op_class::write && sent) {
        st.count_error(to_string(error_kind::outcome_unknown));
        throw client_error::outcome_unknown(e, spec.name);
      }
      const auto delay = backoff_delay(retry, attempt, st.rng);
      const auto elapsed = std::chrono::steady_clock::now() - started;
      if (attempt >= retry.max_attempts || elapsed + delay > retry.max_total) {
        throw client_error(
            e.kind(), spec.name + " failed after " + std::to_string(attempt) + " attempt(s): " + e.what(),
            e.http_status(), e.api());
      }
      st.count_retry(spec.name, e.kind());
      st.log().warn("vtiger {} failed ({}: {}); retry {} in {} ms", spec.name, to_string(e.kind()), e.what(),
                    attempt, delay.count());
      asio::steady_timer timer(st.executor, delay);
      co_await timer.async_wait(use_awaitable);
    }
  }

  // --- sessions --------------------------------------------------------------------------------------------

  // getchallenge + login, with the context's login gate held (one challenge token per user on the server).
  awaitable<login_info> do_login(bool relogin) {
    co_await st.login_gate.acquire();
    detail::async_semaphore::guard login_guard(st.login_gate);
    const op_spec challenge_spec = make_spec("getchallenge", http_method::get, false, op_class::login);
    const op_spec login_spec = make_spec("login", http_method::post, false, op_class::login);
    const std::string& user = st.options.username;
    for (int attempt = 1;; ++attempt) {
      param_list challenge_params;
      challenge_params.emplace_back("operation", "getchallenge");
      challenge_params.emplace_back("username", user);
      auto challenge = co_await send_with_retries(challenge_spec, challenge_params);
      if (!challenge) {
        st.count_error(challenge.error().code);
        throw client_error(error_kind::login_failed,
                           "getchallenge for user " + user + " refused: " + challenge.error().code + ": " +
                               st.scrub(challenge.error().message),
                           0, challenge.error());
      }
      if (!challenge->is_object() || !(*challenge)["token"].is_string()) {
        throw client_error(error_kind::bad_json, "getchallenge answered without a token");
      }
      const std::string digest = md5_hex((*challenge)["token"].get<std::string>() + st.options.access_key);
      st.remember_secret(digest);
      param_list login_params;
      login_params.emplace_back("operation", "login");
      login_params.emplace_back("username", user);
      login_params.emplace_back("accessKey", digest);
      auto answer = co_await send_with_retries(login_spec, login_params);
      if (answer) {
        if (!answer->is_object() || !(*answer)["sessionName"].is_string() ||
            (*answer)["sessionName"].get<std::string>().empty()) {
          throw client_error(error_kind::bad_json, "login answered without a sessionName");
        }
        const json& r = *answer;
        session_name = r["sessionName"].get<std::string>();
        st.remember_secret(session_name);
        auto text = [&r](const char* key) {
          auto it = r.find(key);
          return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        info = login_info{text("userId"), text("username"), text("time_zone"), text("vtigerVersion"),
                          text("version")};
        ++generation;
        idle.clear();  // a fresh session starts on fresh connections
        st.count_login(relogin);
        st.log().info("vtiger: logged in to {} as {} (user id {}, Vtiger {}){}", st.ep.to_string(), user,
                      info->user_id, info->vtiger_version, relogin ? " again after a session error" : "");
        co_return *info;
      }
      const api_error& err = answer.error();
      st.count_error(err.code);
      // Another process may have replaced this user's challenge token between our two calls (§3.2).
      if (attempt == 1 && (err.code == "INVALID_USER_CREDENTIALS" || err.code == "INVALID_AUTH_TOKEN")) {
        st.log().warn("vtiger: login as {} refused ({}); retrying once with a fresh challenge", user,
                      err.code);
        continue;
      }
      throw client_error(error_kind::login_failed,
                         "login as " + user + " refused: " + err.code + ": " + st.scrub(err.message), 0, err);
    }
  }

  // Logs in unless another caller already did since `seen_generation` was read: concurrent callers that hit
  // the same expired session share one re-login.
  awaitable<void> renew_session(std::uint64_t seen_generation, bool relogin) {
    co_await session_gate.acquire();
    detail::async_semaphore::guard guard(session_gate);
    if (generation != seen_generation && !session_name.empty()) co_return;
    co_await do_login(relogin);
  }

  awaitable<api_result<json>> invoke(const op_spec& spec, const param_list& params) {
    if (spec.needs_session && session_name.empty()) co_await renew_session(generation, false);
    bool relogged = false;
    for (;;) {
      const auto seen = generation;
      param_list full;
      full.reserve(params.size() + 2);
      full.emplace_back("operation", spec.name);
      if (spec.needs_session) full.emplace_back("sessionName", session_name);
      for (const auto& p : params) {
        if (p.first != "operation" && p.first != "sessionName") full.push_back(p);
      }
      auto answer = co_await send_with_retries(spec, full);
      if (!answer && spec.needs_session && spec.cls != op_class::logout && !relogged &&
          is_session_error(answer.error().code, spec.name)) {
        relogged = true;
        st.count_error(answer.error().code);
        st.log().info("vtiger: session no longer valid ({} on {}); logging in again", answer.error().code,
                      spec.name);
        co_await renew_session(seen, true);
        continue;
      }
      if (!answer) {
        st.count_error(answer.error().code);
        answer.error().message = st.scrub(std::move(answer.error().message));
      }
      co_return answer;
    }
  }
};

// ---------------------------------------------------------------------------------------------------------
// client

client::client(asio::any_io_executor executor, client_options options)
    : client(std::make_shared<client_context>(std::move(executor), std::move(options))) {}
client::client(std::shared_ptr<client_context> context) : impl_(std::make_shared<impl>(std::move(context))) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

const std::shared_ptr<client_context>& client::context() const { return impl_->ctx; }
bool client::logged_in() const { return !impl_->session_name.empty(); }
const std::optional<login_info>& client::session_info() const { return impl_->info; }

awaitable<login_info> client::login() {
  auto self = impl_;
  co_await self->session_gate.acquire();
  detail::async_semaphore::guard guard(self->session_gate);
  co_return co_await self->do_login(false);
}

awaitable<void> client::logout() {
  auto self = impl_;
  if (self->session_name.empty()) co_return;
  const op_spec spec = make_spec("logout", http_method::post, true, op_class::logout);
  try {
    auto answer = co_await self->invoke(spec, param_list());
    if (!answer) self->st.log().debug("vtiger: logout refused ({}); harmless", answer.error().code);
  } catch (const client_error& e) {
    // Stock Vtiger 8 on PHP 8 answers logout with HTTP 500 (fixture 126); the session simply idles out.
    self->st.log().debug("vtiger: logout failed ({}: {}); harmless", to_string(e.kind()), e.what());
  }
  self->session_name.clear();
  self->info.reset();
  self->idle.clear();
}

awaitable<api_result<json>> client::listtypes() {
  auto self = impl_;
  const op_spec spec = make_spec("listtypes", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, param_list());
}

awaitable<api_result<json>> client::describe(std::string module) {
  auto self = impl_;
  auto& cache = self->st.describe_cache;
  if (auto it = cache.find(module); it != cache.end()) {
    co_return api_result<json>(boost::system::in_place_value, it->second);
  }
  const op_spec spec = make_spec("describe", http_method::get, true, op_class::read);
  auto answer = co_await self->invoke(spec, one_param("elementType", module));
  if (answer) cache.insert_or_assign(module, *answer);
  co_return answer;
}

awaitable<api_result<json>> client::query(std::string vtql) {
  auto self = impl_;
  const op_spec spec = make_spec("query", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, one_param("query", std::move(vtql)));
}

awaitable<api_result<record_answer>> client::query_records(std::string vtql) {
  auto self = impl_;
  std::optional<std::vector<flat_record>> records;
  op_spec spec = make_spec("query", http_method::get, true, op_class::read);
  spec.records = &records;
  auto answer = co_await self->invoke(spec, one_param("query", std::move(vtql)));
  if (!answer) co_return api_result<record_answer>(boost::system::in_place_error, answer.error());
  record_answer out;
  if (records) {
    out.records = std::move(*records);
  } else {
    out.other = std::move(*answer);
  }
  co_return api_result<record_answer>(boost::system::in_place_value, std::move(out));
}

awaitable<api_result<json>> client::retrieve(std::string id) {
  auto self = impl_;
  const op_spec spec = make_spec("retrieve", http_method::get, true, op_class::read);
  co_return co_await self->invoke(spec, one_param("id", std::move(id)));
}

awaitable<api_result<json>> client::create(std::string module, json element) {
  auto self = impl_;
  const op_spec spec = make_spec("create", http_method::post, true, op_class::write);
  param_list params = one_param("elementType", std::move(module));
  params.emplace_back("element", encode_element(element));
  co_return co_await self->invoke(spec, params);
}

awaitable<api_result<json>> client::update(json element) {
  auto self = impl_;
  const op_spec spec = make_spec("update", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("element", encode_element(element)));
}

awaitable<api_result<json>> client::revise(json element) {
  auto self = impl_;
  const op_spec spec = make_spec("revise", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("element", encode_element(element)));
}

awaitable<api_result<json>> client::delete_record(std::string id) {
  auto self = impl_;
  const op_spec spec = make_spec("delete", http_method::post, true, op_class::write);
  co_return co_await self->invoke(spec, one_param("id", std::move(id)));
}

awaitable<api_result<std::optional<json>>> client::sync(std::string module, std::int64_t modified_time,
                                                        std::optional<std::string> sync_type) {
  auto self = impl_;
  // "0" counts as a missing parameter on the server (§13.2): start from 1.
  param_list params = one_param("modifiedTime", std::to_string(std::max<std::int64_t>(1, modified_time)));
  if (!module.empty()) params.emplace_back("elementType", std::move(module));
  if (sync_type) params.emplace_back("syncType", std::move(*sync_type));
  op_spec spec = make_spec("sync", http_method::get, true, op_class::read);
  spec.empty_500_means_unsupported = true;
  bool unsupported = false;
  api_result<json> answer(boost::system::in_place_value, json());
  try {
    answer = co_await self->invoke(spec, params);
  } catch (const client_error& e) {
    if (e.kind() != error_kind::unsupported) throw;
    unsupported = true;
  }
  if (unsupported) {
    self->st.log().debug("vtiger: sync is not supported by this server (stock Vtiger 8 on PHP 8)");
    co_return api_result<std::optional<json>>(boost::system::in_place_value, std::nullopt);
  }
  if (!answer) co_return api_result<std::optional<json>>(boost::system::in_place_error, answer.error());
  co_return api_result<std::optional<json>>(boost::system::in_place_value, std::move(*answer));
}

awaitable<bool> client::probe_sync(std::string module) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto answer = co_await sync(module, now);
  if (!answer) {
    impl_->st.log().info("vtiger: sync probe for {} refused ({}); treating sync as unavailable", module,
                         answer.error().code);
    co_return false;
  }
  co_return answer->has_value();
}

awaitable<api_result<json>> client::call(std::string operation, param_list params, http_method method) {
  auto self = impl_;
  // Never send a sessionName with getchallenge or login: the server would validate it (§3.2).
  const bool prelogin = iequals(operation, "getchallenge") || iequals(operation, "login");
  const op_class cls = prelogin                       ? op_class::login
                       : iequals(operation, "logout") ? op_class::logout
                       : method == http_method::post  ? op_class::write
                                                      : op_class::read;
  const op_spec spec = make_spec(operation, method, !prelogin, cls);
  co_return co_await self->invoke(spec, params);
}

awaitable<std::vector<client>> open_sessions(std::shared_ptr<client_context> context, std::size_t count,
                                             bool rest_in_background) {
  std::vector<client> sessions;
  sessions.reserve(count);
  std::vector<std::shared_ptr<client::impl>> later;
  for (std::size_t i = 0; i < count; ++i) {
    client session(context);
    if (i == 0 || !rest_in_background) {
      co_await session.login();  // one after another: the server keeps one challenge token per user
    } else {
      later.push_back(session.impl_);
    }
    sessions.push_back(std::move(session));
  }
  if (!later.empty()) {
    asio::co_spawn(
        context->executor(),
        [](std::vector<std::shared_ptr<client::impl>> rest) -> awaitable<void> {
          for (const auto& self : rest) {
            co_await self->session_gate.acquire();
            detail::async_semaphore::guard guard(self->session_gate);
            if (!self->session_name.empty()) continue;  // its first request got there first
            try {
              co_await self->do_login(false);
            } catch (const client_error& e) {
              // The session logs in again on its first request, which reports the error.
              self->st.log().debug("vtiger: background login failed ({}); retried on first use",
                                   self->st.scrubbed(e).what());
            }
          }
        }(std::move(later)),
        asio::detached);
  }
  co_return sessions;
}

}  // namespace vtsync::vtiger

// The HTTP transport of one session (client::impl::send_with_retries): its pool of kept-alive connections,
// opening one (resolve, connect, TLS handshake with SNI and host name verification), one request/answer
// exchange under options.timeout and body_limit, and the retry loop around it (rate, in-flight limit,
// backoff, and no re-send of a write once it may have reached the server).
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>

#include "client_impl.hpp"

namespace vtsync::vtiger {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using detail::connection_pool;
using connection = connection_pool::connection;

struct connection_pool::connection {
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

connection_pool::connection_pool() = default;
connection_pool::~connection_pool() = default;

std::unique_ptr<connection> connection_pool::take() {
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (conn->still_usable()) return conn;
  }
  return nullptr;
}

void connection_pool::give_back(std::unique_ptr<connection> conn, std::size_t max_idle) {
  if (idle_.size() < max_idle) idle_.push_back(std::move(conn));
}

void connection_pool::clear() { idle_.clear(); }

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct raw_response {
  int status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
};

std::string describe_error(const error_code& ec) { return ec.message() + " [" + ec.category().name() + "]"; }

http::request<http::string_body> build_request(const endpoint& ep, http_method method,
                                               const param_list& params) {
  http::request<http::string_body> req;
  req.version(11);
  req.set(http::field::host, ep.host_header());
  req.set(http::field::user_agent, "vtsync");
  req.set(http::field::accept, "application/json");
  if (method == http_method::get) {
    req.method(http::verb::get);
    req.target(ep.target + "?" + form_encode(params));
  } else {
    req.method(http::verb::post);
    req.target(ep.target);
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.body() = form_encode(params);
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

awaitable<std::unique_ptr<connection>> open_connection(client_context::state& st) {
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
awaitable<raw_response> exchange(const client_context::state& st, Stream& stream, connection& conn,
                                 const http::request<http::string_body>& req, bool& sent) {
  const auto timeout = st.options.timeout;
  conn.tcp().expires_after(timeout);
  auto [wec, written] = co_await http::async_write(stream, req, tuple_awaitable);
  if (wec == beast::error::timeout) throw client_error(error_kind::timeout, "sending the request timed out");
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

// One attempt: on an idle connection of `pool` or a new one; `sent` turns true once the request is written.
awaitable<raw_response> send_once(client_context::state& st, connection_pool& pool,
                                  const http::request<http::string_body>& req, bool& sent) {
  auto conn = pool.take();
  if (!conn) conn = co_await open_connection(st);
  // On any failure `conn` dies with this frame: a connection that failed or timed out is never reused.
  // if/else, not ?: -- GCC 12 destroys the result of a co_await inside a conditional expression twice.
  raw_response raw;
  if (conn->secure) {
    raw = co_await exchange(st, *conn->secure, *conn, req, sent);
  } else {
    raw = co_await exchange(st, *conn->plain, *conn, req, sent);
  }
  if (raw.keep_alive) pool.give_back(std::move(conn), st.options.max_idle_connections);
  co_return raw;
}

}  // namespace

awaitable<api_result<json>> client::impl::send_with_retries(const detail::op_spec& spec,
                                                            const param_list& params) {
  const auto req = build_request(st.ep, spec.method, params);
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
    const auto asked = std::chrono::steady_clock::now();
    try {
      raw_response raw = co_await send_once(st, connections, req, sent);
      st.time_answer(spec.name, std::chrono::steady_clock::now() - asked);
      if (spec.empty_500_means_unsupported && raw.status == 500 && raw.body.empty()) {
        throw client_error(error_kind::unsupported,
                           spec.name + " is not supported by this server (HTTP 500 with an empty body)", 500);
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
    if (failure && sent) st.time_answer(spec.name, std::chrono::steady_clock::now() - asked);
    slot = inflight_limit::slot();  // not held while sleeping

    const client_error& e = *failure;
    st.count_error(to_string(e.kind()));
    if (!e.transient() || spec.cls == detail::op_class::logout) throw e;
    if (spec.cls == detail::op_class::write && sent) {
      st.count_error(to_string(error_kind::outcome_unknown));
      throw client_error::outcome_unknown(e, spec.name);
    }
    const auto delay = backoff_delay(retry, attempt, st.rng);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (attempt >= retry.max_attempts || elapsed + delay > retry.max_total) {
      throw client_error(e.kind(),
                         spec.name + " failed after " + std::to_string(attempt) + " attempt(s): " + e.what(),
                         e.http_status(), e.api());
    }
    st.count_retry(spec.name, e.kind());
    st.log().warn("vtiger {} failed ({}: {}); retry {} in {} ms", spec.name, to_string(e.kind()), e.what(),
                  attempt, delay.count());
    asio::steady_timer timer(st.executor, delay);
    co_await timer.async_wait(use_awaitable);
  }
}

}  // namespace vtsync::vtiger

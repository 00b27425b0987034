#include "vtsync/daemon/health_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_generator.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/message_generator.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace vtsync::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

asio::ip::tcp::endpoint parse_listen_address(std::string_view text) {
  auto fail = [&](std::string_view why) -> tcp::endpoint {
    throw std::invalid_argument("invalid listen address \"" + std::string(text) + "\": " + std::string(why));
  };
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (text.starts_with('[')) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return fail("expected [IPv6]:port");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected address:port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail("an IPv6 address needs brackets: [::1]:8089");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return fail("port must be a number from 0 to 65535");
  if (!bracketed && host == "localhost") host = "127.0.0.1";
  boost::system::error_code addr_ec;
  asio::ip::address address;
  if (bracketed) {
    address = asio::ip::make_address_v6(std::string(host), addr_ec);
  } else {
    address = asio::ip::make_address_v4(std::string(host), addr_ec);
  }
  if (addr_ec) return fail(bracketed ? "not a numeric IPv6 address" : "not a numeric IPv4 address");
  return tcp::endpoint{address, static_cast<unsigned short>(port)};
}

readiness_tracker::readiness_tracker(std::vector<std::string> modules, clock::duration poll_interval)
    : poll_interval_(poll_interval) {
  for (auto& m : modules) modules_.push_back({std::move(m), std::nullopt});
}

void readiness_tracker::set_postgres(bool reached, std::string problem) {
  postgres_ = reached;
  postgres_problem_ = std::move(problem);
}

void readiness_tracker::set_vtiger(bool reached, std::string problem) {
  vtiger_ = reached;
  vtiger_problem_ = std::move(problem);
}

void readiness_tracker::module_synced(std::string_view module, clock::time_point when) {
  for (auto& m : modules_)
    if (m.name == module) m.last_success = when;
}

readiness readiness_tracker::evaluate(clock::time_point now) const {
  readiness r{
      true, {}, {{"postgres", postgres_}, {"vtiger", vtiger_}, {"modules", nlohmann::json::object()}}};
  auto fail = [&](std::string reason) {
    if (r.ready) r.reason = std::move(reason);  // keep the first problem
    r.ready = false;
  };
  if (!postgres_)
    fail("PostgreSQL not reached" + (postgres_problem_.empty() ? "" : ": " + postgres_problem_));
  if (!vtiger_) fail("Vtiger not reached" + (vtiger_problem_.empty() ? "" : ": " + vtiger_problem_));
  const auto limit = 3 * poll_interval_;
  const auto limit_s = std::chrono::duration_cast<std::chrono::seconds>(limit).count();
  for (const auto& m : modules_) {
    auto& detail = r.details["modules"][m.name];
    if (!m.last_success) {
      detail = {{"synced", false}};
      fail(m.name + " has not completed a sync cycle yet");
      continue;
    }
    auto age = now - *m.last_success;
    auto age_s = std::chrono::duration_cast<std::chrono::seconds>(age).count();
    bool fresh = age <= limit;
    detail = {{"synced", fresh}, {"age_seconds", age_s}};
    if (!fresh)
      fail(m.name + " last synced " + std::to_string(age_s) + " s ago (limit " + std::to_string(limit_s) +
           " s, 3 poll intervals)");
  }
  return r;
}

struct health_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor executor, health_server_options opts, health_state st)
      : ex(std::move(executor)), options(std::move(opts)), state(std::move(st)), acceptor(ex) {}

  asio::any_io_executor ex;
  health_server_options options;
  health_state state;
  tcp::acceptor acceptor;
  tcp::endpoint bound;
  bool stopped = false;
  std::uint64_t next_id = 0;
  // Open connections, so stop() can close them; each session removes itself when it ends.
  std::unordered_map<std::uint64_t, beast::tcp_stream*> connections;

  // Static, taking the owner by shared_ptr: a coroutine frame must keep the state alive by itself.
  static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self);
  static asio::awaitable<void> session(std::shared_ptr<impl> self, tcp::socket socket, std::uint64_t id);
  http::message_generator handle(const http::request<http::string_body>& req);
  void stop();
};

namespace {

template <class Response>
void set_common_headers(Response& res, std::string_view content_type) {
  res.set(http::field::server, "vtsyncd");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy", content_security_policy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
}

template <class Request>
http::message_generator make_response(const Request& req, http::status status, std::string_view content_type,
                                      std::string body, bool keep_alive) {
  if (req.method() == http::verb::head) {
    // HEAD: the headers GET would send, Content-Length included, and no body.
    http::response<http::empty_body> res{status, req.version()};
    set_common_headers(res, content_type);
    res.content_length(body.size());
    res.keep_alive(keep_alive);
    return res;
  }
  http::response<http::string_body> res{status, req.version()};
  set_common_headers(res, content_type);
  if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

std::string dump(const nlohmann::json& j) {
  // Providers may carry Vtiger strings with broken UTF-8; never let that turn into a 500.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

constexpr std::string_view json_type = "application/json";
constexpr std::string_view text_type = "text/plain; charset=utf-8";
constexpr std::string_view prometheus_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

http::message_generator health_server::impl::handle(const http::request<http::string_body>& req) {
  const bool keep_alive = req.keep_alive();
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return make_response(req, http::status::method_not_allowed, text_type, "method not allowed\n",
                         keep_alive);
  }
  std::string_view path = req.target();
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);

  try {
    if (path == "/healthz") {
      return make_response(req, http::status::ok, text_type, "ok\n", keep_alive);
    }
    if (path == "/readyz") {
      readiness r = state.readiness_provider ? state.readiness_provider() : readiness{false, "starting", {}};
      nlohmann::json body = r.details.is_object() ? r.details : nlohmann::json::object();
      body["ready"] = r.ready;
      if (!r.ready) body["reason"] = r.reason.empty() ? std::string("not ready") : r.reason;
      return make_response(req, r.ready ? http::status::ok : http::status::service_unavailable, json_type,
                           dump(body), keep_alive);
    }
    if (path == "/metrics") {
      std::string text = state.metrics_provider ? state.metrics_provider() : std::string{};
      return make_response(req, http::status::ok, prometheus_type, std::move(text), keep_alive);
    }
    if (path == "/status") {
      nlohmann::json body = state.status_provider ? state.status_provider() : nlohmann::json::object();
      return make_response(req, http::status::ok, json_type, dump(body), keep_alive);
    }
    if (state.page_provider) {
      if (auto answer = state.page_provider(path)) {
        return make_response(req, http::status::ok, answer->content_type, std::move(answer->body),
                             keep_alive);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("health endpoint {}: {}", path, e.what());
    return make_response(req, http::status::internal_server_error, json_type,
                         dump({{"error", "internal error"}}), keep_alive);
  }
  return make_response(req, http::status::not_found, text_type, "not found\n", keep_alive);
}

asio::awaitable<void> health_server::impl::session(std::shared_ptr<impl> self, tcp::socket socket,
                                                   std::uint64_t id) {
  if (self->stopped) co_return;
  const auto& options = self->options;
  beast::tcp_stream stream{std::move(socket)};
  self->connections.emplace(id, &stream);
  struct unregister {
    impl* owner;
    std::uint64_t id;
    ~unregister() { owner->connections.erase(id); }
  } guard{self.get(), id};

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
    parser.body_limit(options.body_limit);
    // One deadline for the whole request: a client trickling bytes (slowloris) or idling on keep-alive
    // is cut off when it expires.
    stream.expires_after(options.request_timeout);
    auto [ec, bytes] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)bytes;
    if (self->stopped) co_return;
    if (ec == http::error::end_of_stream) break;
    if (ec) {
      std::optional<http::status> status;
      if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
      } else if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::partial_message) {
        status = http::status::bad_request;  // a malformed request, not a vanished client
      }
      if (!status) {
        spdlog::debug("health connection: read: {}", ec.message());
        co_return;
      }
      http::request<http::string_body> dummy{http::verb::get, "/", 11};
      stream.expires_after(options.write_timeout);
      auto [wec, wn] = co_await beast::async_write(
          stream,
          make_response(dummy, *status, text_type, std::string(http::obsolete_reason(*status)) + "\n", false),
          asio::as_tuple(asio::use_awaitable));
      (void)wn;
      if (self->stopped || wec) co_return;
      // Lingering close: the client may still be sending the rest of its oversize request. Closing with
      // unread input makes the kernel send RST, which can destroy our answer before the client reads it;
      // so stop sending, then drain (bounded in time and size) until the client closes.
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.expires_after(std::chrono::seconds{2});
      std::array<char, 4096> sink;
      for (std::size_t drained = 0; drained < std::size_t{256} * 1024;) {
        auto [dec, n] =
            co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
        if (dec || self->stopped) break;
        drained += n;
      }
      co_return;
    }

    auto response = self->handle(parser.get());
    const bool keep_alive = response.keep_alive();
    stream.expires_after(options.write_timeout);
    auto [wec, written] =
        co_await beast::async_write(stream, std::move(response), asio::as_tuple(asio::use_awaitable));
    (void)written;
    if (self->stopped) co_return;
    if (wec) {
      spdlog::debug("health connection: write: {}", wec.message());
      co_return;
    }
    if (!keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> health_server::impl::accept_loop(std::shared_ptr<impl> self) {
  asio::steady_timer backoff{self->ex};
  for (;;) {
    auto [ec, socket] = co_await self->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (self->stopped) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: accepting again at once would spin; pause briefly and keep serving.
      spdlog::warn("health endpoint: accept: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds{100});
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->stopped) co_return;
      continue;
    }
    if (self->connections.size() >= self->options.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto id = self->next_id++;
    asio::co_spawn(self->ex, session(self, std::move(socket), id), [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("health connection ended by an exception: {}", ex.what());
      }
    });
  }
}

void health_server::impl::stop() {
  if (stopped) return;
  stopped = true;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  // Closing cancels each session's pending read or write; the sessions then see `stopped` and return
  // without calling a provider again.
  auto open = connections;
  for (auto& [id, stream] : open) stream->close();
}

health_server::health_server(asio::any_io_executor executor, health_server_options options,
                             health_state state)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), std::move(state))) {
  tcp::endpoint endpoint = parse_listen_address(impl_->options.listen);
  auto& acceptor = impl_->acceptor;
  boost::system::error_code ec;
  auto check = [&](std::string_view what) {
    if (ec)
      throw boost::system::system_error(
          ec, "health endpoint " + impl_->options.listen + ": " + std::string(what));
  };
  acceptor.open(endpoint.protocol(), ec);
  check("socket");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  check("SO_REUSEADDR");
  if (endpoint.address().is_v6()) {
    acceptor.set_option(asio::ip::v6_only(true), ec);
    check("IPV6_V6ONLY");
  }
  acceptor.bind(endpoint, ec);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check("listen");
  impl_->bound = acceptor.local_endpoint();
}

health_server::~health_server() { stop(); }

void health_server::start() {
  asio::co_spawn(impl_->ex, impl::accept_loop(impl_), [](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("health endpoint stopped by an exception: {}", ex.what());
    }
  });
}

void health_server::stop() { impl_->stop(); }

asio::ip::tcp::endpoint health_server::local_endpoint() const { return impl_->bound; }

}  // namespace vtsync::daemon

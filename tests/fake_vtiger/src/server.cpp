#include "fake_vtiger/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <regex>
#include <unordered_map>

namespace vtsync::fake {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
constexpr auto k_tuple = asio::as_tuple(use_awaitable);

// PHP locks a session's file for the whole request: requests on one sessionName run one at a time.
class session_locks {
 public:
  // Returns true when the request had to wait.
  awaitable<bool> acquire(const std::string& key) {
    auto& e = map_[key];
    if (!e.busy) {
      e.busy = true;
      co_return false;
    }
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                      asio::steady_timer::time_point::max());
    e.waiters.push_back(timer);
    // release() cancels the timer to hand the lock over; the lock stays busy for us.
    co_await timer->async_wait(k_tuple);
    co_return true;
  }

  void release(const std::string& key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return;
    if (!it->second.waiters.empty()) {
      auto next = it->second.waiters.front();
      it->second.waiters.pop_front();
      next->cancel();
    } else {
      map_.erase(it);
    }
  }

 private:
  struct entry {
    bool busy = false;
    std::deque<std::shared_ptr<asio::steady_timer>> waiters;
  };
  std::unordered_map<std::string, entry> map_;
};

struct shared_state {
  service& svc;
  session_locks locks;
  int latency_ms = 0;
  std::FILE* request_log = nullptr;
};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The module a request is about: elementType, the FROM of a query, or the module of the record's id.
std::string module_of(const service& svc, const form_fields& f, std::string& id) {
  if (auto it = f.find("elementType"); it != f.end()) return it->second;
  if (auto it = f.find("query"); it != f.end()) {
    static const std::regex from{R"(\bfrom\s+([A-Za-z_][A-Za-z0-9_]*))", std::regex::icase};
    std::smatch m;
    if (std::regex_search(it->second, m, from)) return m[1].str();
  }
  if (auto it = f.find("id"); it != f.end()) id = it->second;
  if (id.empty()) {
    if (auto it = f.find("element"); it != f.end()) {
      static const std::regex id_re{R"re("id"\s*:\s*"([0-9]+x[0-9]+)")re"};
      std::smatch m;
      if (std::regex_search(it->second, m, id_re)) id = m[1].str();
    }
  }
  const auto x = id.find('x');
  if (x == std::string::npos || x == 0) return {};
  try {
    const int mi = svc.records().module_by_prefix(std::stoi(id.substr(0, x)));
    if (mi >= 0) return svc.records().modules()[static_cast<std::size_t>(mi)].name;
  } catch (const std::exception&) {
  }
  return {};
}

void log_request(shared_state& state, const http_in& in, std::int64_t start, int status,
                 unsigned short port) {
  const auto q = in.target.find('?');
  form_fields f =
      parse_form(q == std::string::npos ? std::string_view{} : std::string_view(in.target).substr(q + 1));
  if (in.method == "POST") {
    for (auto& [k, v] : parse_form(in.body)) f[k] = v;
  }
  nlohmann::json line;
  line["start_ms"] = start;
  line["end_ms"] = unix_ms();
  line["operation"] = f.contains("operation") ? f["operation"] : std::string{};
  std::string id;
  line["module"] = module_of(state.svc, f, id);
  line["id"] = id;
  line["session"] = f.contains("sessionName") ? f["sessionName"] : std::string{};
  line["port"] = port;
  if (auto it = f.find("query"); it != f.end()) line["query"] = it->second.substr(0, 300);
  line["status"] = status;
  const std::string text = line.dump() + "\n";
  std::fwrite(text.data(), 1, text.size(), state.request_log);
  std::fflush(state.request_log);
}

awaitable<void> sleep_ms(int ms) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds{ms});
  co_await t.async_wait(k_tuple);
}

std::string raw_response(const http_out& out, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
  res.set(http::field::content_type, out.content_type);
  res.keep_alive(keep_alive);
  res.body() = out.body;
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  return os.str();
}

template <class Stream>
void abort_connection(Stream& stream, bool hard) {
  auto& sock = beast::get_lowest_layer(stream).socket();
  beast::error_code ec;
  if (hard) sock.set_option(asio::socket_base::linger(true, 0), ec);  // RST instead of FIN
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
}

template <class Stream>
awaitable<void> serve(Stream& stream, shared_state& state) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    beast::get_lowest_layer(stream).expires_after(std::chrono::minutes{10});
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, k_tuple);
    if (ec) co_return;
    auto& req = parser.get();
    const bool keep_alive = req.keep_alive();
    http_in in{std::string(req.method_string()), std::string(req.target()), std::move(req.body()),
               std::string(req[http::field::content_type])};
    const bool webservice = in.target.rfind("/_fake/", 0) != 0;
    const std::string sid = webservice ? service::session_name_of(in) : std::string();
    const auto start_ms = unix_ms();
    if (!sid.empty() && co_await state.locks.acquire(sid)) state.svc.note_session_wait();
    http_out out;
    try {
      if (webservice && state.latency_ms > 0) co_await sleep_ms(state.latency_ms);
      out = state.svc.handle(in);
      if (out.delay_ms > 0) co_await sleep_ms(out.delay_ms);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fake-vtiger: request failed: %s\n", e.what());
      out = http_out{};
      out.status = 500;
      out.content_type = "text/html; charset=UTF-8";
      out.body.clear();
    }
    if (!sid.empty()) state.locks.release(sid);
    if (webservice && state.request_log != nullptr) {
      beast::error_code pec;
      const auto peer = beast::get_lowest_layer(stream).socket().remote_endpoint(pec);
      log_request(state, in, start_ms, out.status, pec ? 0 : peer.port());
    }

    beast::get_lowest_layer(stream).expires_after(std::chrono::minutes{1});
    switch (out.act) {
      case http_out::action::reset:
        abort_connection(stream, true);
        co_return;
      case http_out::action::drop:
        abort_connection(stream, false);
        co_return;
      case http_out::action::truncate: {
        const std::string full = raw_response(out, false);
        const auto header_end = full.find("\r\n\r\n") + 4;
        const std::string part = full.substr(0, header_end + out.body.size() / 2);
        co_await asio::async_write(stream, asio::buffer(part), k_tuple);
        abort_connection(stream, false);
        co_return;
      }
      case http_out::action::respond:
        break;
    }
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::content_type, out.content_type);
    res.keep_alive(keep_alive);
    res.body() = std::move(out.body);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, k_tuple);
    if (wec || !keep_alive) {
      abort_connection(stream, false);
      co_return;
    }
  }
}

awaitable<void> serve_plain(tcp::socket socket, shared_state& state) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, state);
}

awaitable<void> serve_tls(tcp::socket socket, asio::ssl::context& ctx, shared_state& state) {
  asio::ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), ctx);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{30});
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, k_tuple);
  if (ec) co_return;
  co_await serve(stream, state);
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, shared_state& state, asio::ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(k_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto on_done = [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "fake-vtiger: connection ended: %s\n", ex.what());
      }
    };
    if (tls != nullptr) {
      asio::co_spawn(acceptor.get_executor(), serve_tls(std::move(socket), *tls, state), on_done);
    } else {
      asio::co_spawn(acceptor.get_executor(), serve_plain(std::move(socket), state), on_done);
    }
  }
}

}  // namespace

int run_server(service& svc, const server_options& options) {
  asio::io_context ioc{1};
  std::unique_ptr<asio::ssl::context> tls;
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    try {
      tls->use_certificate_chain_file(options.tls_cert);
      tls->use_private_key_file(options.tls_key, asio::ssl::context::pem);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot load --tls-cert/--tls-key: " + std::string(e.what()));
    }
  }
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint ep(asio::ip::make_address(options.host), options.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  shared_state state{svc, {}, options.latency_ms};
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log_file{nullptr, &std::fclose};
  if (!options.request_log.empty()) {
    log_file.reset(std::fopen(options.request_log.c_str(), "a"));
    if (!log_file) throw std::runtime_error("cannot open --request-log " + options.request_log);
    state.request_log = log_file.get();
  }
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  asio::co_spawn(ioc, accept_loop(acceptor, state, tls.get()), asio::detached);
  const auto bound = acceptor.local_endpoint();
  std::printf("fake-vtiger listening on %s:%u\n", bound.address().to_string().c_str(),
              static_cast<unsigned>(bound.port()));
  std::fflush(stdout);
  ioc.run();
  return 0;
}

}  // namespace vtsync::fake

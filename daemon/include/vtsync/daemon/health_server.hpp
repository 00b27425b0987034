#pragma once
// The health endpoint (`[health] listen`): a small read-only HTTP/1.1 server on the daemon's event loop.
//   GET /healthz  200 "ok"                 the loop runs (it answered)
//   GET /readyz   200 {"ready":true,...}   or 503 {"ready":false,"reason":"..."}
//   GET /metrics  Prometheus text format 0.0.4
//   GET /status   the status provider's JSON (the same document as `vtsyncd status --json`)
//   GET /, /ui.js, /ui.css, /ui/recent.json   the operator page (the page provider's answers)
// HEAD works on every path; any other method is 405, any other path 404. Nothing ever writes.
//
// It answers from memory only: readiness, status and metrics come from the owner's callbacks, which run
// on the server's executor (the daemon's loop thread) and must return at once — never wait on
// PostgreSQL or Vtiger there; report the last known state instead.
//
// Every answer carries a strict Content-Security-Policy (only this origin's script, style and fetches; no
// inline script, no frames, no forms) and X-Content-Type-Options: nosniff.
//
// Defences: a deadline for each whole request (slowloris) and each write, small header and body limits
// (431 / 413), a cap on concurrent connections (excess ones are closed at once), keep-alive allowed.
//
// Error policy: a bad listen address throws std::invalid_argument; bind/listen failures (address in use,
// permission) throw boost::system::system_error from the constructor. Per-connection errors end that
// connection and are logged at debug level; an exception from a callback becomes a 500 and is logged.
// Nothing propagates out of the accept loop.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::daemon {

struct readiness {
  bool ready = false;
  std::string reason;      // why not ready; empty when ready
  nlohmann::json details;  // optional object merged into the /readyz body (e.g. per-check results)
};

// One answer of the page provider.
struct page {
  std::string content_type;
  std::string body;
};

// What the server reports. Unset callbacks: /readyz says 503 "starting", /status is {} and /metrics is
// empty text; without a page provider, the page's paths are 404.
struct health_state {
  std::function<readiness()> readiness_provider;
  std::function<nlohmann::json()> status_provider;
  std::function<std::string()> metrics_provider;  // e.g. [&m] { return m.render(); }
  // Asked for any other path (without its query); nullopt: 404.
  std::function<std::optional<page>(std::string_view path)> page_provider;
};

// The Content-Security-Policy every answer carries.
inline constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The contract's readiness rule, kept by the owner on the loop thread: ready when PostgreSQL and Vtiger
// were reached and every module completed a sync cycle within the last 3 poll intervals.
// readiness_provider = [&t] { return t.evaluate(); }
class readiness_tracker {
 public:
  using clock = std::chrono::steady_clock;
  readiness_tracker(std::vector<std::string> modules, clock::duration poll_interval);

  void set_postgres(bool reached, std::string problem = {});  // problem: why not, for the reason text
  void set_vtiger(bool reached, std::string problem = {});
  void module_synced(std::string_view module, clock::time_point when = clock::now());  // unknown: ignored
  void set_poll_interval(clock::duration poll_interval) { poll_interval_ = poll_interval; }  // after a reload

  // details: {"postgres":bool,"vtiger":bool,"modules":{"Contacts":{"synced":bool,"age_seconds":n}}};
  // reason: the first problem found (PostgreSQL, then Vtiger, then modules in configured order).
  [[nodiscard]] readiness evaluate(clock::time_point now = clock::now()) const;

 private:
  struct module_state {
    std::string name;
    std::optional<clock::time_point> last_success;
  };
  std::vector<module_state> modules_;
  clock::duration poll_interval_;
  bool postgres_ = false;
  bool vtiger_ = false;
  std::string postgres_problem_;
  std::string vtiger_problem_;
};

inline constexpr std::string_view default_health_listen = "127.0.0.1:8089";

struct health_server_options {
  std::string listen{default_health_listen};  // "127.0.0.1:8089", "[::1]:8089"; port 0 picks a free one
  std::chrono::milliseconds request_timeout{
      10'000};  // to receive one whole request (also the keep-alive idle time)
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t header_limit = std::size_t{8} * 1024;
  std::size_t body_limit = 1024;  // GET/HEAD carry no body; anything bigger is a misuse
  std::size_t max_connections = 64;
};

// "IPv4:port", "[IPv6]:port" or "localhost:port" (= 127.0.0.1), numeric otherwise (no name resolution on
// the loop). Throws std::invalid_argument whose message says what is wrong (fit for a config error).
[[nodiscard]] boost::asio::ip::tcp::endpoint parse_listen_address(std::string_view text);

class health_server {
 public:
  // Binds and listens now, so local_endpoint() is valid and READY=1 may follow; accepting begins at start().
  health_server(boost::asio::any_io_executor executor, health_server_options options, health_state state);
  health_server(const health_server&) = delete;
  health_server& operator=(const health_server&) = delete;
  ~health_server();  // stop(); destroy it before the io_context it runs on

  // Spawns the accept loop on the executor. Call once.
  void start();
  // Closes the listener and every open connection; no callback runs after this returns. Idempotent;
  // call it on the executor's thread (e.g. from the SIGTERM handler).
  void stop();

  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const;
  [[nodiscard]] unsigned short port() const { return local_endpoint().port(); }

  struct impl;

 private:
  std::shared_ptr<impl> impl_;  // shared with the coroutines, so they may outlive this object safely
};

}  // namespace vtsync::daemon

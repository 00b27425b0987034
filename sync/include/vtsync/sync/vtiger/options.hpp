#pragma once
// Settings, metrics and the shared in-flight limit of the Vtiger client.
//
// Error policy: plain data; inflight_limit::acquire only throws when its waiter is cancelled
// (boost::system::system_error with operation_aborted).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "vtsync/sync/vtiger/error.hpp"

namespace spdlog {
class logger;
}

namespace vtsync::vtiger {

// Retries of transient failures: exponential backoff with full jitter, bounded by both limits.
struct retry_options {
  int max_attempts = 5;                            // tries of one request, the first included
  std::chrono::milliseconds initial_backoff{200};  // cap of the first delay
  std::chrono::milliseconds max_backoff{10'000};   // cap of any delay
  std::chrono::milliseconds max_total{60'000};     // no new attempt once a call has taken this long
};

// Counters for metrics (vtsync_api_requests_total{operation}, vtsync_relogins_total, ...).
struct client_stats {
  std::map<std::string, std::uint64_t, std::less<>> requests;  // HTTP requests sent, per operation
  std::uint64_t logins = 0;                                    // successful logins, first ones included
  std::uint64_t relogins = 0;                                  // logins caused by a session error
  std::uint64_t retries = 0;                                   // re-sends after a transient failure
  std::map<std::string, std::uint64_t, std::less<>> errors;    // per Vtiger code or error_kind name
};

// Optional callbacks, called on the client's executor as things happen (for metrics or tests).
struct client_hooks {
  std::function<void(std::string_view operation)> on_request;
  std::function<void()> on_relogin;
  std::function<void(std::string_view operation, error_kind kind)> on_retry;
  std::function<void(std::string_view code)> on_error;  // a Vtiger code or an error_kind name
  // Each HTTP exchange's duration, from sending the request to the whole answer read (or its failure).
  std::function<void(std::string_view operation, std::chrono::nanoseconds took)> on_answer;
};

// A cap on requests in flight, shared by every client given the same instance ("modules run concurrently
// under one global limit"). All users must run on one thread (one io_context thread or one strand).
class inflight_limit : public std::enable_shared_from_this<inflight_limit> {
 public:
  explicit inflight_limit(std::size_t max_in_flight);
  inflight_limit(const inflight_limit&) = delete;
  inflight_limit& operator=(const inflight_limit&) = delete;
  ~inflight_limit();

  class slot {  // gives the permit back on destruction
   public:
    slot() = default;
    explicit slot(std::shared_ptr<inflight_limit> owner) : owner_(std::move(owner)) {}
    slot(slot&& other) noexcept = default;
    slot& operator=(slot&& other) noexcept;
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot();

   private:
    std::shared_ptr<inflight_limit> owner_;
  };

  // Create instances with std::make_shared: a slot keeps its limit alive.
  [[nodiscard]] boost::asio::awaitable<slot> acquire();
  [[nodiscard]] std::size_t in_flight() const { return in_flight_; }

 private:
  void release();
  struct impl;
  std::unique_ptr<impl> impl_;
  std::size_t in_flight_ = 0;
};

struct client_options {
  // [vtiger] keys of the configuration (CONTRACT.md)
  std::string url;  // "https://crm.example.com", ".../vtiger/", or ".../webservice.php"
  std::string username;
  std::string access_key;  // never logged
  std::chrono::milliseconds timeout{
      30'000};  // deadline of each step: resolve, connect, handshake, write, read
  bool verify_tls = true;
  std::string ca_file;                 // PEM file of a private CA, in addition to the system's
  double max_requests_per_second = 0;  // shared by all sessions of one client_context; 0 = unlimited

  std::size_t body_limit = std::size_t{64} * 1024 * 1024;
  retry_options retry;
  std::size_t max_idle_connections = 4;      // kept-alive connections per session
  std::shared_ptr<inflight_limit> inflight;  // optional, may be shared by several contexts
  client_hooks hooks;
  std::shared_ptr<spdlog::logger> logger;  // default: spdlog's default logger
};

}  // namespace vtsync::vtiger

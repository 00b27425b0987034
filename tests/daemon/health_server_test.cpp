// Needs: nothing (unit; listens on loopback ports the kernel picks).
#include "vtsync/daemon/health_server.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "prometheus_text.hpp"
#include "vtsync/daemon/metrics.hpp"

namespace vtsync::daemon {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace prom = vtsync::test::prometheus;

// A health server on its own loop thread, fed by state the test changes.
class health_server_test : public ::testing::Test {
 protected:
  void start(health_server_options options = {}) {
    if (options.listen == default_health_listen) options.listen = "127.0.0.1:0";
    health_state state;
    state.readiness_provider = [this] {
      if (ready_) return readiness{true, {}, {{"modules", 2}}};
      return readiness{false, "PostgreSQL not reached yet", {{"postgres", false}}};
    };
    state.status_provider = [this]() -> nlohmann::json {
      if (throw_from_status_) throw std::runtime_error("status exploded");
      return {{"modules", {{{"module", "Contacts"}, {"cursor", "1700000000"}, {"pending", 3}}}}};
    };
    state.metrics_provider = [this] { return metrics_.render(); };
    server_ = std::make_unique<health_server>(ioc_.get_executor(), options, std::move(state));
    server_->start();
    loop_ = std::async(std::launch::async, [this] { ioc_.run(); });
  }

  // Stops the server on its loop and requires io_context::run() to return by itself: proof that stop()
  // ends the accept loop and every open connection.
  void stop_and_expect_loop_ends() {
    if (!server_) return;
    asio::post(ioc_, [this] { server_->stop(); });
    if (loop_.wait_for(std::chrono::seconds{10}) != std::future_status::ready) {
      ioc_.stop();
      loop_.wait();
      server_.reset();
      FAIL() << "the loop kept running after stop()";
    }
    server_.reset();
  }

  void TearDown() override { stop_and_expect_loop_ends(); }

  unsigned short port() const { return server_->port(); }

  asio::io_context ioc_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> throw_from_status_{false};
  std::vector<std::string> modules_{"Contacts", "Accounts"};
  metrics metrics_{modules_, "test"};
  std::unique_ptr<health_server> server_;
  std::future<void> loop_;
};

// A raw blocking client for what http_request() cannot do (HEAD, oversize headers, trickled requests).
// Reads until the server closes; a 10 s receive timeout turns a hang into a failure.
std::string raw_exchange(const tcp::endpoint& endpoint, const std::string& request, bool half_close = false) {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  socket.connect(endpoint);
  timeval tv{10, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(socket, asio::buffer(request));
  if (half_close) socket.shutdown(tcp::socket::shutdown_send);
  std::string response;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(response), ec);
  if (ec != asio::error::eof) throw std::runtime_error("expected the server to close, got: " + ec.message());
  return response;
}

tcp::endpoint loopback(unsigned short port) { return {asio::ip::make_address("127.0.0.1"), port}; }

TEST_F(health_server_test, healthz_is_ok) {
  start();
  auto res = test::http_request(port(), "GET", "/healthz");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok\n");
  EXPECT_EQ(test::http_request(port(), "GET", "/healthz?verbose=1").status, 200);  // query ignored
}

TEST_F(health_server_test, readyz_reports_reason_then_flips) {
  start();
  auto res = test::http_request(port(), "GET", "/readyz");
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.content_type, "application/json");
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["ready"], false);
  EXPECT_EQ(body["reason"], "PostgreSQL not reached yet");
  EXPECT_EQ(body["postgres"], false);

  ready_ = true;
  res = test::http_request(port(), "GET", "/readyz");
  EXPECT_EQ(res.status, 200);
  body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["ready"], true);
  EXPECT_FALSE(body.contains("reason"));
  EXPECT_EQ(body["modules"], 2);
}

TEST_F(health_server_test, metrics_are_valid_prometheus_text_and_move) {
  start();
  auto res = test::http_request(port(), "GET", "/metrics");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
  auto before = prom::parse(res.body);
  for (const char* name :
       {"vtsync_records_pulled_total", "vtsync_records_pushed_total", "vtsync_api_requests_total",
        "vtsync_relogins_total", "vtsync_push_failures_total", "vtsync_outbox_pending",
        "vtsync_last_success_timestamp_seconds", "vtsync_cycle_duration_seconds"}) {
    EXPECT_TRUE(before.families.count(name)) << name;
  }
  EXPECT_EQ(before.value("vtsync_records_pulled_total", {{"module", "Contacts"}}), 0.0);

  metrics_.records_pulled("Contacts").inc(12);
  metrics_.relogins().inc();
  metrics_.cycle_duration("Contacts").observe(1.5);
  metrics_.api_requests("sync").inc();
  auto after = prom::parse(test::http_request(port(), "GET", "/metrics").body);
  EXPECT_EQ(after.value("vtsync_records_pulled_total", {{"module", "Contacts"}}), 12.0);
  EXPECT_EQ(after.value("vtsync_relogins_total"), 1.0);
  EXPECT_EQ(after.value("vtsync_api_requests_total", {{"operation", "sync"}}), 1.0);
  EXPECT_EQ(after.value("vtsync_cycle_duration_seconds_count", {{"module", "Contacts"}}), 1.0);
}

TEST_F(health_server_test, status_serves_the_providers_json) {
  start();
  auto res = test::http_request(port(), "GET", "/status");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(
      nlohmann::json::parse(res.body),
      (nlohmann::json{{"modules", {{{"module", "Contacts"}, {"cursor", "1700000000"}, {"pending", 3}}}}}));
}

TEST_F(health_server_test, a_failing_provider_is_a_500_and_the_server_keeps_serving) {
  start();
  throw_from_status_ = true;
  auto res = test::http_request(port(), "GET", "/status");
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(nlohmann::json::parse(res.body)["error"], "internal error");
  EXPECT_EQ(test::http_request(port(), "GET", "/healthz").status, 200);
}

TEST_F(health_server_test, only_get_and_head_are_allowed) {
  start();
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    auto res = test::http_request(port(), method, "/readyz", method == std::string("POST") ? "x=1" : "");
    EXPECT_EQ(res.status, 405) << method;
  }
  auto raw = raw_exchange(loopback(port()),
                          "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n");
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 405")) << raw;
  EXPECT_NE(raw.find("Allow: GET, HEAD\r\n"), std::string::npos) << raw;
}

TEST_F(health_server_test, unknown_paths_are_404) {
  start();
  EXPECT_EQ(test::http_request(port(), "GET", "/").status, 404);
  EXPECT_EQ(test::http_request(port(), "GET", "/healthz/x").status, 404);
  EXPECT_EQ(test::http_request(port(), "GET", "/admin").status, 404);
}

TEST_F(health_server_test, head_sends_headers_without_body) {
  start();
  auto get = test::http_request(port(), "GET", "/status");
  auto raw = raw_exchange(loopback(port()), "HEAD /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200")) << raw;
  EXPECT_NE(raw.find("Content-Length: " + std::to_string(get.body.size()) + "\r\n"), std::string::npos)
      << raw;
  EXPECT_TRUE(raw.ends_with("\r\n\r\n")) << "HEAD response carried a body: " << raw;
}

TEST_F(health_server_test, keep_alive_serves_several_requests_on_one_connection) {
  start();
  auto raw = raw_exchange(loopback(port()),
                          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto first = raw.find("HTTP/1.1 200");
  auto second = raw.find("HTTP/1.1 503", first);
  auto third = raw.find("HTTP/1.1 404", second);
  EXPECT_NE(first, std::string::npos) << raw;
  EXPECT_NE(second, std::string::npos) << raw;
  EXPECT_NE(third, std::string::npos) << raw;
}

TEST_F(health_server_test, oversize_headers_and_bodies_are_refused) {
  start();
  auto big_header =
      raw_exchange(loopback(port()),
                   "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + std::string(16 * 1024, 'a') + "\r\n\r\n");
  EXPECT_TRUE(big_header.starts_with("HTTP/1.1 431")) << big_header.substr(0, 200);
  auto big_body =
      raw_exchange(loopback(port()), "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_TRUE(big_body.starts_with("HTTP/1.1 413")) << big_body.substr(0, 200);
  auto garbage = raw_exchange(loopback(port()), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_TRUE(garbage.starts_with("HTTP/1.1 400")) << garbage.substr(0, 200);
}

TEST_F(health_server_test, a_trickling_client_is_cut_off_at_the_request_deadline) {
  health_server_options options;
  options.request_timeout = std::chrono::milliseconds{300};
  start(options);
  // Half a request, then silence: without a deadline the server would wait forever (slowloris).
  auto raw = raw_exchange(loopback(port()), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(raw, "");  // closed without an answer
  EXPECT_EQ(test::http_request(port(), "GET", "/healthz").status, 200);
}

TEST_F(health_server_test, connections_over_the_cap_are_closed) {
  health_server_options options;
  options.max_connections = 1;
  start(options);
  asio::io_context client;
  tcp::socket holder{client};
  holder.connect(loopback(port()));
  // The first connection is registered once the server accepted it; a request proves that.
  asio::write(holder, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string first;
  asio::read(holder, asio::dynamic_buffer(first), asio::transfer_at_least(1));
  ASSERT_TRUE(first.starts_with("HTTP/1.1 200")) << first;
  // The second one is accepted and closed at once, maybe before our request arrived (then with a reset).
  tcp::socket second{client};
  second.connect(loopback(port()));
  timeval tv{10, 0};
  setsockopt(second.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  boost::system::error_code ec;
  asio::write(second, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")), ec);
  std::string refused;
  asio::read(second, asio::dynamic_buffer(refused), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_EQ(refused, "");
}

TEST_F(health_server_test, stop_closes_idle_keep_alive_connections) {
  start();
  asio::io_context client;
  tcp::socket idle{client};
  idle.connect(loopback(port()));
  asio::write(idle, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string first;
  asio::read(idle, asio::dynamic_buffer(first), asio::transfer_at_least(1));
  ASSERT_TRUE(first.starts_with("HTTP/1.1 200"));
  stop_and_expect_loop_ends();  // would hang (and fail) if the idle connection kept the loop alive
  std::string rest;
  boost::system::error_code ec;
  asio::read(idle, asio::dynamic_buffer(rest), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST_F(health_server_test, listens_on_ipv6_loopback) {
  health_server_options options;
  options.listen = "[::1]:0";
  start(options);
  EXPECT_EQ(server_->local_endpoint().address(), asio::ip::make_address("::1"));
  auto raw = raw_exchange({asio::ip::make_address("::1"), port()},
                          "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 200")) << raw;
}

TEST_F(health_server_test, binds_loopback_by_default_and_reports_the_picked_port) {
  EXPECT_EQ(health_server_options{}.listen, "127.0.0.1:8089");
  auto def = parse_listen_address(health_server_options{}.listen);
  EXPECT_EQ(def.address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(def.port(), 8089);
  start();  // the fixture keeps the default address, port 0
  EXPECT_EQ(server_->local_endpoint().address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_NE(port(), 0);
}

TEST(health_server, bind_failure_throws) {
  asio::io_context ioc;
  health_server first{ioc.get_executor(), {.listen = "127.0.0.1:0"}, {}};
  auto taken = "127.0.0.1:" + std::to_string(first.port());
  EXPECT_THROW(health_server(ioc.get_executor(), {.listen = taken}, {}), boost::system::system_error);
}

TEST(health_server, parse_listen_address) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:8089"), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8089));
  EXPECT_EQ(parse_listen_address("[::1]:9"), tcp::endpoint(asio::ip::make_address("::1"), 9));
  EXPECT_EQ(parse_listen_address("localhost:0"), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  for (const char* bad : {"8089", "::1:8089", "[::1]8089", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:80x",
                          "example.com:80", "[127.0.0.1]:80", ":80"}) {
    EXPECT_THROW((void)parse_listen_address(bad), std::invalid_argument) << bad;
  }
}

TEST(readiness_tracker, follows_the_contract_rule) {
  using namespace std::chrono_literals;
  readiness_tracker tracker{{"Contacts", "Accounts"}, 30s};
  const auto t0 = readiness_tracker::clock::time_point{} + 1h;

  auto r = tracker.evaluate(t0);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason, "PostgreSQL not reached");
  tracker.set_postgres(true);
  tracker.set_vtiger(false, "connection refused");
  EXPECT_EQ(tracker.evaluate(t0).reason, "Vtiger not reached: connection refused");
  tracker.set_vtiger(true);
  EXPECT_EQ(tracker.evaluate(t0).reason, "Contacts has not completed a sync cycle yet");

  tracker.module_synced("Contacts", t0);
  tracker.module_synced("Accounts", t0 + 10s);
  tracker.module_synced("Leads", t0);  // not configured: ignored
  r = tracker.evaluate(t0 + 90s);      // exactly 3 poll intervals: still ready
  EXPECT_TRUE(r.ready) << r.reason;
  EXPECT_EQ(r.details["modules"]["Contacts"]["age_seconds"], 90);
  EXPECT_FALSE(r.details["modules"].contains("Leads"));

  r = tracker.evaluate(t0 + 91s);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason, "Contacts last synced 91 s ago (limit 90 s, 3 poll intervals)");
  EXPECT_EQ(r.details["modules"]["Contacts"]["synced"], false);
  EXPECT_EQ(r.details["modules"]["Accounts"]["synced"], true);

  tracker.set_poll_interval(60s);  // after a reload
  EXPECT_TRUE(tracker.evaluate(t0 + 91s).ready);
}

}  // namespace
}  // namespace vtsync::daemon

// Needs: fake Vtiger (build/fake-vtiger), the openssl command line tool (for a throwaway certificate).
// HTTPS with peer and host-name verification, and that no secret reaches a log line or an error message.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <regex>

#include "client_test_util.hpp"
#include "test_env.hpp"

using namespace vtsync;
using namespace vtsync::vtiger;
using vtsync::test::run;
using vtsync::test::self_signed;
using vtsync::test::test_options;

namespace {

// Every formatted message, for assertions on what was logged.
class capture_sink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

std::shared_ptr<spdlog::logger> capturing_logger(std::shared_ptr<capture_sink>& sink) {
  sink = std::make_shared<capture_sink>();
  sink->set_pattern("%l %v");
  auto logger = std::make_shared<spdlog::logger>("vtiger-test", sink);
  logger->set_level(spdlog::level::trace);
  return logger;
}

std::string https_url(const test::fake_vtiger& fake, const std::string& host = "127.0.0.1") {
  return "https://" + host + ":" + std::to_string(fake.port());
}

}  // namespace

TEST(ClientTls, SelfSignedServerIsRefusedWithoutItsCa) {
  self_signed tls;
  test::fake_vtiger fake({"--tls-cert", tls.cert, "--tls-key", tls.key});
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(https_url(fake)));
  try {
    (void)run(io, c.login());
    ADD_FAILURE() << "an unverifiable certificate was accepted";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::tls) << e.what();
    EXPECT_FALSE(e.transient());
  }
  EXPECT_EQ(c.stats().retries, 0u) << "a certificate problem does not heal by retrying";
}

TEST(ClientTls, WorksWithCaFileForAddressAndHostName) {
  self_signed tls;
  test::fake_vtiger fake({"--tls-cert", tls.cert, "--tls-key", tls.key, "--seed", "Contacts=2"});
  boost::asio::io_context io;
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    auto options = test_options(https_url(fake, host));
    options.ca_file = tls.cert;
    client c(io.get_executor(), options);
    auto rows = run(io, c.query("SELECT id FROM Contacts;"));
    EXPECT_EQ(rows.value().size(), 2u);
    // Keep-alive: the second request reuses the TLS connection (nothing to assert on the wire, but it
    // must keep working).
    EXPECT_EQ(run(io, c.query("SELECT id FROM Contacts;")).value().size(), 2u);
  }
}

TEST(ClientTls, CertificateForAnotherNameIsRefused) {
  self_signed tls("DNS:crm.example.invalid");  // trusted through ca_file, but names another host
  test::fake_vtiger fake({"--tls-cert", tls.cert, "--tls-key", tls.key});
  boost::asio::io_context io;
  auto options = test_options(https_url(fake));
  options.ca_file = tls.cert;
  client c(io.get_executor(), options);
  try {
    (void)run(io, c.login());
    ADD_FAILURE() << "a certificate for another host was accepted";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::tls) << e.what();
  }
  // The same certificate without host-name checks (verify_tls = false) is accepted: the refusal above was
  // the name, not the chain.
  options.verify_tls = false;
  client unchecked(io.get_executor(), options);
  EXPECT_EQ(run(io, unchecked.login()).user_id, "19x1");
}

TEST(ClientTls, VerifyTlsFalseWorksAndWarnsLoudly) {
  self_signed tls;
  test::fake_vtiger fake({"--tls-cert", tls.cert, "--tls-key", tls.key, "--seed", "Contacts=1"});
  std::shared_ptr<capture_sink> sink;
  boost::asio::io_context io;
  auto options = test_options(https_url(fake));
  options.verify_tls = false;
  options.logger = capturing_logger(sink);
  client c(io.get_executor(), options);
  EXPECT_EQ(run(io, c.query("SELECT id FROM Contacts;")).value().size(), 1u);
  const auto text = sink->text();
  EXPECT_NE(text.find("warning TLS certificate verification is DISABLED"), std::string::npos) << text;
}

TEST(ClientSecrets, NoSecretInAnyLogLineOrErrorMessage) {
  const std::string key = "VTSYNC-SECRET-ACCESS-KEY-4242";
  test::fake_vtiger fake({"--access-key", key, "--seed", "Contacts=2", "--fault", "query:html:every=2",
                          "--fault", "listtypes:invalid_session:every=2", "--fault", "create:drop_reply"});
  std::shared_ptr<capture_sink> sink;
  boost::asio::io_context io;
  auto options = test_options(fake.url(), key);
  options.logger = capturing_logger(sink);
  client c(io.get_executor(), options);
  std::string errors;
  auto body = [&]() -> boost::asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      (void)co_await c.query("SELECT id FROM Contacts;");
      (void)co_await c.listtypes();
    }
    const json element = {{"lastname", "Secretive"}, {"assigned_user_id", "19x1"}};
    try {
      (void)co_await c.create("Contacts", element);
    } catch (const client_error& e) {
      errors += e.what();
      errors += '\n';
    }
    co_await c.logout();
  };
  run(io, body());

  // And a login with the key the server does not know, which fails.
  client wrong(io.get_executor(), [&] {
    auto o = test_options(fake.url(), key + "-WRONG");
    o.logger = options.logger;
    return o;
  }());
  try {
    (void)run(io, wrong.login());
  } catch (const client_error& e) {
    errors += e.what();
    errors += '\n';
  }

  const std::string text = sink->text() + errors;
  EXPECT_GE(c.stats().relogins, 1u);
  EXPECT_NE(text.find("outcome is unknown"), std::string::npos) << "the capture works";
  EXPECT_NE(text.find("sessionName=***"), std::string::npos) << "trace lines were captured";
  EXPECT_EQ(text.find(key), std::string::npos) << text;
  // Session names and login digests are long runs of hex digits; nothing of the kind may appear.
  std::smatch m;
  EXPECT_FALSE(std::regex_search(text, m, std::regex("[0-9a-f]{13,}"))) << m.str() << "\n" << text;
}

// Needs: fake Vtiger (build/fake-vtiger). No PostgreSQL.
// The binary over HTTP: start-up line, SIGTERM, keep-alive, faults, /_fake endpoints, session
// serialisation, TLS.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "md5_hex.hpp"
#include "child_process.hpp"
#include "test_env.hpp"

namespace {

using nlohmann::json;
using vtsync::test::fake_vtiger;
using vtsync::test::http_request;
using vtsync::test::url_encode;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using fake_test_support::md5_hex;

std::string login(unsigned short port, const std::string& key = "fakeAdminKey0001") {
  const auto c =
      json::parse(http_request(port, "GET", "/webservice.php?operation=getchallenge&username=admin").body);
  const std::string token = c["result"]["token"];
  const auto l = json::parse(http_request(port, "POST", "/webservice.php",
                                          "operation=login&username=admin&accessKey=" + md5_hex(token + key))
                                 .body);
  return l["result"]["sessionName"];
}

vtsync::test::http_response ws_get(unsigned short port, const std::string& session, const std::string& op,
                                   const std::string& extra = "") {
  return http_request(port, "GET", "/webservice.php?operation=" + op + "&sessionName=" + session + extra);
}

json stats(unsigned short port) { return json::parse(http_request(port, "GET", "/_fake/stats").body); }

json fake_post(unsigned short port, const std::string& path, const json& body = json::object()) {
  const auto r = http_request(port, "POST", path, body.dump(), "application/json");
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body);
}

std::string code_of(const vtsync::test::http_response& r) {
  const auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "none";
  return j["error"]["code"].get<std::string>();
}

TEST(FakeVtigerServer, PrintsItsPortAndStopsOnSigterm) {
  fake_vtiger f;
  EXPECT_GT(f.port(), 0);
  EXPECT_EQ(f.process().stop(SIGTERM), 0);
  fake_vtiger g;
  EXPECT_EQ(g.process().stop(SIGINT), 0);
}

TEST(FakeVtigerServer, ServesManyRequestsOnOneConnection) {
  fake_vtiger f;
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  stream.connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), f.port()});
  beast::flat_buffer buffer;
  for (int i = 0; i < 5; ++i) {
    http::request<http::empty_body> req{http::verb::get,
                                        "/webservice.php?operation=getchallenge&username=admin", 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(res[http::field::content_type], "application/json");
  }
  EXPECT_EQ(stats(f.port())["requests"]["getchallenge"], 5);
}

TEST(FakeVtigerServer, LogoutFollowsTheSyncMode) {
  fake_vtiger stock;
  const auto s = login(stock.port());
  EXPECT_EQ(http_request(stock.port(), "POST", "/webservice.php", "operation=logout&sessionName=" + s).status,
            500);
  EXPECT_EQ(code_of(ws_get(stock.port(), s, "listtypes")), "none");  // the failed logout left it alive

  fake_vtiger php7({"--sync-mode", "php7"});
  const auto t = login(php7.port());
  const auto r = http_request(php7.port(), "POST", "/webservice.php", "operation=logout&sessionName=" + t);
  EXPECT_EQ(r.body, R"({"success":true,"result":{"message":"successfull"}})");
  EXPECT_EQ(code_of(ws_get(php7.port(), t, "listtypes")), "INVALID_SESSIONID");
}

TEST(FakeVtigerServer, Http500FaultEveryNthCall) {
  fake_vtiger f({"--fault", "listtypes:http500:every=2"});
  const auto s = login(f.port());
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) statuses.push_back(ws_get(f.port(), s, "listtypes").status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 500, 200, 500}));
  EXPECT_EQ(ws_get(f.port(), s, "listtypes").body.size() > 0, true);
  EXPECT_EQ(stats(f.port())["faults"]["http500"], 2);
}

TEST(FakeVtigerServer, HtmlTruncatedResetAndDropFaults) {
  fake_vtiger f({"--fault", "describe:html", "--fault", "retrieve:truncated", "--fault", "query:reset",
                 "--fault", "create:drop_reply", "--seed", "Contacts=3"});
  const auto s = login(f.port());
  const auto html = ws_get(f.port(), s, "describe", "&elementType=Contacts");
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.content_type, "text/html; charset=UTF-8");
  EXPECT_NE(html.body.find("<html>"), std::string::npos);
  EXPECT_ANY_THROW(ws_get(f.port(), s, "retrieve", "&id=12x1"));
  EXPECT_ANY_THROW(ws_get(f.port(), s, "query", "&query=" + url_encode("SELECT id FROM Contacts;")));
  EXPECT_ANY_THROW(http_request(f.port(), "POST", "/webservice.php",
                                "operation=create&sessionName=" + s + "&elementType=Contacts&element=" +
                                    url_encode(R"({"lastname":"Dropped","assigned_user_id":"19x1"})")));
  // drop_reply committed the write before closing.
  const json dump = json::parse(http_request(f.port(), "GET", "/_fake/dump?module=Contacts").body);
  ASSERT_EQ(dump.size(), 4u);
  EXPECT_EQ(dump[3]["lastname"], "Dropped");
  const json st = stats(f.port());
  EXPECT_EQ(st["faults"]["html"], 1);
  EXPECT_EQ(st["faults"]["truncated"], 1);
  EXPECT_EQ(st["faults"]["reset"], 1);
  EXPECT_EQ(st["faults"]["drop_reply"], 1);
}

TEST(FakeVtigerServer, InvalidSessionFaultReallyKillsTheSession) {
  fake_vtiger f({"--fault", "listtypes:invalid_session:every=3", "--fault", "describe:delay=50"});
  const auto s = login(f.port());
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "none");
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "none");
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "INVALID_SESSIONID");
  EXPECT_EQ(code_of(ws_get(f.port(), s, "describe", "&elementType=Leads")), "INVALID_SESSIONID");
  const auto t = login(f.port());
  EXPECT_EQ(code_of(ws_get(f.port(), t, "describe", "&elementType=Leads")),
            "none");  // delayed, then answered
  const json st = stats(f.port());
  EXPECT_EQ(st["faults"]["invalid_session"], 1);
  EXPECT_EQ(st["faults"]["delay"], 2);
  EXPECT_EQ(st["errors"]["INVALID_SESSIONID"], 2);
}

TEST(FakeVtigerServer, ProbabilisticFaultsRepeatWithTheSameSeed) {
  auto run = [] {
    fake_vtiger f({"--fault", "*:http500:prob=0.3:seed=42"});
    std::string pattern;
    for (int i = 0; i < 30; ++i) {
      pattern +=
          http_request(f.port(), "GET", "/webservice.php?operation=getchallenge&username=admin").status == 500
              ? 'x'
              : '.';
    }
    return pattern;
  };
  const std::string a = run();
  EXPECT_EQ(a, run());
  EXPECT_NE(a.find('x'), std::string::npos);
  EXPECT_NE(a.find('.'), std::string::npos);
}

TEST(FakeVtigerServer, ExpireSessionsEveryNRequests) {
  fake_vtiger f({"--expire-sessions-every", "5"});
  const auto s = login(f.port());                                             // requests 1 and 2
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "none");               // 3
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "none");               // 4
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "INVALID_SESSIONID");  // 5: all sessions dropped first
}

TEST(FakeVtigerServer, FakeEndpointsEditDeleteExpireReset) {
  fake_vtiger f({"--seed", "Accounts=5"});
  const auto s = login(f.port());
  const json edited =
      fake_post(f.port(), "/_fake/edit", {{"id", "11x2"}, {"fields", {{"accountname", "Renamed"}}}});
  EXPECT_EQ(edited["accountname"], "Renamed");
  EXPECT_EQ(edited["modifiedby"], "19x1");
  const auto r = json::parse(ws_get(f.port(), s, "retrieve", "&id=11x2").body);
  EXPECT_EQ(r["result"]["accountname"], "Renamed");
  EXPECT_EQ(r["result"]["modifiedtime"], edited["modifiedtime"]);
  fake_post(f.port(), "/_fake/delete", {{"id", "11x3"}});
  EXPECT_EQ(code_of(ws_get(f.port(), s, "retrieve", "&id=11x3")), "ACCESS_DENIED");
  EXPECT_EQ(json::parse(http_request(f.port(), "GET", "/_fake/dump?module=Accounts").body).size(), 4u);
  const json clock = fake_post(f.port(), "/_fake/clock", {{"advance_seconds", 3600}});
  EXPECT_GE(clock["now"].get<long long>(), std::time(nullptr) + 3500);
  EXPECT_EQ(fake_post(f.port(), "/_fake/expire-sessions")["expired"], 1);
  EXPECT_EQ(code_of(ws_get(f.port(), s, "listtypes")), "INVALID_SESSIONID");
  fake_post(f.port(), "/_fake/reset");
  EXPECT_EQ(json::parse(http_request(f.port(), "GET", "/_fake/dump?module=Accounts").body).size(), 5u);
  EXPECT_EQ(stats(f.port())["total"], 0);
}

TEST(FakeVtigerServer, RequestsOnOneSessionAreSerialised) {
  fake_vtiger f({"--latency-ms", "300"});
  const auto s = login(f.port());
  const auto t = login(f.port());
  auto parallel = [&](const std::string& a, const std::string& b) {
    std::thread t1([&] { ws_get(f.port(), a, "listtypes"); });
    std::thread t2([&] { ws_get(f.port(), b, "listtypes"); });
    t1.join();
    t2.join();
  };
  parallel(s, t);
  EXPECT_EQ(stats(f.port())["session_waits"], 0);  // two sessions run side by side
  parallel(s, s);
  EXPECT_EQ(stats(f.port())["session_waits"], 1);  // the second waited for the first
}

TEST(FakeVtigerServer, ServesHttpsWithTheGivenCertificate) {
  const auto dir = std::filesystem::temp_directory_path() / ("fake-vtiger-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
                          key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  fake_vtiger f({"--tls-cert", cert, "--tls-key", key});
  asio::io_context ioc;
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  ctx.load_verify_file(cert);
  beast::ssl_stream<beast::tcp_stream> stream{ioc, ctx};
  stream.set_verify_mode(asio::ssl::verify_peer);
  beast::get_lowest_layer(stream).connect(
      asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), f.port()});
  stream.handshake(asio::ssl::stream_base::client);
  http::request<http::empty_body> req{http::verb::get,
                                      "/webservice.php?operation=getchallenge&username=admin", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_TRUE(json::parse(res.body())["success"].get<bool>());
  std::filesystem::remove_all(dir);
}

}  // namespace

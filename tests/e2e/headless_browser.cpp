#include "headless_browser.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

namespace vtsync::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using nlohmann::json;

struct headless_browser::socket {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
};

std::string chromium_path() {
  if (const char* env = std::getenv("VTSYNC_CHROMIUM"); env != nullptr && *env != '\0') return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const auto candidate = std::filesystem::path{dirs.substr(start, end - start)} / "chromium";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  throw std::runtime_error("chromium is not installed (scripts/install-deps installs Debian's chromium)");
}

headless_browser::headless_browser() {
  const auto program = chromium_path();
  process_ = std::make_unique<child_process>(
      program, std::vector<std::string>{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                        "--no-default-browser-check", "--disable-extensions",
                                        "--disable-background-networking", "--disable-sync",
                                        "--hide-scrollbars", "--window-size=1280,1400",
                                        "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                                        "--user-data-dir=" + profile_.path().string(), "about:blank"});
  process_->wait_for_log("DevTools listening on ws://", std::chrono::seconds{60});
  static const std::regex port_re{R"(DevTools listening on ws://127\.0\.0\.1:(\d+)/)"};
  std::smatch m;
  const auto text = process_->log();
  if (!std::regex_search(text, m, port_re)) throw std::runtime_error("chromium printed no port: " + text);
  const auto port = static_cast<unsigned short>(std::stoi(m[1].str()));

  // The tab's WebSocket: /json/list names it (the first tab may take a moment to appear).
  std::string target;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (target.empty() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& t : json::parse(http_request(port, "GET", "/json/list").body)) {
      if (t.value("type", "") == "page") target = t.value("webSocketDebuggerUrl", "");
    }
    if (target.empty()) std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  if (target.empty()) throw std::runtime_error("chromium shows no tab: " + process_->log());
  const auto path = target.substr(target.find('/', std::string{"ws://"}.size()));

  socket_ = std::make_unique<socket>();
  // Blocking calls: a Chromium that stops answering is caught by the test's ctest TIMEOUT.
  beast::get_lowest_layer(socket_->ws)
      .connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
  socket_->ws.read_message_max(64 * 1024 * 1024);  // screenshots
  socket_->ws.handshake("127.0.0.1:" + std::to_string(port), path);
  (void)call("Page.enable");
  (void)call("Runtime.enable");
}

headless_browser::~headless_browser() {
  if (socket_) {
    beast::error_code ignored;
    beast::get_lowest_layer(socket_->ws).socket().close(ignored);
  }
  if (process_) process_->stop(15, std::chrono::seconds{10});
}

json headless_browser::call(const std::string& method, json params) {
  const int id = next_id_++;
  const json request{{"id", id}, {"method", method}, {"params", std::move(params)}};
  auto& ws = socket_->ws;
  ws.text(true);
  ws.write(asio::buffer(request.dump()));
  for (;;) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    const auto message = json::parse(beast::buffers_to_string(buffer.data()));
    if (!message.contains("id") || message["id"] != id) continue;  // an event, or an older answer
    if (message.contains("error"))
      throw std::runtime_error("DevTools " + method + ": " + message["error"].dump());
    return message.value("result", json::object());
  }
}

void headless_browser::navigate(const std::string& url) {
  const auto result = call("Page.navigate", {{"url", url}});
  if (result.contains("errorText")) throw std::runtime_error("navigate " + url + ": " + result.dump());
  if (!wait_for("document.readyState === 'complete' && location.href === " + json(url).dump(),
                std::chrono::seconds{30}))
    throw std::runtime_error("navigate " + url + ": the page did not finish loading");
}

json headless_browser::evaluate(const std::string& expression) {
  const auto result = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
  if (result.contains("exceptionDetails"))
    throw std::runtime_error("evaluate " + expression + ": " + result["exceptionDetails"].dump());
  return result["result"].value("value", json(nullptr));
}

bool headless_browser::wait_for(const std::string& expression, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (evaluate("Boolean(" + expression + ")") == json(true)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

void headless_browser::set_javascript(bool enabled) {
  (void)call("Emulation.setScriptExecutionDisabled", {{"value", !enabled}});
}

void headless_browser::screenshot(const std::string& path) {
  const auto result = call("Page.captureScreenshot", {{"format", "png"}, {"captureBeyondViewport", true}});
  const auto data = result.at("data").get<std::string>();
  std::string png(beast::detail::base64::decoded_size(data.size()), '\0');
  const auto [written, read] = beast::detail::base64::decode(png.data(), data.data(), data.size());
  (void)read;
  png.resize(written);
  std::ofstream out{path, std::ios::binary};
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace vtsync::test

#include "child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test_env.hpp"

namespace vtsync::test {

namespace {

std::string make_log_path(const std::string& program) {
  const auto slash = program.find_last_of('/');
  const std::string base = slash == std::string::npos ? program : program.substr(slash + 1);
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/vtsync-test-%s-XXXXXX", base.c_str());
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed for the child's log");
  ::close(fd);
  return tmpl;
}

}  // namespace

child_process::child_process(const std::string& program, const std::vector<std::string>& args,
                             const std::vector<std::string>& extra_env)
    : log_path_(make_log_path(program)) {
  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_TRUNC);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    for (const auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    std::perror("execv");
    ::_exit(127);
  }
}

child_process::~child_process() {
  if (pid_ > 0 && exit_code_ < 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (!log_path_.empty() && std::getenv("VTSYNC_KEEP_TEST_LOGS") == nullptr) ::unlink(log_path_.c_str());
}

std::string child_process::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool child_process::running() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void child_process::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(needle) != std::string::npos) return;
    if (!running()) {
      throw std::runtime_error("child exited (code " + std::to_string(exit_code_) + ") before printing '" +
                               needle + "'; its log:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  throw std::runtime_error("timed out waiting for '" + needle + "'; log:\n" + log());
}

void child_process::signal(int signo) const {
  if (exit_code_ < 0) ::kill(pid_, signo);
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return exit_code_;
}

int child_process::stop(int signo, std::chrono::milliseconds timeout) {
  if (!running()) return exit_code_;
  ::kill(pid_, signo);
  const int code = wait_exit(timeout);
  if (code < 0) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds{5});
    return -1;
  }
  return code;
}

std::vector<std::string> fake_vtiger::with_listen(std::vector<std::string> args) {
  args.insert(args.begin(), {"--listen", "127.0.0.1:0"});
  return args;
}

fake_vtiger::fake_vtiger(std::vector<std::string> args)
    : process_(binary_path("fake-vtiger"), with_listen(std::move(args))) {
  process_.wait_for_log("fake-vtiger listening on 127.0.0.1:");
  static const std::regex port_re{R"(fake-vtiger listening on 127\.0\.0\.1:(\d+))"};
  std::smatch m;
  const std::string text = process_.log();
  if (!std::regex_search(text, m, port_re)) throw std::runtime_error("fake-vtiger printed no port: " + text);
  port_ = static_cast<unsigned short>(std::stoi(m[1].str()));
}

std::string fake_vtiger::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

http_response http_request(unsigned short port, const std::string& method, const std::string& target,
                           const std::string& body, const std::string& content_type) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  stream.expires_after(std::chrono::seconds{30});
  stream.connect(asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
  }
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(512 * 1024 * 1024);
  http::read(stream, buffer, parser);
  auto& res = parser.get();
  boost::beast::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  std::map<std::string, std::string> headers;
  for (const auto& field : res) {
    std::string name{field.name_string()};
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[name] = std::string{field.value()};
  }
  return http_response{static_cast<int>(res.result_int()), std::string{res[http::field::content_type]},
                       std::move(res.body()), std::move(headers)};
}

std::string url_encode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace vtsync::test

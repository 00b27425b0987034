#pragma once
// Starting the project's own binaries (fake-vtiger, vtsyncd) from tests, and small blocking HTTP calls
// to them. Test-only code: blocking is fine here.
//
// Error policy: everything throws std::runtime_error with a message saying what failed.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace vtsync::test {

// A child process whose stdout and stderr go to a log file; killed (SIGKILL) and reaped on destruction
// unless stopped earlier.
class child_process {
 public:
  child_process(const std::string& program, const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env = {});
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& log_path() const { return log_path_; }
  [[nodiscard]] std::string log() const;  // everything the child wrote so far

  // Waits until the log contains `needle`; throws (with the log) on timeout or if the child exits first.
  void wait_for_log(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds{20});

  void signal(int signo) const;
  // Sends SIGTERM (or `signo`) and waits; returns the exit status as from waitpid (or -1 on timeout,
  // after which the child is killed).
  int stop(int signo = 15, std::chrono::milliseconds timeout = std::chrono::seconds{10});
  // Waits for the child to exit by itself; returns its exit code (128+signal when killed), -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_code_ = -1;
};

// build/fake-vtiger on a free loopback port. `args` are extra flags (--seed, --fault, ...).
// The fake prints "fake-vtiger listening on 127.0.0.1:<port>" once it accepts connections.
class fake_vtiger {
 public:
  explicit fake_vtiger(std::vector<std::string> args = {});
  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] std::string url() const;  // http://127.0.0.1:<port>
  child_process& process() { return process_; }

 private:
  static std::vector<std::string> with_listen(std::vector<std::string> args);
  child_process process_;
  unsigned short port_ = 0;
};

struct http_response {
  int status = 0;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  // by lower-case name
};

// One blocking HTTP/1.1 request to 127.0.0.1:port. `body` is sent as is with `content_type`.
http_response http_request(unsigned short port, const std::string& method, const std::string& target,
                           const std::string& body = {},
                           const std::string& content_type = "application/x-www-form-urlencoded");

// Percent-encodes for a query string or form body.
[[nodiscard]] std::string url_encode(const std::string& value);

}  // namespace vtsync::test

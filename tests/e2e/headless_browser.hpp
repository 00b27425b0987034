#pragma once
// A real browser for end-to-end tests: Debian's headless Chromium, driven over its DevTools protocol
// (a WebSocket on loopback). Test-only code: everything blocks, with deadlines.
//
// Error policy: everything throws std::runtime_error saying what failed (with Chromium's log where it
// helps); a missing Chromium is an error, not a reason to skip (scripts/install-deps installs it).
#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "e2e_support.hpp"

namespace vtsync::test {

// Where Chromium is (chromium on PATH, or VTSYNC_CHROMIUM); throws when there is none.
[[nodiscard]] std::string chromium_path();

class headless_browser {
 public:
  // Starts Chromium (a profile of its own in a temporary directory, a 1280x1400 window) and attaches to
  // its first tab.
  headless_browser();
  ~headless_browser();
  headless_browser(const headless_browser&) = delete;
  headless_browser& operator=(const headless_browser&) = delete;

  // One DevTools command on the tab; its result. Events that arrive meanwhile are ignored.
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::object());
  // Loads `url` and waits until the document is loaded.
  void navigate(const std::string& url);
  // The value of a JavaScript expression in the tab (its JSON form); throws when it throws.
  nlohmann::json evaluate(const std::string& expression);
  // Polls `expression` until it is true; false when `timeout` passes first.
  bool wait_for(const std::string& expression, std::chrono::milliseconds timeout);
  // Runs pages without JavaScript (from the next navigation on), or with it again.
  void set_javascript(bool enabled);
  // A PNG of the whole page, written to `path`.
  void screenshot(const std::string& path);

  [[nodiscard]] std::string log() const { return process_ ? process_->log() : std::string{}; }

 private:
  struct socket;
  temp_dir profile_;
  std::unique_ptr<child_process> process_;
  std::unique_ptr<socket> socket_;
  int next_id_ = 1;
};

}  // namespace vtsync::test

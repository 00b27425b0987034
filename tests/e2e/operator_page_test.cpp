// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd, Debian's chromium. The operator page (GET / on
// health.listen) in a real headless browser, against a daemon over the fake with two modules, a local
// change Vtiger rejected and a conflict: with JavaScript (the script fills it from /status and
// /ui/recent.json) and without (the daemon's own rendering). Saves build/operator-page.png.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "daemon_fixture.hpp"
#include "headless_browser.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* local_title = "LocalTitle-7731";
constexpr const char* remote_title = "RemoteTitle-7731";

// A daemon over the fake with Contacts and Accounts pulled, one rejected insert (no lastname, which
// Vtiger requires) and one conflict on a contact's title.
class operator_page : public ::testing::Test {
 protected:
  static vt::daemon_options options() {
    vt::daemon_options o;
    o.fake_args = {"--seed", "Contacts=12", "--seed", "Accounts=5"};
    o.modules = {"Contacts", "Accounts"};
    o.poll_interval = "60s";  // the CRM's edit below must reach the push before a pull takes it
    return o;
  }

  void SetUp() override {
    ASSERT_TRUE(vt::wait_until(
        [&] { return f.mirror_rows("Contacts") == 12 && f.mirror_rows("Accounts") == 5; }, vt::scaled(60s)))
        << f.daemon().log();
    auto conn = vt::connect_blocking();
    const std::string contacts = "\"" + f.schema() + "\".contacts";
    vt::exec_scalar(conn.get(), "INSERT INTO " + contacts + " (firstname) VALUES ('NoLastname')");
    vt::exec_scalar(conn.get(), "INSERT INTO " + contacts + " (lastname) VALUES ('Pushed')");
    const auto id = vt::exec_scalar(conn.get(), "SELECT min(vtiger_id) FROM " + contacts);
    vt::fake_post(f.fake().port(), "/_fake/edit", {{"id", id}, {"fields", {{"title", remote_title}}}});
    vt::exec_scalar(conn.get(), "UPDATE " + contacts + " SET title = '" + local_title +
                                    "' WHERE vtiger_id = '" + id + "'");
    ASSERT_TRUE(vt::wait_until(
        [&] {
          return vt::exec_scalar(conn.get(), "SELECT count(*) FROM " + contacts +
                                                 " WHERE _sync_state = 'failed'") == "1" &&
                 vt::exec_scalar(conn.get(), "SELECT count(*) FROM " + contacts +
                                                 " WHERE lastname = 'Pushed' AND _sync_state = 'synced'") ==
                     "1" &&
                 vt::exec_scalar(conn.get(), "SELECT count(*) FROM vtsync.conflicts WHERE schema_name = '" +
                                                 f.schema() + "'") == "1";
        },
        vt::scaled(60s)))
        << f.daemon().log();
    conflicted_id = id;
    rejected_row =
        vt::exec_scalar(conn.get(), "SELECT _row_id FROM " + contacts + " WHERE _sync_state = 'failed'");
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(f.health_port()) + "/"; }

  // What the page shows of one module row: state, pending, failed.
  static std::string module_row(const std::string& module) {
    return "(() => { const r = document.querySelector('#modules tr[data-module=\"" + module +
           "\"]'); return r ? [r.dataset.state, r.querySelector('td.pending').textContent, "
           "r.querySelector('td.failed').textContent] : null; })()";
  }

  // The page's assertions, the same with and without JavaScript.
  void expect_page(vt::headless_browser& b) {
    EXPECT_EQ(b.evaluate(module_row("Contacts")), json::array({"failing", "0", "1"}));
    EXPECT_EQ(b.evaluate(module_row("Accounts")), json::array({"current", "0", "0"}));
    const auto failed = b.evaluate("document.querySelector('#failed tbody').innerText").get<std::string>();
    EXPECT_NE(failed.find("MANDATORY_FIELDS_MISSING"), std::string::npos) << failed;
    EXPECT_NE(failed.find("vtsyncd retry --module Contacts"), std::string::npos) << failed;
    EXPECT_NE(failed.find("vtsyncd discard --row contacts:" + rejected_row), std::string::npos) << failed;
    const auto conflicts =
        b.evaluate("document.querySelector('#conflicts tbody').innerText").get<std::string>();
    EXPECT_NE(conflicts.find(conflicted_id), std::string::npos) << conflicts;
    EXPECT_NE(conflicts.find("title"), std::string::npos) << conflicts;
    EXPECT_NE(conflicts.find("remote_wins"), std::string::npos) << conflicts;
    const auto all = b.evaluate("document.body.innerText").get<std::string>();
    // Field values never reach the page: not the conflict's, not the rejected row's.
    EXPECT_EQ(all.find(local_title), std::string::npos);
    EXPECT_EQ(all.find(remote_title), std::string::npos);
    EXPECT_EQ(all.find("NoLastname"), std::string::npos);
    EXPECT_NE(
        b.evaluate("document.getElementById('leases').innerText").get<std::string>().find("pull:Contacts"),
        std::string::npos);
    EXPECT_EQ(b.evaluate("document.getElementById('role').textContent"), "active");
    EXPECT_EQ(b.evaluate("document.getElementById('version').textContent").get<std::string>().empty(), false);
    // The fake answers login with Vtiger 8.2.0's version.
    EXPECT_NE(b.evaluate("document.getElementById('instances').innerText").get<std::string>().find("8."),
              std::string::npos);
  }

  vt::daemon_fixture f{options()};
  std::string conflicted_id;
  std::string rejected_row;  // the _row_id of the insert Vtiger rejected
};

TEST_F(operator_page, FillsItselfInABrowserAndShowsStatesCountsAndTheRejectedChange) {
  vt::headless_browser b;
  b.navigate(url());
  // The script replaces the daemon's rendering once it has read /status and /ui/recent.json, and again
  // every 5 s; the counts come from a cache that the first requests fill.
  const bool filled = b.wait_for(
      "document.body.dataset.rendered === 'script' && document.querySelector('#failed tbody tr') && "
      "document.querySelector('#conflicts tbody tr') && "
      "document.querySelector('#modules tr[data-module=\"Contacts\"] td.failed').textContent === '1'",
      vt::scaled(60s));
  ASSERT_TRUE(filled) << b.evaluate("document.body.innerHTML").dump() << "\n" << f.daemon().log();
  expect_page(b);
  // Each module has its chart of the last hour: 12 and 5 records pulled, one contact pushed (the update).
  EXPECT_EQ(b.evaluate("document.querySelectorAll('#modules td.chart svg').length"), 2);
  EXPECT_EQ(b.evaluate("document.querySelector('#modules tr[data-module=\"Contacts\"] .legend').textContent"),
            "12 pulled / 1 pushed");
  EXPECT_EQ(b.evaluate("document.querySelector('#modules tr[data-module=\"Accounts\"] .legend').textContent"),
            "5 pulled / 0 pushed");
  const auto shot = std::filesystem::path{VTSYNC_BINARY_DIR} / "operator-page.png";
  b.screenshot(shot.string());
  std::ifstream png{shot, std::ios::binary};
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  EXPECT_EQ(magic, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(std::filesystem::file_size(shot), 20'000u);
}

TEST_F(operator_page, SaysTheSameWithJavaScriptOff) {
  vt::headless_browser b;
  b.set_javascript(false);
  // The counts come from a cache the first request fills: reload until the daemon's rendering has them.
  bool filled = false;
  for (int i = 0; i < 60 && !filled; ++i) {
    b.navigate(url());
    filled = b.evaluate(
                  "document.querySelector('#failed tbody tr') !== null && "
                  "document.querySelector('#conflicts tbody tr') !== null")
                 .get<bool>();
    if (!filled) std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(filled) << b.evaluate("document.body.innerHTML").dump();
  EXPECT_EQ(b.evaluate("document.body.dataset.rendered"), "server");
  expect_page(b);
}

TEST_F(operator_page, TheDiscardLineItShowsGivesTheChangeUpAndThePageSaysSo) {
  vt::headless_browser b;
  b.navigate(url());
  ASSERT_TRUE(
      b.wait_for("document.body.dataset.rendered === 'script' && "
                 "document.querySelector('#failed tbody tr code:last-of-type')",
                 vt::scaled(60s)))
      << b.evaluate("document.body.innerHTML").dump();
  // The command as the page prints it, run as an operator would paste it.
  const auto line = b.evaluate("document.querySelector('#failed tbody tr code:last-of-type').textContent")
                        .get<std::string>();
  ASSERT_EQ(line.rfind("vtsyncd discard --row ", 0), 0u) << line;
  const auto r = f.vtsyncd({"discard", "--row", line.substr(line.rfind(' ') + 1)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The page refreshes itself: no rejected change left, Contacts is no longer failing.
  EXPECT_TRUE(b.wait_for(
      "document.querySelector('#failed tbody tr') === null && "
      "document.querySelector('#modules tr[data-module=\"Contacts\"] td.failed').textContent === '0'",
      vt::scaled(60s)))
      << b.evaluate("document.body.innerHTML").dump();
  EXPECT_EQ(b.evaluate(module_row("Contacts")), json::array({"current", "0", "0"}));
}

TEST_F(operator_page, ServesItsOwnFilesUnderAStrictContentSecurityPolicy) {
  for (const std::string path : {"/", "/ui.js", "/ui.css", "/ui/recent.json", "/status"}) {
    const auto res = vt::http_request(f.health_port(), "GET", path);
    EXPECT_EQ(res.status, 200) << path;
    const auto csp =
        res.headers.count("content-security-policy") ? res.headers.at("content-security-policy") : "";
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << path << ": " << csp;
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << path << ": " << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << path << ": " << csp;
  }
  const auto html = vt::http_request(f.health_port(), "GET", "/").body;
  EXPECT_EQ(html.find("<script>"), std::string::npos);  // no inline script: the CSP would block it
  // Nothing from elsewhere (no CDN, no font): every src and href is a path of the daemon's own.
  static const std::regex outside{R"((src|href)=\"(https?:)?//)"};
  EXPECT_FALSE(std::regex_search(html, outside)) << html;
  EXPECT_EQ(vt::http_request(f.health_port(), "GET", "/ui.css").body.find("url("), std::string::npos);
  // Read-only: nothing but GET and HEAD.
  EXPECT_EQ(vt::http_request(f.health_port(), "POST", "/", "x", "text/plain").status, 405);
}

}  // namespace

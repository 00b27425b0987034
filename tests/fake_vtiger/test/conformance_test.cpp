// Needs: fake Vtiger (build/fake-vtiger). No PostgreSQL.
//
// Replays every recorded exchange of tests/fixtures/vtiger-8.2 (a real Vtiger 8.2) against the fake, in
// recording order (the second lab's 200-430, modules beyond Contacts, after the first lab's), and checks the
// same HTTP status, success flag, error code and message, result keys, row counts and value formats. Skipped:
// the "derived" summary files 40, 101b and 140, which hold no request; 80 (the bulk-create summary) is not
// replayed as one request but re-enacted: its 250 creates are done at the recorded times so the later queries
// see the same data.
//
// How the recorded install's volatile values are made live:
// - sessionName: recorded session -> the live session of the replayed login that produced it; a session
//   whose login was not recorded (97, 129a, 46, and jdoe's in 305-322) gets a fresh login of its user (the
//   8090 lab's fixtures say by name which are jdoe's). jdoe's records there carry per-user stars
//   ("starred": "0" for their creator, "" for anyone else), which the fake keeps by creator.
// - accessKey: the recorded admin key is known (fixture 05 sent it raw), so the recorded token a login used
//   is found by md5 and replaced by md5(live token of that challenge + live key); the second lab's admin
//   key was never sent raw, so its successful login (200a) is taken to use admin's latest challenge, as
//   jdoe's logins use jdoe's.
// - record ids: NxM with M a recorded crmid -> the crmid the fake gave that record (19x/20x users and
//   groups are left alone, and so are 33x line items: line ids are the line table's own MAX+1, and both
//   the recorded install and the fake had no lines before 237).
// - time: the fake's clock is frozen at each fixture's recorded second (POST /_fake/clock), so createdtime,
//   modifiedtime and the literals in the recorded queries line up. The 290/310 s token waits (137b/d) and
//   the 1815 s idle sessions (134-136) are simulated by that clock instead of being slept through; the fake
//   runs with --session-ttl 7200 because the recorded install's PHP never collected those sessions.
//   129b (session file deleted) is simulated with POST /_fake/expire-sessions {"sessionName"}.
// - sync and logout: the recorded install had a PHP 8 fix switched on for the fixtures where they work;
//   the stock ones (99, 109, 111, 126) are replayed after switching the fake to --sync-mode php8-stock
//   through POST /_fake/config (the same setting the flag sets), the others in php7 mode.
// - the two labs' own state, re-enacted as their admins set it up: the fake's users are the second lab's,
//   so the first lab's admin (no first name) is set with POST /_fake/edit until 200a; the multipicklist
//   cf_bf_channels the second lab's admin added to Campaigns with vtlib is added (POST /_fake/add-field,
//   after tags) just before 420, as 420 describes it.
// - a file part (393's "@bf-note.txt (multipart file part)") is sent as multipart/form-data with the file
//   INDEX.md describes.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "child_process.hpp"
#include "recording_helpers.hpp"
#include "test_env.hpp"

namespace {

using nlohmann::json;
using vtsync::test::http_request;
using vtsync::test::url_encode;
using vtsync::test::recordings::expect_same_shape;
using vtsync::test::recordings::form;
using vtsync::test::recordings::md5_hex;
using vtsync::test::recordings::utc_seconds;

const char* const k_recorded_admin_key = "KjGQynDHZHL2Rex1";
const char* const k_live_admin_key = "conformanceKey01";
const char* const k_live_jdoe_key = "fakeJdoeKey00002";
// The files the recordings uploaded, as INDEX.md describes them (393: bf-note.txt, 28 bytes).
const std::map<std::string, std::pair<std::string, std::string>> k_uploaded_files = {
    {"bf-note.txt", {"text/plain", "Beyond flat note.\nLine 2 \u00fc\n"}}};

class replayer {
 public:
  replayer() : fake_({"--access-key", k_live_admin_key, "--session-ttl", "7200", "--sync-mode", "php7"}) {}

  json post_fake(const std::string& path, const json& body) {
    const auto r = http_request(fake_.port(), "POST", path, body.dump(), "application/json");
    if (r.status != 200)
      throw std::runtime_error(path + " answered " + std::to_string(r.status) + " " + r.body);
    return json::parse(r.body);
  }

  vtsync::test::http_response call(const std::string& method, const json& params) {
    if (method == "GET") return http_request(fake_.port(), "GET", "/webservice.php?" + form(params));
    // A file part is recorded as "@<file> (multipart file part)" (393): the body is multipart then.
    static const std::regex file_part(R"(^@(\S+) \(multipart file part\)$)");
    bool multipart = false;
    for (const auto& [k, v] : params.items())
      multipart = multipart || std::regex_match(v.get<std::string>(), file_part);
    if (!multipart) return http_request(fake_.port(), "POST", "/webservice.php", form(params));
    const std::string boundary = "vtsyncConformanceBoundary";
    std::string body;
    for (const auto& [k, v] : params.items()) {
      const std::string value = v.get<std::string>();
      std::smatch m;
      body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"";
      if (std::regex_match(value, m, file_part)) {
        const auto& [type, content] = k_uploaded_files.at(m[1].str());
        body += "; filename=\"" + m[1].str() + "\"\r\nContent-Type: " + type + "\r\n\r\n" + content + "\r\n";
      } else {
        body += "\r\n\r\n" + value + "\r\n";
      }
    }
    body += "--" + boundary + "--\r\n";
    return http_request(fake_.port(), "POST", "/webservice.php", body,
                        "multipart/form-data; boundary=" + boundary);
  }

  std::string fresh_admin_session() { return fresh_session("admin", k_live_admin_key); }

  std::string fresh_session(const std::string& user, const std::string& key) {
    const auto c = json::parse(call("GET", {{"operation", "getchallenge"}, {"username", user}}).body);
    const std::string token = c["result"]["token"];
    const auto l = json::parse(
        call("POST", {{"operation", "login"}, {"username", user}, {"accessKey", md5_hex(token + key)}}).body);
    return l["result"]["sessionName"];
  }

  std::string rewrite_ids(const std::string& text) const {
    static const std::regex id_re(R"((\d+)x(\d+))");
    std::string out;
    auto begin = std::sregex_iterator(text.begin(), text.end(), id_re);
    std::size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      const auto& m = *it;
      out += text.substr(last, static_cast<std::size_t>(m.position()) - last);
      const std::string prefix = m[1];
      const auto found = crmids_.find(m[2]);
      if (prefix != "19" && prefix != "20" && prefix != "33" && found != crmids_.end())
        out += prefix + "x" + found->second;
      else
        out += m.str();
      last = static_cast<std::size_t>(m.position() + m.length());
    }
    return out + text.substr(last);
  }

  void remember_ids(const json& recorded, const json& live) {
    if (recorded.is_object() && live.is_object() && recorded.contains("id") && live.contains("id")) {
      const std::string r = recorded["id"], l = live["id"];
      if (r.rfind("33x", 0) == 0) return;  // line ids are the line table's own, alike on both
      crmids_[r.substr(r.find('x') + 1)] = l.substr(l.find('x') + 1);
    }
  }

  void set_sync_mode(const std::string& mode) {
    if (mode == sync_mode_) return;
    post_fake("/_fake/config", {{"sync_mode", mode}});
    sync_mode_ = mode;
  }

  // The 250 creates of 80-bulk-create-summary.json, at their recorded seconds.
  void reenact_bulk(const json& summary) {
    const std::string session = fresh_admin_session();
    for (const auto& row : summary["rows"]) {
      post_fake("/_fake/clock", {{"set", utc_seconds(row["createdtime"])}});
      const int n = row["n"];
      char last[32];
      std::snprintf(last, sizeof last, "Contact %03d", n);
      const json element = {{"firstname", "Bulk"},
                            {"lastname", last},
                            {"email", "bulk" + std::to_string(n) + "@example.invalid"},
                            {"assigned_user_id", "19x1"}};
      const auto r = json::parse(call("POST", {{"operation", "create"},
                                               {"sessionName", session},
                                               {"elementType", "Contacts"},
                                               {"element", element.dump()}})
                                     .body);
      ASSERT_TRUE(r["success"].get<bool>()) << r.dump();
      EXPECT_EQ(r["result"]["modifiedtime"], row["modifiedtime"]);
      remember_ids(json{{"id", row["id"]}}, r["result"]);
    }
  }

  void replay(const std::string& name, const json& fx) {
    SCOPED_TRACE(name);
    const json& req = fx["request"];
    const json& rec = fx["response"];
    post_fake("/_fake/clock", {{"set", utc_seconds(fx["recorded_at_utc"])}});
    static const std::set<std::string> stock = {"99-sync-stock-php8", "109-sync-no-elementtype",
                                                "111-sync-datetime-string", "126-logout-stock-php8"};
    set_sync_mode(stock.contains(name) ? "php8-stock" : "php7");

    const bool rec_json = rec["body"].is_object();
    const std::string rec_code =
        rec_json && rec["body"].contains("error") ? rec["body"]["error"]["code"].dump() : std::string();
    json params = req["params"];
    const std::string op = params.value("operation", "");
    if (params.contains("sessionName")) {
      const std::string recorded_session = params["sessionName"];
      if (sessions_.contains(recorded_session)) {
        params["sessionName"] = sessions_[recorded_session];
      } else if (rec_code != "\"INVALID_SESSIONID\"") {
        // The 8090 lab's sessions (200-430) were not recorded logging in: jdoe's fixtures say so by name.
        sessions_[recorded_session] = name.find("jdoe") != std::string::npos
                                          ? fresh_session("jdoe", k_live_jdoe_key)
                                          : fresh_admin_session();
        params["sessionName"] = sessions_[recorded_session];
      }
      if (name == "129b-session-after-file-removed") {
        post_fake("/_fake/expire-sessions", {{"sessionName", params["sessionName"]}});
      }
    }
    if (op == "login") {
      const std::string user = params["username"];
      const std::string key = params["accessKey"];
      if (user == "admin") {
        bool mapped = false;
        for (const auto& [recorded_token, live_token] : tokens_) {
          if (md5_hex(recorded_token + k_recorded_admin_key) == key) {
            params["accessKey"] = md5_hex(live_token + k_live_admin_key);
            mapped = true;
          }
        }
        // The second lab's admin key was never sent raw: its login (200a) succeeded, so it used the right
        // key on the latest challenge.
        if (!mapped && rec_json && rec["body"].value("success", false) && !last_admin_token_.empty()) {
          params["accessKey"] = md5_hex(last_admin_token_ + k_live_admin_key);
        }
      } else if (user == "jdoe" && !last_jdoe_token_.empty()) {
        params["accessKey"] = md5_hex(last_jdoe_token_ + k_live_jdoe_key);
      }
    }
    for (const char* key : {"id", "element", "query", "sourceRecordId", "relatedRecordId"}) {
      if (params.contains(key)) params[key] = rewrite_ids(params[key].get<std::string>());
    }

    const auto live = call(req["method"], params);
    EXPECT_EQ(rec["http_status"].get<int>(), live.status);
    EXPECT_EQ(rec["content_type"].get<std::string>().rfind("application/json", 0) == 0,
              live.content_type.rfind("application/json", 0) == 0)
        << "content type " << live.content_type;
    if (!rec_json) {
      EXPECT_EQ(rec["body_raw"].get<std::string>(), live.body);
      return;
    }
    const json got = json::parse(live.body, nullptr, false);
    ASSERT_TRUE(got.is_object()) << live.body.substr(0, 300);
    const json& want = rec["body"];
    ASSERT_EQ(want["success"], got["success"]) << live.body.substr(0, 400);
    if (want.contains("error")) {
      EXPECT_EQ(want["error"], got["error"]);
      EXPECT_EQ(
          std::string(rec["body_raw"]).find("\"message\"") < std::string(rec["body_raw"]).find("\"code\""),
          live.body.find("\"message\"") < live.body.find("\"code\""));
      return;
    }
    EXPECT_EQ(want.contains("result"), got.contains("result"));
    expect_same_shape(want["result"], got["result"], "result");
    // Values that follow from the replayed data, not from the install.
    if (want["result"].is_array() && !want["result"].empty() && want["result"][0].contains("count")) {
      EXPECT_EQ(want["result"][0]["count"], got["result"][0]["count"]);
    }
    if (op == "sync") {
      EXPECT_EQ(want["result"]["more"], got["result"]["more"]);
      EXPECT_EQ(want["result"]["lastModifiedTime"], got["result"]["lastModifiedTime"]);
    }
    if (op == "getchallenge") {
      tokens_[want["result"]["token"]] = got["result"]["token"];
      if (params["username"] == "jdoe") last_jdoe_token_ = got["result"]["token"];
      if (params["username"] == "admin") last_admin_token_ = got["result"]["token"];
    }
    if (op == "login") sessions_[want["result"]["sessionName"]] = got["result"]["sessionName"];
    if (op == "create" || op == "retrieve") remember_ids(want["result"], got["result"]);
  }

 private:
  vtsync::test::fake_vtiger fake_;
  std::map<std::string, std::string> sessions_;  // recorded sessionName -> live
  std::map<std::string, std::string> tokens_;    // recorded challenge token -> live
  std::map<std::string, std::string> crmids_;    // recorded crmid -> live crmid
  std::string last_jdoe_token_;
  std::string last_admin_token_;
  std::string sync_mode_ = "php7";
};

TEST(FakeVtigerConformance, ReplaysEveryRecordedExchange) {
  std::vector<std::pair<std::string, json>> fixtures;
  json bulk;
  for (const auto& entry : std::filesystem::directory_iterator(vtsync::test::fixtures_dir())) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    json fx = json::parse(in);
    const std::string name = entry.path().stem().string();
    if (name == "80-bulk-create-summary") bulk = fx;
    if (!fx.contains("request")) continue;  // derived summaries (40, 80, 101b, 140) hold no request
    fixtures.emplace_back(name, std::move(fx));
  }
  ASSERT_GE(fixtures.size(), 120u) << "fixtures missing from " << vtsync::test::fixtures_dir();
  std::sort(fixtures.begin(), fixtures.end(), [](const auto& a, const auto& b) {
    return a.second["recorded_at_utc"].template get<std::string>() <
           b.second["recorded_at_utc"].template get<std::string>();
  });
  replayer r;
  // The fake's users are the second lab's (data/users.json); the first lab's admin had no first name (02).
  r.post_fake("/_fake/edit", {{"id", "19x1"}, {"fields", {{"first_name", ""}}}});
  bool bulk_done = false;
  for (const auto& [name, fx] : fixtures) {
    if (name == "200a-admin-getchallenge")  // the second lab's first call: its admin is "Lab Administrator"
      r.post_fake("/_fake/edit", {{"id", "19x1"}, {"fields", {{"first_name", "Lab"}}}});
    // The bulk creates happened between 78 (01:05:11) and 81 (01:06:14).
    if (!bulk_done && name == "81-query-nolimit") {
      r.reenact_bulk(bulk);
      bulk_done = true;
    }
    // The lab's admin added the multipicklist cf_bf_channels to Campaigns (vtlib) before 420: re-enacted
    // with the field as 420 describes it, in its place (after tags).
    if (name == "420-describe-campaigns-with-multipicklist") {
      for (const auto& f : fx["response"]["body"]["result"]["fields"]) {
        if (f["name"] == "cf_bf_channels")
          r.post_fake("/_fake/add-field", {{"module", "Campaigns"}, {"field", f}, {"after", "tags"}});
      }
    }
    r.replay(name, fx);
  }
  EXPECT_TRUE(bulk_done);
}

}  // namespace

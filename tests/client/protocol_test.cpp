// Needs: nothing (pure functions of the Vtiger client; reads the recorded fixtures).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "test_env.hpp"
#include "vtsync/sync/vtiger/protocol.hpp"

using namespace vtsync::vtiger;
using namespace std::chrono_literals;

namespace {

// The recorded response of one fixture: status, content type and the raw body bytes.
struct recorded {
  int status;
  std::string content_type;
  std::string body;
};

recorded load_fixture(const std::string& name) {
  std::ifstream in(vtsync::test::fixtures_dir() + "/" + name);
  if (!in) throw std::runtime_error("missing fixture " + name);
  const json doc = json::parse(in);
  const json& res = doc.at("response");
  return {res.at("http_status").get<int>(), res.at("content_type").get<std::string>(),
          res.at("body_raw").get<std::string>()};
}

error_kind kind_of(int status, std::string_view content_type, std::string_view body) {
  try {
    (void)parse_response(status, content_type, body);
  } catch (const client_error& e) {
    return e.kind();
  }
  throw std::runtime_error("parse_response did not throw");
}

// The reference for parse_query_records: parse_response's result, flattened field by field (an
// independent re-implementation of record's to_flat_record).
std::optional<std::vector<vtsync::flat_record>> via_parse_response(int status, std::string_view body) {
  api_result<json> answer = [&]() -> api_result<json> {
    try {
      return parse_response(status, "application/json", body);
    } catch (const client_error&) {
      return api_result<json>(boost::system::in_place_error, api_error{});
    }
  }();
  if (!answer || !answer->is_array()) return std::nullopt;
  std::vector<vtsync::flat_record> out;
  for (const auto& row : *answer) {
    if (!row.is_object()) return std::nullopt;
    vtsync::flat_record r;
    for (auto it = row.begin(); it != row.end(); ++it) {
      vtsync::flat_field f{it.key(), {}};
      if (it->is_string()) {
        f.value = {vtsync::flat_value::kind::string, it->get<std::string>()};
      } else if (!it->is_null()) {
        return std::nullopt;
      }
      r.fields.push_back(std::move(f));
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool same(const std::vector<vtsync::flat_record>& a, const std::vector<vtsync::flat_record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].fields.size() != b[i].fields.size()) return false;
    for (std::size_t j = 0; j < a[i].fields.size(); ++j) {
      const auto &x = a[i].fields[j], &y = b[i].fields[j];
      if (x.name != y.name || x.value.type != y.value.type || x.value.text != y.value.text) return false;
    }
  }
  return true;
}

}  // namespace

TEST(VtigerEndpoint, AppendsWebservicePhpWhenMissing) {
  auto ep = parse_endpoint("https://crm.example.com");
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "crm.example.com");
  EXPECT_EQ(ep.port, "443");
  EXPECT_EQ(ep.target, "/webservice.php");
  EXPECT_EQ(ep.host_header(), "crm.example.com");
  EXPECT_EQ(ep.to_string(), "https://crm.example.com/webservice.php");

  EXPECT_EQ(parse_endpoint("https://crm.example.com/").target, "/webservice.php");
  EXPECT_EQ(parse_endpoint("https://crm.example.com/webservice.php").target, "/webservice.php");
  EXPECT_EQ(parse_endpoint("https://host/vtiger/").target, "/vtiger/webservice.php");
  EXPECT_EQ(parse_endpoint("https://host/vtiger").target, "/vtiger/webservice.php");
  EXPECT_EQ(parse_endpoint("https://host/vtiger/webservice.php").target, "/vtiger/webservice.php");
}

TEST(VtigerEndpoint, PortsSchemesAndAddresses) {
  auto ep = parse_endpoint("http://127.0.0.1:8088");
  EXPECT_FALSE(ep.tls);
  EXPECT_EQ(ep.port, "8088");
  EXPECT_EQ(ep.host_header(), "127.0.0.1:8088");
  EXPECT_EQ(parse_endpoint("http://example.com").port, "80");
  EXPECT_EQ(parse_endpoint("HTTPS://example.com:8443/x/").to_string(),
            "https://example.com:8443/x/webservice.php");
  auto v6 = parse_endpoint("http://[::1]:9000/");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.host_header(), "[::1]:9000");
}

TEST(VtigerEndpoint, RejectsWhatCannotBeAnEndpoint) {
  for (const char* bad : {"crm.example.com", "ftp://crm.example.com", "https://crm.example.com/?a=b",
                          "https://user:pw@crm.example.com/", "", "https://"}) {
    try {
      (void)parse_endpoint(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::invalid_argument) << bad;
    }
  }
}

TEST(VtigerRequest, FormEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(percent_encode("O'Brien & Co =100%"), "O%27Brien%20%26%20Co%20%3D100%25");
  EXPECT_EQ(percent_encode("Zoë+\n"), "Zo%C3%AB%2B%0A");
  param_list params{{"operation", "query"}, {"query", "SELECT * FROM Contacts;"}};
  EXPECT_EQ(form_encode(params), "operation=query&query=SELECT%20%2A%20FROM%20Contacts%3B");
}

TEST(VtigerRequest, ElementIsRawUtf8WithMinimalEscapes) {
  const json element = {{"lastname", "O\"Brien \\ Zoë 日本"}, {"description", "a\nb\tc\x01"}};
  const std::string text = encode_element(element);
  EXPECT_NE(text.find(R"(O\"Brien \\ Zoë 日本)"), std::string::npos) << text;
  EXPECT_EQ(text.find("\\u0022"), std::string::npos);
  EXPECT_EQ(text.find("\\u005c"), std::string::npos);
  EXPECT_EQ(text.find("\\u00"), text.find("\\u0001"));  // only the control character is a \u escape
  EXPECT_NE(text.find(R"(a\nb\tc)"), std::string::npos);
  EXPECT_EQ(json::parse(text), element);
}

TEST(VtigerRequest, ElementWithInvalidUtf8IsRefused) {
  try {
    (void)encode_element(json{{"lastname", std::string("\xff\xfe")}});
    ADD_FAILURE() << "invalid UTF-8 was encoded";
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::invalid_argument);
  }
}

TEST(VtigerResponse, RawControlCharactersInsideStringsAreAccepted) {
  const std::string body = std::string("{\"success\":true,\"result\":{\"d\":\"a") + '\x01' + "b" + '\x1f' +
                           "\\\"q\\\\" + '\t' + "\"}}";
  auto r = parse_response(200, "application/json", body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)["d"].get<std::string>(), std::string("a\x01") + "b\x1f\"q\\\t");
  // Outside strings nothing changes; an escaped quote does not end the string.
  EXPECT_EQ(escape_raw_controls("{\n\"a\":\"x\\\"\ny\"}"), "{\n\"a\":\"x\\\"\\u000ay\"}");
}

TEST(VtigerResponse, SuccessWithoutResultIsNull) {
  auto r = parse_response(200, "application/json", R"({"success":true})");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_null());
}

TEST(VtigerResponse, RecordedAnswersAreClassified) {
  {
    auto f = load_fixture("02-login-ok.json");
    auto r = parse_response(f.status, f.content_type, f.body);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ((*r)["userId"], "19x1");
  }
  {
    auto f = load_fixture("54-create-account-duplicate.json");  // code is the NUMBER 0
    auto r = parse_response(f.status, f.content_type, f.body);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "0");
    EXPECT_EQ(r.error().message, "Duplicate(s) detected!");
  }
  {
    auto f = load_fixture("60-create-missing-mandatory.json");
    auto r = parse_response(f.status, f.content_type, f.body);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "MANDATORY_FIELDS_MISSING");
  }
  {
    auto f = load_fixture("62-create-bad-assigned-user.json");  // HTTP 200, text/html, not JSON
    EXPECT_EQ(kind_of(f.status, f.content_type, f.body), error_kind::html);
  }
  for (const char* name :
       {"75-unknown-operation.json", "99-sync-stock-php8.json", "126-logout-stock-php8.json"}) {
    auto f = load_fixture(name);
    try {
      (void)parse_response(f.status, f.content_type, f.body);
      ADD_FAILURE() << name;
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::http_status) << name;
      EXPECT_EQ(e.http_status(), 500) << name;
      EXPECT_TRUE(e.transient()) << name;
    }
  }
}

TEST(VtigerResponse, BrokenBodiesHaveTypedKinds) {
  EXPECT_EQ(kind_of(200, "text/html", "<html><body>Fatal error</body></html>"), error_kind::html);
  EXPECT_EQ(kind_of(200, "application/json", "  <br />\n<b>Warning</b>"), error_kind::html);
  EXPECT_EQ(kind_of(200, "application/json", R"({"success":true,"result":{"id":"12)"), error_kind::bad_json);
  EXPECT_EQ(kind_of(200, "application/json", ""), error_kind::bad_json);
  EXPECT_EQ(kind_of(200, "application/json", "[1,2]"), error_kind::bad_json);
  EXPECT_EQ(kind_of(200, "application/json", R"({"result":[]})"), error_kind::bad_json);
  EXPECT_EQ(kind_of(200, "application/json", R"({"success":false})"), error_kind::bad_json);
  EXPECT_EQ(kind_of(502, "text/html", "<html>Bad Gateway</html>"), error_kind::http_status);
  try {
    (void)parse_response(404, "text/html", "");
  } catch (const client_error& e) {
    EXPECT_FALSE(e.transient());  // a wrong URL does not heal by retrying
  }
}

TEST(VtigerResponse, ApiErrorValueThrowsForCallersThatDoNotExpectIt) {
  auto r =
      parse_response(200, "application/json",
                     R"({"success":false,"error":{"message":"Permission denied","code":"ACCESS_DENIED"}})");
  try {
    (void)r.value();
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.kind(), error_kind::api);
    ASSERT_TRUE(e.api().has_value());
    EXPECT_EQ(e.api()->code, "ACCESS_DENIED");
  }
}

TEST(VtigerSession, RelogCodes) {
  EXPECT_TRUE(is_session_error("INVALID_SESSIONID", "query"));
  EXPECT_TRUE(is_session_error("SESSION_EXPIRED", "create"));
  EXPECT_TRUE(is_session_error("SESSION_LEFT_IDLE", "retrieve"));
  EXPECT_TRUE(is_session_error("AUTHENTICATION_REQUIRED", "listtypes"));
  EXPECT_FALSE(is_session_error("AUTHENTICATION_REQUIRED", "login"));
  EXPECT_FALSE(is_session_error("ACCESS_DENIED", "query"));
  EXPECT_FALSE(is_session_error("0", "create"));
}

// The names are keys of client_stats::errors and what hooks.on_error reports (options.hpp): they stay as
// they are, each with its own kind (error.cpp keeps them in an array indexed by the enum).
TEST(VtigerErrors, KindNamesAreStable) {
  const std::pair<error_kind, std::string_view> names[] = {
      {error_kind::connect, "connect"},
      {error_kind::timeout, "timeout"},
      {error_kind::tls, "tls"},
      {error_kind::transport, "transport"},
      {error_kind::http_status, "http_status"},
      {error_kind::html, "html"},
      {error_kind::bad_json, "bad_json"},
      {error_kind::body_too_large, "body_too_large"},
      {error_kind::outcome_unknown, "outcome_unknown"},
      {error_kind::login_failed, "login_failed"},
      {error_kind::unsupported, "unsupported"},
      {error_kind::api, "api"},
      {error_kind::invalid_argument, "invalid_argument"},
  };
  for (const auto& [kind, name] : names) EXPECT_EQ(to_string(kind), name);
  EXPECT_EQ(to_string(static_cast<error_kind>(99)), "unknown");
}

TEST(VtigerLogin, Md5IsLowerCaseHex) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("6b0a28bb83464"
                    "secretkey"),
            md5_hex("6b0a28bb83464secretkey"));
}

TEST(VtigerLog, SecretsAreRedacted) {
  param_list params{{"operation", "login"},
                    {"username", "admin"},
                    {"accessKey", "a1ae3229899c0797b7618fb8b09b6a6b"},
                    {"sessionName", "21ab09016b0a28bbad505"}};
  const auto text = redact_params(params);
  EXPECT_EQ(text, "operation=login username=admin accessKey=*** sessionName=***");
}

TEST(VtigerRetry, BackoffIsFullJitterWithinTheCap) {
  retry_options o;
  o.initial_backoff = 100ms;
  o.max_backoff = 1000ms;
  std::mt19937_64 rng(7);
  for (int retry = 1; retry <= 8; ++retry) {
    const auto ceiling = std::min<long>(1000, 100L << (retry - 1));
    std::chrono::milliseconds largest{0};
    for (int i = 0; i < 200; ++i) {
      const auto d = backoff_delay(o, retry, rng);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d.count(), ceiling) << "retry " << retry;
      largest = std::max(largest, d);
    }
    EXPECT_GT(largest.count(), ceiling / 2) << "jitter should use the whole range, retry " << retry;
  }
}

TEST(VtigerRetry, RateScheduleSpacesRequests) {
  using clock = rate_schedule::clock;
  const auto t0 = clock::time_point{} + std::chrono::hours(1);
  rate_schedule unlimited(0);
  EXPECT_EQ(unlimited.reserve(t0), t0);
  EXPECT_EQ(unlimited.reserve(t0), t0);

  rate_schedule four(4);  // one request every 250 ms
  EXPECT_EQ(four.reserve(t0), t0);
  EXPECT_EQ(four.reserve(t0), t0 + 250ms);
  EXPECT_EQ(four.reserve(t0 + 10ms), t0 + 500ms);
  // After a long idle period the schedule does not bank unused slots.
  EXPECT_EQ(four.reserve(t0 + 10s), t0 + 10s);
  EXPECT_EQ(four.reserve(t0 + 10s), t0 + 10s + 250ms);
}

// Found by tests/fuzz/fuzz_protocol: nlohmann::json parses any nesting depth, but dump() recurses once per
// level, so a hostile body such as {"success":false,"error":{"code":[[[...]]]}} (200,000 levels) overflowed
// the stack inside parse_response (the code is dumped when it is not a string), and a deep result would
// crash `vtsyncd call`. Bodies nested deeper than max_json_depth are bad_json now, before parsing.
// Found by tests/fuzz/fuzz_protocol: nlohmann's parser stops at a NUL byte, so a raw NUL outside any string
// made a body's first part pass for the whole answer.
TEST(VtigerResponse, FuzzRegressionRawNulOutsideAStringIsBadJson) {
  using namespace std::string_literals;
  for (const std::string& body :
       {"{\"success\":true,\"result\":1}\0{garbage"s, "{\"success\":true,\"result\":[1,\0 2]}"s}) {
    try {
      (void)parse_response(200, "application/json", body);
      ADD_FAILURE() << "accepted a body with a raw NUL outside a string";
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::bad_json) << e.what();
    }
  }
  // Inside a string a raw NUL is a raw control character like the others: escaped, then parsed.
  const std::string inside = "{\"success\":true,\"result\":\"a\0b\"}"s;
  const auto r = parse_response(200, "application/json", inside);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r.value().get<std::string>(), "a\0b"s);
}

TEST(VtigerResponse, FuzzRegressionDeepNestingIsBadJsonNotACrash) {
  const auto nested = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  for (const std::string& body :
       {"{\"success\":false,\"error\":{\"code\":" + nested(200000) + ",\"message\":\"x\"}}",
        "{\"success\":true,\"result\":" + nested(200000) + "}",
        "{\"success\":true,\"result\":" + nested(max_json_depth) + "}"}) {
    try {
      (void)parse_response(200, "application/json", body);
      ADD_FAILURE() << "accepted a body nested " << body.size() / 2 << " levels";
    } catch (const client_error& e) {
      EXPECT_EQ(e.kind(), error_kind::bad_json);
      EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
    }
  }
  // Up to the limit (the envelope's own object counts) is fine, and brackets inside strings do not count.
  auto ok = parse_response(200, "application/json",
                           "{\"success\":true,\"result\":" + nested(max_json_depth - 1) + "}");
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok.value().dump().empty());
  auto in_string = parse_response(200, "application/json",
                                  "{\"success\":true,\"result\":\"" + std::string(100000, '[') + "\\\"{\"}");
  ASSERT_TRUE(in_string.has_value());
  EXPECT_EQ(in_string.value().get<std::string>().size(), 100002u);
}

// The fast path for query answers gives exactly what parse_response gives, on every recorded answer of the
// real server that it accepts; it accepts the recorded query pages.
TEST(QueryRecords, AgreeWithParseResponseOnEveryFixture) {
  std::size_t accepted = 0, files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(vtsync::test::fixtures_dir())) {
    if (entry.path().extension() != ".json" ||
        entry.path().filename().string().find("-") == std::string::npos)
      continue;
    recorded r;
    try {
      r = load_fixture(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;  // not a recorded exchange (INDEX and summaries)
    }
    ++files;
    const auto fast = parse_query_records(r.body);
    if (!fast) continue;
    ++accepted;
    const auto reference = via_parse_response(r.status, r.body);
    ASSERT_TRUE(reference.has_value()) << entry.path();
    EXPECT_TRUE(same(*fast, *reference)) << entry.path();
  }
  EXPECT_GT(files, 50u);
  EXPECT_GE(accepted, 10u);
  const auto page = parse_query_records(load_fixture("82-query-limit-200.json").body);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->size(), 100u);  // the server's silent cap
  EXPECT_FALSE(page->front().text("id").empty());
}

TEST(QueryRecords, TheAcceptedSubsetAndEverythingElseLeftToParseResponse) {
  const auto one = parse_query_records(
      " {\"result\" : [ {\"b\":\"x\\\"y\\\\z\\/\\u00e9\\ud83d\\ude00\\n\", \"a\":null,\"id\":\"12x1\"} ] ,\"success\":true}\r\n");
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->size(), 1u);
  const auto& r = one->front();
  ASSERT_EQ(r.fields.size(), 3u);
  EXPECT_EQ(r.fields[0].name, "a");  // sorted
  EXPECT_EQ(r.fields[0].value.type, vtsync::flat_value::kind::null);
  EXPECT_EQ(r.text("b"), "x\"y\\z/\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_EQ(r.text("id"), "12x1");
  EXPECT_EQ(r.find("nope"), nullptr);
  EXPECT_TRUE(parse_query_records("{\"success\":true,\"result\":[]}")->empty());

  for (const std::string& body : {
           std::string{"{\"success\":false,\"error\":{\"code\":\"X\",\"message\":\"m\"}}"},
           std::string{"{\"success\":true,\"result\":[{\"n\":1}]}"},                  // a number
           std::string{"{\"success\":true,\"result\":[{\"n\":true}]}"},               // a boolean
           std::string{"{\"success\":true,\"result\":[{\"n\":[\"a\"]}]}"},            // nested
           std::string{"{\"success\":true,\"result\":[{\"a\":\"1\",\"a\":\"2\"}]}"},  // repeated key
           std::string{"{\"success\":true,\"result\":[{\"a\":\"x\ty\"}]}"},     // a raw control character
           std::string{"{\"success\":true,\"result\":[{\"a\":\"caf\xc3\"}]}"},  // invalid UTF-8
           std::string{"{\"success\":true,\"result\":[{\"a\":\"\\udc00\"}]}"},  // lone low surrogate
           std::string{"{\"success\":true,\"result\":[{\"a\":\"x\"}]} x"},      // trailing text
           std::string{"{\"success\":true,\"result\":[{\"a\":\"x\"}]"},         // truncated
           std::string{"{\"success\":true}"},                                   // no result
           std::string{"{\"success\":true,\"result\":{\"a\":\"x\"}}"},          // not a list
           std::string{"{\"success\":true,\"result\":[],\"extra\":1}"},         // another key
           std::string{"<html>500</html>"},
           std::string{"{\"success\":true,\"result\":[{\"a\":nul}]}"},
       }) {
    EXPECT_FALSE(parse_query_records(body).has_value()) << body;
  }
}

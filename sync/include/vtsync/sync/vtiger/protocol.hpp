#pragma once
// The pure (no I/O) parts of talking to webservice.php: the endpoint, request encoding, response
// classification, the login digest, redaction for logs, and the backoff/rate arithmetic.
//
// Error policy: parse_endpoint and encode_element throw client_error{invalid_argument};
// parse_response returns Vtiger's answer as api_result and throws client_error for an answer that is not
// Vtiger's JSON envelope (http_status, html, bad_json). Everything else does not throw.
#include "vtsync/sync/record/flat_record.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vtsync/sync/vtiger/error.hpp"
#include "vtsync/sync/vtiger/options.hpp"

namespace vtsync::vtiger {

using json = nlohmann::json;

enum class http_method { get, post };

// Parameters in the order they are sent; names may repeat for custom operations.
using param_list = std::vector<std::pair<std::string, std::string>>;

struct endpoint {
  bool tls = false;
  std::string host;    // without brackets for IPv6
  std::string port;    // always set ("80"/"443" by default)
  std::string target;  // absolute path ending in webservice.php, e.g. "/vtiger/webservice.php"
  [[nodiscard]] std::string host_header() const;  // host[:port], the port only when not the default
  [[nodiscard]] std::string to_string() const;    // scheme://host[:port]/target, for log lines
};

// "https://crm.example.com" -> https, crm.example.com, 443, "/webservice.php". A path that already ends in
// webservice.php is kept; any other path is a prefix ("https://host/vtiger/" -> "/vtiger/webservice.php").
// Query and fragment are rejected, as are schemes other than http and https.
[[nodiscard]] endpoint parse_endpoint(std::string_view url);

// application/x-www-form-urlencoded, also used for GET query strings. Only unreserved characters stay as
// they are; space becomes %20 (PHP decodes both %20 and +).
[[nodiscard]] std::string form_encode(const param_list& params);
[[nodiscard]] std::string percent_encode(std::string_view value);

// The `element` parameter: raw UTF-8 with only the quote, the backslash and control characters escaped,
// never as \u escapes for the quote or the backslash (Vtiger's Zend decoder expands \u escapes before
// tokenising, vtiger-webservice.md §1.4).
[[nodiscard]] std::string encode_element(const json& element);

// Real Vtiger emits raw control characters (0x00-0x1F) inside JSON strings (§2.1); they are rewritten as
// \u00XX escapes so that a strict parser accepts the body. Bytes outside strings are left alone.
[[nodiscard]] std::string escape_raw_controls(std::string_view body);

// Vtiger's answers nest a handful of levels. A body nested deeper than this is refused (bad_json) before
// it is parsed: nlohmann::json parses any depth, but dump() (error codes, `vtsyncd call`, log lines)
// recurses once per level, and 200,000 levels overflowed the stack (found by tests/fuzz/fuzz_protocol).
inline constexpr std::size_t max_json_depth = 512;

// Classifies one HTTP answer. Success -> the result (json null for {"success":true} without result);
// {"success":false} -> api_error with the code as a string. Throws client_error:
// http_status (any status other than 200), html (a body that does not start like JSON), bad_json (invalid,
// truncated, not the envelope, or nested deeper than max_json_depth).
[[nodiscard]] api_result<json> parse_response(int status, std::string_view content_type,
                                              std::string_view body);

// The common case of a successful `query` answer, parsed without building a JSON document:
// {"success":true,"result":[...]} (either key order, any JSON whitespace) whose records are objects of
// strings and nulls with distinct keys, strings well-formed UTF-8 without raw control characters. Returns
// nullopt for anything else (then parse_response decides, with its errors); what it returns is exactly
// what parse_response's result gives through sync/record's to_flat_record (checked by
// tests/fuzz/fuzz_protocol).
[[nodiscard]] std::optional<std::vector<flat_record>> parse_query_records(std::string_view body);

// Lower-case hex MD5 (OpenSSL EVP), as login wants md5(token + access key).
[[nodiscard]] std::string md5_hex(std::string_view data);

// "operation=query sessionName=*** query=..." for log lines: sessionName and accessKey values are hidden.
[[nodiscard]] std::string redact_params(const param_list& params);

// Full-jitter delay before retry number `retry` (1 = the first retry): uniform in [0, min(max_backoff,
// initial_backoff * 2^(retry-1))].
[[nodiscard]] std::chrono::milliseconds backoff_delay(const retry_options& options, int retry,
                                                      std::mt19937_64& rng);

// Client-side request rate: reserve() returns when the next request may start, spacing requests by
// 1/rate seconds; a slot unused while idle is not saved up beyond one request.
class rate_schedule {
 public:
  using clock = std::chrono::steady_clock;
  explicit rate_schedule(double requests_per_second) : rate_(requests_per_second) {}
  [[nodiscard]] clock::time_point reserve(clock::time_point now);

 private:
  double rate_;
  clock::time_point next_{};
};

}  // namespace vtsync::vtiger

// libFuzzer target: Vtiger's response parser (sync/src/vtiger/response.cpp, query_records.cpp, request.cpp).
//
// Input: byte 0 picks the HTTP status and Content-Type, the rest is the body. parse_response must either
// return Vtiger's answer or throw client_error; nothing else may escape, and nothing may crash. Also:
// escape_raw_controls leaves valid JSON untouched, and its output never holds a raw control character in
// a string; parse_query_records agrees with parse_response on whatever it accepts; parse_endpoint and
// redact_params take the same bytes as a URL / a parameter value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "vtsync/sync/vtiger/protocol.hpp"

using namespace vtsync::vtiger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  static constexpr int statuses[] = {200, 200, 200, 200, 500, 404, 302, 0};
  static constexpr std::string_view types[] = {"application/json", "text/html; charset=UTF-8", "",
                                               "text/json"};
  const int status = statuses[mode & 7];
  const std::string_view content_type = types[(mode >> 3) & 3];

  try {
    auto r = parse_response(status, content_type, body);
    FUZZ_CHECK(status == 200, "an answer was accepted with a status other than 200");
    if (r.has_value()) {
      (void)r.value().dump();  // the result must be a usable json value
    } else {
      (void)r.error().code.size();
    }
  } catch (const client_error& e) {
    FUZZ_CHECK(e.what() != nullptr, "an error without a message");
  }

  // parse_query_records: whatever it accepts, parse_response reads the same way (the same records, the
  // same fields sorted, the same strings and nulls).
  if (const auto fast = parse_query_records(body)) {
    api_result<json> slow = api_result<json>(boost::system::in_place_value, json());
    try {
      slow = parse_response(200, "application/json", body);
    } catch (const client_error&) {
      FUZZ_CHECK(false, "parse_query_records accepted what parse_response refuses");
    }
    FUZZ_CHECK(slow.has_value() && slow->is_array() && slow->size() == fast->size(),
               "parse_query_records: another number of records");
    for (std::size_t i = 0; i < fast->size(); ++i) {
      const json& row = (*slow)[i];
      const auto& flat = (*fast)[i];
      FUZZ_CHECK(row.is_object() && row.size() == flat.fields.size(), "parse_query_records: other fields");
      std::size_t j = 0;
      for (auto it = row.begin(); it != row.end(); ++it, ++j) {
        const auto& f = flat.fields[j];
        FUZZ_CHECK(it.key() == f.name, "parse_query_records: another field name or order");
        if (it->is_string()) {
          FUZZ_CHECK(
              f.value.type == vtsync::flat_value::kind::string && f.value.text == it->get<std::string>(),
              "parse_query_records: another string");
        } else {
          FUZZ_CHECK(it->is_null() && f.value.type == vtsync::flat_value::kind::null,
                     "parse_query_records: another value");
        }
      }
    }
  }

  // escape_raw_controls: identity on JSON that is already valid; output parses whenever the input, with
  // its raw controls escaped, is JSON (it only ever touches bytes < 0x20 inside strings).
  const std::string escaped = escape_raw_controls(body);
  // (json::accept stops at a NUL byte, taking what is before it for the whole input: not valid JSON.)
  if (body.find('\0') == std::string::npos && json::accept(body))
    FUZZ_CHECK(escaped == body, "escape_raw_controls changed valid JSON");
  FUZZ_CHECK(escaped.size() >= body.size(), "escape_raw_controls dropped bytes");

  if (mode & 0x20) {
    try {
      const auto ep = parse_endpoint(body);
      FUZZ_CHECK(!ep.host.empty() && !ep.port.empty(), "an endpoint without host or port");
      FUZZ_CHECK(ep.target.size() >= 15 && ep.target.front() == '/', "a target that is not a path");
      FUZZ_CHECK(ep.target.compare(ep.target.size() - 15, 15, "/webservice.php") == 0,
                 "a target that does not end in /webservice.php");
      (void)ep.to_string();
    } catch (const client_error& e) {
      FUZZ_CHECK(e.kind() == error_kind::invalid_argument,
                 "parse_endpoint threw a kind other than invalid_argument");
    }
  }

  // The secrets never reach a log line whatever else is in the parameters.
  const std::string secret = "S3cr3t-" + std::string(body.substr(0, 8));
  const std::string line =
      redact_params({{"operation", std::string(body)}, {"accessKey", secret}, {"sessionName", secret}});
  FUZZ_CHECK(line.find("accessKey=***") != std::string::npos, "accessKey not redacted");
  FUZZ_CHECK(line.find("sessionName=***") != std::string::npos, "sessionName not redacted");

  const std::string encoded = percent_encode(body);
  for (char c : encoded) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u > 0x20 && u < 0x7f && c != '&' && c != '=' && c != '+',
               "percent_encode let a delimiter through");
  }
  return 0;
}

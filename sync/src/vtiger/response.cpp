// The receiving side of protocol.hpp: parse_response, which classifies one HTTP answer as Vtiger's result,
// Vtiger's api_error, or a client_error (not 200, an HTML page, JSON that is invalid, truncated, nested too
// deep or not Vtiger's envelope), and escape_raw_controls for the raw control characters Vtiger emits.
// The fast path for query pages (parse_query_records) is in query_records.cpp.
#include <algorithm>

#include "ascii.hpp"
#include "vtsync/sync/vtiger/protocol.hpp"

namespace vtsync::vtiger {
namespace {

// A short, printable piece of a body for an error message.
std::string excerpt(std::string_view body) {
  constexpr std::size_t max_len = 120;
  std::string out;
  for (char c : body.substr(0, max_len)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  if (body.size() > max_len) out += "...";
  return out;
}

// The deepest [ / { nesting outside strings, counted up to `limit + 1`.
std::size_t nesting_depth(std::string_view body, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char ch : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::string escape_raw_controls(std::string_view body) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(body.size());
  bool in_string = false;
  bool escaped = false;
  for (char ch : body) {
    const auto c = static_cast<unsigned char>(ch);
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      } else if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
        continue;
      }
    } else if (ch == '"') {
      in_string = true;
    }
    out += ch;
  }
  return out;
}

api_result<json> parse_response(int status, std::string_view content_type, std::string_view body) {
  if (status != 200) {
    throw client_error(error_kind::http_status,
                       body.empty() ? "HTTP " + std::to_string(status) + " with an empty body"
                                    : "HTTP " + std::to_string(status) + ": " + excerpt(body),
                       status);
  }
  const auto start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    throw client_error(error_kind::bad_json, "HTTP 200 with an empty body");
  if (body[start] != '{') {
    const bool html =
        body[start] == '<' || detail::ascii_lower(content_type).find("html") != std::string::npos;
    throw client_error(
        html ? error_kind::html : error_kind::bad_json,
        (html ? "a page instead of JSON: " : "a body that is not a JSON object: ") + excerpt(body));
  }
  if (nesting_depth(body, max_json_depth) > max_json_depth) {
    throw client_error(error_kind::bad_json, "JSON nested deeper than " + std::to_string(max_json_depth) +
                                                 " levels (" + std::to_string(body.size()) + " bytes)");
  }
  // Bodies without any control character (the usual compact JSON) are parsed as they are: escaping would
  // copy them unchanged.
  const bool has_controls =
      std::any_of(body.begin(), body.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; });
  // nlohmann's parser takes a NUL byte for the end of the input, so a raw NUL left outside a string
  // (escaping only touches strings) would make it accept the text before it and ignore the rest: such a
  // body is not JSON (found by tests/fuzz/fuzz_protocol).
  std::string escaped;
  if (has_controls) escaped = escape_raw_controls(body);
  json doc = has_controls ? (escaped.find('\0') != std::string::npos
                                 ? json(json::value_t::discarded)
                                 : json::parse(escaped, nullptr, /*allow_exceptions=*/false))
                          : json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    throw client_error(error_kind::bad_json, "invalid or truncated JSON (" + std::to_string(body.size()) +
                                                 " bytes): " + excerpt(body));
  }
  const auto success = doc.find("success");
  if (!doc.is_object() || success == doc.end() || !success->is_boolean()) {
    throw client_error(error_kind::bad_json, "JSON without Vtiger's success flag: " + excerpt(body));
  }
  if (success->get<bool>()) {
    auto result = doc.find("result");
    // {"success":true} without result: the handler returned null (§2.1).
    return api_result<json>(boost::system::in_place_value, result == doc.end() ? json() : std::move(*result));
  }
  api_error err;
  if (auto e = doc.find("error"); e != doc.end() && e->is_object()) {
    if (auto code = e->find("code"); code != e->end()) {
      // Duplicate prevention sends the number 0 (§2.2).
      err.code = code->is_string() ? code->get<std::string>() : code->dump();
    }
    if (auto msg = e->find("message"); msg != e->end()) {
      err.message = msg->is_string() ? msg->get<std::string>() : msg->dump();
    }
  } else {
    throw client_error(error_kind::bad_json, "success:false without an error object: " + excerpt(body));
  }
  return api_result<json>(boost::system::in_place_error, std::move(err));
}

}  // namespace vtsync::vtiger

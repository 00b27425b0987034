#include "vtsync/sync/vtiger/protocol.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cmath>

namespace vtsync::vtiger {
namespace {

constexpr std::string_view webservice_php = "webservice.php";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

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

std::string endpoint::host_header() const {
  const bool default_port = (tls && port == "443") || (!tls && port == "80");
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + port;
}

std::string endpoint::to_string() const { return (tls ? "https://" : "http://") + host_header() + target; }

endpoint parse_endpoint(std::string_view url) {
  auto parsed = boost::urls::parse_uri(boost::urls::string_view(url.data(), url.size()));
  if (!parsed) {
    throw client_error(error_kind::invalid_argument,
                       "vtiger url is not an absolute http(s) URL: " + std::string(url));
  }
  const boost::urls::url_view& u = *parsed;
  endpoint ep;
  const std::string scheme = lower(std::string(u.scheme()));
  if (scheme == "https") {
    ep.tls = true;
  } else if (scheme != "http") {
    throw client_error(error_kind::invalid_argument,
                       "vtiger url must use http or https: " + std::string(url));
  }
  if (u.has_query() || u.has_fragment() || u.has_userinfo()) {
    throw client_error(error_kind::invalid_argument,
                       "vtiger url must not carry a query, fragment or user info: " +
                           std::string(u.scheme()) + "://" + std::string(u.encoded_host()));
  }
  if (u.host_type() == boost::urls::host_type::ipv6) {
    ep.host = u.host_ipv6_address().to_string();
  } else {
    ep.host = std::string(u.host());
  }
  if (ep.host.empty())
    throw client_error(error_kind::invalid_argument, "vtiger url has no host: " + std::string(url));
  ep.port = u.has_port() ? std::string(u.port()) : (ep.tls ? "443" : "80");
  if (ep.port.empty()) ep.port = ep.tls ? "443" : "80";

  std::string path(u.encoded_path());
  if (path.empty()) path = "/";
  if (path.front() != '/') path.insert(path.begin(), '/');
  if (!ends_with(path, "/" + std::string(webservice_php)) && path != "/" + std::string(webservice_php)) {
    if (path.back() != '/') path += '/';
    path += webservice_php;
  }
  ep.target = std::move(path);
  return ep;
}

std::string percent_encode(std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3 / 2);
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string form_encode(const param_list& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += percent_encode(name);
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

std::string encode_element(const json& element) {
  try {
    // ensure_ascii = false: non-ASCII stays raw UTF-8 and " and \ are escaped as \" and \\ (§1.4).
    return element.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::type_error& e) {
    throw client_error(error_kind::invalid_argument, std::string("element cannot be sent: ") + e.what());
  }
}

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
    const bool html = body[start] == '<' || lower(content_type).find("html") != std::string::npos;
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

namespace {

// A cursor over a body for parse_query_records: every method returns false for input outside the
// accepted subset (the caller then falls back to parse_response).
class record_scanner {
 public:
  explicit record_scanner(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}

  void skip_ws() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) noexcept {
    skip_ws();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool peek(char c) noexcept {
    skip_ws();
    return p_ != end_ && *p_ == c;
  }
  bool at_end() noexcept {
    skip_ws();
    return p_ == end_;
  }
  bool literal(std::string_view word) noexcept {
    skip_ws();
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  // A JSON string into `out` (decoded).
  bool string(std::string& out) {
    if (!eat('"')) return false;
    out.clear();
    bool high = false;
    const char* run = p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return !high || valid_utf8(out);
      }
      if (c < 0x20) return false;  // a raw control character: parse_response's escaping decides
      if (c >= 0x80) high = true;
      if (c != '\\') {
        ++p_;
        continue;
      }
      out.append(run, p_);
      if (++p_ == end_) return false;
      switch (*p_++) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
      run = p_;
    }
    return false;  // unterminated
  }

 private:
  bool hex4(std::uint32_t& cp) noexcept {
    if (end_ - p_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      const char h = *p_++;
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= static_cast<std::uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const char* p_;
  const char* end_;
};

// The field order of the previous record: Vtiger sends every record of a page with the same fields in
// the same order, so the sorting permutation is worked out once per page.
struct field_order {
  std::vector<std::string> names;     // as sent
  std::vector<std::uint16_t> sorted;  // indexes into `names`, in name order
};

bool scan_record(record_scanner& in, flat_record& record, field_order& order) {
  if (!in.eat('{')) return false;
  std::vector<flat_field> sent;
  sent.reserve(order.names.size());
  if (!in.eat('}')) {
    do {
      flat_field f;
      if (!in.string(f.name) || !in.eat(':')) return false;
      if (in.peek('"')) {
        f.value.type = flat_value::kind::string;
        if (!in.string(f.value.text)) return false;
      } else if (!in.literal("null")) {
        return false;  // a number, boolean, array or object: parse_response
      }
      sent.push_back(std::move(f));
    } while (in.eat(','));
    if (!in.eat('}')) return false;
  }
  if (sent.size() > 0xFFFF) return false;
  bool same = sent.size() == order.names.size();
  for (std::size_t i = 0; same && i < sent.size(); ++i) same = sent[i].name == order.names[i];
  if (!same) {
    order.names.clear();
    for (const auto& f : sent) order.names.push_back(f.name);
    order.sorted.resize(sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) order.sorted[i] = static_cast<std::uint16_t>(i);
    std::sort(order.sorted.begin(), order.sorted.end(),
              [&](std::uint16_t a, std::uint16_t b) { return order.names[a] < order.names[b]; });
    for (std::size_t i = 1; i < order.sorted.size(); ++i) {
      if (order.names[order.sorted[i - 1]] == order.names[order.sorted[i]]) {
        order.names.clear();  // a repeated key: parse_response decides
        return false;
      }
    }
  }
  record.fields.clear();
  record.fields.reserve(sent.size());
  for (const auto i : order.sorted) record.fields.push_back(std::move(sent[i]));
  return true;
}

}  // namespace

std::optional<std::vector<flat_record>> parse_query_records(std::string_view body) {
  record_scanner in{body};
  std::vector<flat_record> records;
  bool success = false, result = false;
  if (!in.eat('{')) return std::nullopt;
  std::string key;
  do {
    if (!in.string(key) || !in.eat(':')) return std::nullopt;
    if (key == "success" && !success) {
      if (!in.literal("true")) return std::nullopt;
      success = true;
    } else if (key == "result" && !result) {
      if (!in.eat('[')) return std::nullopt;
      if (!in.eat(']')) {
        field_order order;
        do {
          flat_record record;
          if (!scan_record(in, record, order)) return std::nullopt;
          records.push_back(std::move(record));
        } while (in.eat(','));
        if (!in.eat(']')) return std::nullopt;
      }
      result = true;
    } else {
      return std::nullopt;
    }
  } while (in.eat(','));
  if (!in.eat('}') || !in.at_end() || !success || !result) return std::nullopt;
  return records;
}

std::string md5_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr) != 1) {
    throw client_error(error_kind::invalid_argument, "OpenSSL could not compute MD5");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xF];
  }
  return out;
}

std::string redact_params(const param_list& params) {
  constexpr std::size_t max_value = 300;
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    if (name == "sessionName" || name == "accessKey") {
      out += "***";
    } else if (value.size() > max_value) {
      out += value.substr(0, max_value);
      out += "...";
    } else {
      out += value;
    }
  }
  return out;
}

std::chrono::milliseconds backoff_delay(const retry_options& options, int retry, std::mt19937_64& rng) {
  using std::chrono::milliseconds;
  const auto base = std::max<std::int64_t>(0, options.initial_backoff.count());
  const auto cap = std::max<std::int64_t>(0, options.max_backoff.count());
  std::int64_t ceiling = base;
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling);
  return milliseconds(pick(rng));
}

rate_schedule::clock::time_point rate_schedule::reserve(clock::time_point now) {
  if (rate_ <= 0) return now;
  const auto interval =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate_));
  const auto slot = std::max(now, next_);
  next_ = slot + interval;
  return slot;
}

}  // namespace vtsync::vtiger

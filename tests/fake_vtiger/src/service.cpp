#include "fake_vtiger/service.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "fake_vtiger/vtql.hpp"
#include "fake_vtiger/zend_json.hpp"

namespace vtsync::fake {

std::string_view embedded_json(std::string_view name);  // generated from data/*.json at build time

namespace {

using ojson = nlohmann::ordered_json;

const char* const k_denied = "Permission to perform the operation is denied";
const char* const k_denied_id = "Permission to perform the operation is denied for id";
const char* const k_bad_id = "Id specified is incorrect";
const char* const k_database = "Database error while performing requested operation";
const char* const k_internal = "Unknown Error while processing request";
const char* const k_html_page =
    "<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>Fatal error</h1>"
    "<p>Something went wrong on the CRM side (fake-vtiger injected fault).</p></body></html>\n";

struct op_def {
  const char* name;
  bool post;
  bool prelogin;
};
const op_def k_ops[] = {
    {"getchallenge", false, true},   {"login", true, true},          {"logout", true, false},
    {"extendsession", true, true},   {"listtypes", false, false},    {"describe", false, false},
    {"create", true, false},         {"retrieve", false, false},     {"update", true, false},
    {"revise", true, false},         {"delete", true, false},        {"query", false, false},
    {"sync", false, false},          {"relatedtypes", false, false}, {"retrieve_related", false, false},
    {"query_related", false, false}, {"add_related", true, false}};

std::string md5_hex(std::string_view s) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), digest, &len, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// PHP's helper turns a missing, empty or "0" parameter into "".
std::string param(const form_fields& f, const std::string& name) {
  const auto it = f.find(name);
  if (it == f.end() || it->second == "0") return {};
  return it->second;
}

struct parsed_id {
  enum class kind { ok, numeric, malformed } type = kind::malformed;
  int prefix = 0;
  std::uint32_t crmid = 0;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

parsed_id parse_ws_id(std::string_view id) {
  parsed_id p;
  if (all_digits(id)) {
    p.type = parsed_id::kind::numeric;
    return p;
  }
  const auto x = id.find('x');
  if (x == std::string_view::npos || !all_digits(id.substr(0, x)) || !all_digits(id.substr(x + 1)) ||
      x + 1 > 10 || id.size() - x - 1 > 9) {
    return p;
  }
  p.type = parsed_id::kind::ok;
  p.prefix = std::stoi(std::string(id.substr(0, x)));
  p.crmid = static_cast<std::uint32_t>(std::stoul(std::string(id.substr(x + 1))));
  return p;
}

// The number after the "x" of an NxM id, as Vtiger's VTQL uses it; nullopt when there is no "x".
std::optional<long long> number_after_x(std::string_view s) {
  const auto x = s.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  long long n = 0;
  const auto rest = s.substr(x + 1);
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc{}) return 0;  // MySQL coerces a non-number to 0
  (void)p;
  return n;
}

std::optional<double> as_number(std::string_view s) {
  std::string str(s);
  char* end = nullptr;
  const double d = std::strtod(str.c_str(), &end);
  if (end == str.c_str()) return std::nullopt;
  while (*end == ' ') ++end;
  if (*end != '\0') return std::nullopt;
  return d;
}

std::string_view rtrim_spaces(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// utf8_general_ci, reduced to ASCII case folding and PAD SPACE (trailing spaces ignored).
int collate(std::string_view a, std::string_view b) {
  a = rtrim_spaces(a);
  b = rtrim_spaces(b);
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const int ca = std::tolower(static_cast<unsigned char>(a[i]));
    const int cb = std::tolower(static_cast<unsigned char>(b[i]));
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

bool like_match(std::string_view s, std::string_view p) {
  // Iterative wildcard match with backtracking on the last %.
  std::size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  auto eq = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '\\' && pi + 1 < p.size()) {
      if (eq(s[si], p[pi + 1])) {
        ++si;
        pi += 2;
        continue;
      }
    } else if (pi < p.size() && p[pi] == '%') {
      star_p = pi++;
      star_s = si;
      continue;
    } else if (pi < p.size() && (p[pi] == '_' || eq(s[si], p[pi]))) {
      ++si;
      ++pi;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

std::string fmt_decimal(double d, int places) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", places, d);
  return buf;
}

// Output strings are HTML-entity-decoded by Vtiger; decoding at write time gives the same answers.
std::string html_decode(std::string s) {
  if (s.find('&') == std::string::npos) return s;
  static const std::pair<const char*, const char*> entities[] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#039;", "'"}, {"&#39;", "'"}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    bool done = false;
    if (s[i] == '&') {
      for (const auto& [from, to] : entities) {
        if (s.compare(i, std::strlen(from), from) == 0) {
          out += to;
          i += std::strlen(from);
          done = true;
          break;
        }
      }
    }
    if (!done) out.push_back(s[i++]);
  }
  return out;
}

std::string json_scalar_to_string(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  if (v.is_number_float()) {
    std::string s = fmt_decimal(v.get<double>(), 8);
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  return {};
}

bool json_empty(const ojson& v) {
  if (v.is_null()) return true;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_array()) return v.empty();
  return false;
}

// The stored form of an input value (vtiger-webservice.md §14.2).
std::optional<std::string> convert_input(const field_meta& f, const ojson& v, int currency_decimals = -1) {
  if (v.is_null()) return std::string();
  switch (f.type) {
    case field_type::boolean: {
      if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
      const std::string s = json_scalar_to_string(v);
      return s == "1" || s == "on" ? "1" : "0";
    }
    case field_type::currency: {
      double d = as_number(json_scalar_to_string(v)).value_or(0.0);
      if (currency_decimals >= 0) {
        const double scale = std::pow(10.0, currency_decimals);
        d = std::round(d * scale) / scale;
      }
      return fmt_decimal(d, 8);
    }
    case field_type::decimal: {
      const std::string s = json_scalar_to_string(v);
      if (s.empty()) return s;
      return fmt_decimal(as_number(s).value_or(0.0), 3);
    }
    case field_type::integer: {
      const std::string s = json_scalar_to_string(v);
      if (s.empty()) return s;
      return std::to_string(static_cast<long long>(as_number(s).value_or(0.0)));
    }
    case field_type::multipicklist: {
      // A JSON array keeps only its first value; a string is stored verbatim, "A |##| B" or "A,B" (421-425).
      if (v.is_array()) return v.empty() ? std::string() : json_scalar_to_string(v.front());
      return json_scalar_to_string(v);
    }
    case field_type::date: {
      // An unparseable date is stored empty, without an error.
      const std::string s = json_scalar_to_string(v);
      int y = 0, m = 0, d = 0;
      char tail = 0;
      if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 && d >= 1 &&
          d <= 31) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        return std::string(buf);
      }
      return std::string();
    }
    default:
      return html_decode(json_scalar_to_string(v));
  }
}

std::string default_for(const field_meta& f) {
  switch (f.type) {
    case field_type::boolean:
      return "0";
    case field_type::currency:
      return "0.00000000";
    case field_type::integer:
      return "0";
    case field_type::decimal:
      return "0.000";
    default:
      return "";
  }
}

// Field name -> the database column name Vtiger sorts a non-admin user's record keys by (recording 38).
std::string column_sort_key(const std::string& field) {
  if (field == "contact_id") return "reportsto";
  if (field == "assigned_user_id") return "smownerid";
  if (field == "account_id") return "accountid";
  return field;
}

}  // namespace

std::string_view fault_kind_name(fault_kind kind) {
  switch (kind) {
    case fault_kind::http500:
      return "http500";
    case fault_kind::html:
      return "html";
    case fault_kind::truncated:
      return "truncated";
    case fault_kind::invalid_session:
      return "invalid_session";
    case fault_kind::delay:
      return "delay";
    case fault_kind::reset:
      return "reset";
    case fault_kind::drop_reply:
      return "drop_reply";
  }
  return "?";
}

fault_spec parse_fault(std::string_view spec) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto colon = spec.find(':', start);
    parts.emplace_back(
        spec.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts[0].empty()) {
    throw std::invalid_argument("--fault '" + std::string(spec) +
                                "': expected OPERATION:KIND[:every=N|:prob=P][:seed=S]");
  }
  fault_spec f;
  f.operation = lower(parts[0]);
  const std::string& kind = parts[1];
  std::size_t next = 2;
  if (kind == "http500")
    f.kind = fault_kind::http500;
  else if (kind == "html")
    f.kind = fault_kind::html;
  else if (kind == "truncated")
    f.kind = fault_kind::truncated;
  else if (kind == "invalid_session")
    f.kind = fault_kind::invalid_session;
  else if (kind == "reset")
    f.kind = fault_kind::reset;
  else if (kind == "drop_reply")
    f.kind = fault_kind::drop_reply;
  else if (kind.rfind("delay=", 0) == 0) {
    f.kind = fault_kind::delay;
    f.delay_ms = std::stoi(kind.substr(6));
  } else if (kind == "delay" && parts.size() > 2 && all_digits(parts[2])) {
    f.kind = fault_kind::delay;
    f.delay_ms = std::stoi(parts[2]);
    next = 3;
  } else {
    throw std::invalid_argument("--fault '" + std::string(spec) + "': unknown kind '" + kind + "'");
  }
  for (std::size_t i = next; i < parts.size(); ++i) {
    const auto eq = parts[i].find('=');
    const std::string key = parts[i].substr(0, eq);
    const std::string val = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    try {
      if (key == "every")
        f.every = std::stoull(val);
      else if (key == "prob")
        f.probability = std::stod(val);
      else if (key == "seed")
        f.seed = std::stoull(val);
      else if (key == "after")
        f.after = std::stoull(val);
      else
        throw std::invalid_argument("unknown option");
    } catch (const std::exception&) {
      throw std::invalid_argument("--fault '" + std::string(spec) + "': bad option '" + parts[i] + "'");
    }
  }
  f.rng.seed(f.seed);
  return f;
}

form_fields parse_form(std::string_view text) {
  form_fields out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto amp = text.find('&', start);
    if (amp == std::string_view::npos) amp = text.size();
    const auto pair = text.substr(start, amp - start);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      out[url_decode(pair.substr(0, eq))] =
          eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    }
    start = amp + 1;
  }
  return out;
}

// A file part of a multipart/form-data body ($_FILES).
struct uploaded_file {
  std::string filename;
  std::string content_type;
  std::string data;
};

namespace {

// A multipart/form-data body: text parts into `fields`, file parts (those with a filename) into `files`.
void parse_multipart(std::string_view content_type, std::string_view body, form_fields& fields,
                     std::map<std::string, uploaded_file>& files) {
  const auto b = content_type.find("boundary=");
  if (b == std::string_view::npos) return;
  std::string boundary(content_type.substr(b + 9));
  if (const auto semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delimiter = "--" + boundary;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break;  // the closing delimiter
    if (body.substr(pos, 2) == "\r\n") pos += 2;
    const auto head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) break;
    const auto next = body.find("\r\n" + delimiter, head_end);
    if (next == std::string_view::npos) break;
    const std::string_view head = body.substr(pos, head_end - pos);
    const std::string_view data = body.substr(head_end + 4, next - head_end - 4);
    auto attribute = [&](std::string_view name) -> std::optional<std::string> {
      const auto at = head.find(std::string(name) + "=\"");
      if (at == std::string_view::npos) return std::nullopt;
      const auto start = at + name.size() + 2;
      return std::string(head.substr(start, head.find('"', start) - start));
    };
    std::string type;
    const std::string lower_head = lower(std::string(head));
    if (const auto ct = lower_head.find("content-type:"); ct != std::string::npos) {
      const auto end = head.find("\r\n", ct);
      type = std::string(head.substr(ct + 13, end == std::string_view::npos ? end : end - ct - 13));
      while (!type.empty() && type.front() == ' ') type.erase(type.begin());
    }
    if (const auto name = attribute("name")) {
      if (const auto filename = attribute("filename"))
        files[*name] = uploaded_file{*filename, type, std::string(data)};
      else
        fields[*name] = std::string(data);
    }
    pos = next + 2;
  }
}

}  // namespace

struct service::call {
  const http_in& request;
  form_fields get;
  form_fields post;
  std::map<std::string, uploaded_file> files;
  form_fields params;  // GET or POST ones, as the operation is registered
  std::string operation;
  std::string session_id;
  session* sess = nullptr;
  bool is_admin() const { return sess != nullptr && sess->user_id == 1; }
  std::string user_ws_id() const { return sess == nullptr ? "" : "19x" + std::to_string(sess->user_id); }
};

service::service(service_options options)
    : options_(std::move(options)),
      store_(store_options{options_.seeds, options_.idempotency_field}, now()),
      rng_(std::random_device{}()),
      cost_clock_(options_.cost_cores) {}

std::int64_t service::now() const {
  if (frozen_) return *frozen_;
  return static_cast<std::int64_t>(std::time(nullptr)) + options_.clock_offset;
}

std::string service::uniqid() {
  // PHP uniqid(): 8 hex digits of seconds and 5 of microseconds; the counter keeps ours unique.
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  static_cast<long long>(uniq_counter_++);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llx%05llx", static_cast<unsigned long long>(us / 1000000),
                static_cast<unsigned long long>(us % 1000000) & 0xfffff);
  return buf;
}

std::string service::new_session_id() {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", static_cast<unsigned>(rng_() & 0x7fffffff));
  return std::string(buf) + uniqid();
}

http_out service::success(std::string_view result_json) {
  http_out o;
  o.body.reserve(result_json.size() + 32);
  o.body = "{\"success\":true,\"result\":";
  o.body += result_json;
  o.body += "}";
  return o;
}

http_out service::http500() {
  http_out o;
  o.status = 500;
  o.content_type = "text/html; charset=UTF-8";
  return o;
}

http_out service::error(std::string_view code, std::string_view message) {
  ++stats_.errors[std::string(code)];
  http_out o;
  o.body = "{\"success\":false,\"error\":{\"message\":";
  append_json_string(o.body, message);
  o.body += ",\"code\":";
  append_json_string(o.body, code);
  o.body += "}}";
  return o;
}

http_out service::error_code_zero(std::string_view message) {
  ++stats_.errors["0"];
  http_out o;
  o.body = "{\"success\":false,\"error\":{\"message\":";
  append_json_string(o.body, message);
  o.body += ",\"code\":0}}";
  return o;
}

std::string service::session_name_of(const http_in& request) {
  const auto q = request.target.find('?');
  form_fields f = parse_form(q == std::string::npos ? std::string_view{}
                                                    : std::string_view(request.target).substr(q + 1));
  if (request.method == "POST") {
    for (auto& [k, v] : parse_form(request.body)) f[k] = v;
  }
  const auto it = f.find("sessionName");
  if (it == f.end() || it->second == "null") return {};
  return it->second;
}

void service::reset_all() {
  frozen_.reset();
  store_.reset(now());
  actors_.reset();
  lines_.reset();
  relations_.reset();
  attachments_.clear();
  star_owner_.clear();
  sessions_.clear();
  tokens_.clear();
  stats_ = stats{};
  for (auto& f : options_.faults) {
    f.calls = 0;
    f.rng.seed(f.seed);
  }
}

http_out service::handle(const http_in& request) {
  const auto q = request.target.find('?');
  const std::string path = request.target.substr(0, q);
  const std::string query_string = q == std::string::npos ? "" : request.target.substr(q + 1);
  if (path.rfind("/_fake/", 0) == 0) return handle_fake(request, path, query_string);
  if (path.size() >= 14 && path.compare(path.size() - 14, 14, "webservice.php") == 0) {
    return handle_webservice(request, query_string);
  }
  http_out o;
  o.status = 404;
  o.content_type = "text/html; charset=UTF-8";
  o.body = "<html><body>Not Found</body></html>";
  return o;
}

http_out service::handle_webservice(const http_in& request, const std::string& query_string) {
  call c{request, parse_form(query_string), {}, {}, {}, {}, {}, nullptr};
  viewer_ = 1;
  if (request.method == "POST" &&
      (request.content_type.empty() ||
       request.content_type.find("application/x-www-form-urlencoded") != std::string::npos)) {
    c.post = parse_form(request.body);
  } else if (request.method == "POST" &&
             request.content_type.find("multipart/form-data") != std::string::npos) {
    parse_multipart(request.content_type, request.body, c.post, c.files);  // a Documents upload (393)
  }
  form_fields merged = c.get;  // $_REQUEST: the body wins over the query string
  for (const auto& [k, v] : c.post) merged[k] = v;
  ++stats_.total;
  c.operation = lower(merged.contains("operation") ? merged["operation"] : "");
  const op_def* op = nullptr;
  for (const auto& d : k_ops) {
    if (c.operation == d.name) op = &d;
  }
  if (op == nullptr) {
    // The lookup happens outside webservice.php's try block: PHP dies, HTTP 500 with an empty body.
    ++stats_.requests["(unknown)"];
    return http500();
  }
  ++stats_.requests[c.operation];
  if (options_.expire_sessions_every > 0 && stats_.total % options_.expire_sessions_every == 0)
    expire_all_sessions();

  c.session_id = merged.contains("sessionName") ? merged["sessionName"] : "";
  if (c.session_id == "null") c.session_id.clear();

  // Faults: the first spec that fires wins.
  std::optional<fault_kind> fired;
  int delay_ms = 0;
  for (auto& f : options_.faults) {
    if (f.operation != "*" && f.operation != c.operation) continue;
    ++f.calls;
    if (f.calls <= f.after) continue;
    const std::uint64_t n = f.calls - f.after;
    bool fire = true;
    if (f.every > 0)
      fire = n % f.every == 0;
    else if (f.probability > 0)
      fire = std::uniform_real_distribution<double>(0, 1)(f.rng) < f.probability;
    if (!fire) continue;
    ++stats_.faults[std::string(fault_kind_name(f.kind))];
    if (f.kind == fault_kind::delay) {
      delay_ms += f.delay_ms;
      continue;
    }
    fired = f.kind;
    break;
  }
  auto finish = [&](http_out o) {
    o.delay_ms += delay_ms;
    if (fired == fault_kind::truncated) o.act = http_out::action::truncate;
    if (fired == fault_kind::drop_reply) o.act = http_out::action::drop;
    return o;
  };
  if (fired == fault_kind::http500) return finish(http500());
  if (fired == fault_kind::reset) {
    http_out o;
    o.act = http_out::action::reset;
    return finish(o);
  }
  if (fired == fault_kind::html) {
    http_out o;
    o.content_type = "text/html; charset=UTF-8";
    o.body = k_html_page;
    return finish(o);
  }
  if (fired == fault_kind::invalid_session) {
    sessions_.erase(c.session_id);  // the session really is gone afterwards
    return finish(error("INVALID_SESSIONID", "Session Identifier provided is Invalid"));
  }

  if (!c.session_id.empty()) {
    const auto it = sessions_.find(c.session_id);
    if (it == sessions_.end() || now() - it->second.last_used > options_.session_ttl) {
      if (it != sessions_.end()) sessions_.erase(it);
      return finish(error("INVALID_SESSIONID", "Session Identifier provided is Invalid"));
    }
    it->second.last_used = now();
    c.sess = &it->second;
    viewer_ = c.sess->user_id;
  } else if (!op->prelogin) {
    return finish(error("AUTHENTICATION_REQUIRED", "Authencation required"));
  }
  c.params = op->post ? c.post : c.get;

  const std::string& o = c.operation;
  if (o == "getchallenge") return finish(op_getchallenge(c));
  if (o == "login") return finish(op_login(c));
  if (o == "logout") return finish(op_logout(c));
  if (o == "extendsession") return finish(op_extendsession(c));
  if (o == "listtypes") return finish(op_listtypes(c));
  if (o == "describe") return finish(op_describe(c));
  if (o == "retrieve") return finish(op_retrieve(c));
  if (o == "create") return finish(op_create(c));
  if (o == "update") return finish(op_update(c, false));
  if (o == "revise") return finish(op_update(c, true));
  if (o == "delete") return finish(op_delete(c));
  if (o == "query") return finish(op_query(c));
  if (o == "relatedtypes") return finish(op_relatedtypes(c));
  if (o == "retrieve_related") return finish(op_retrieve_related(c));
  if (o == "query_related") return finish(op_query_related(c));
  if (o == "add_related") return finish(op_add_related(c));
  return finish(op_sync(c));
}

http_out service::op_getchallenge(call& c) {
  const std::string user = param(c.params, "username");
  if (user.empty()) return error("ACCESS_DENIED", "No username given");
  for (const auto& u : store::users()) {
    if (u.user_name != user) continue;
    const std::int64_t t = now();
    token tk{uniqid(), t + 300};
    tokens_[u.id] = tk;
    ojson r = {{"token", tk.value}, {"serverTime", t}, {"expireTime", t + 300}};
    return success(to_zend_json(r));
  }
  return error("ACCESS_DENIED", "username does not exists");
}

http_out service::op_login(call& c) {
  const std::string user = param(c.params, "username");
  const std::string key = param(c.params, "accessKey");
  const user_info* u = nullptr;
  for (const auto& cand : store::users()) {
    if (cand.user_name == user) u = &cand;
  }
  const auto tk = u == nullptr ? tokens_.end() : tokens_.find(u->id);
  if (u == nullptr || tk == tokens_.end() || tk->second.expires < now()) {
    ++stats_.login_failures;
    return error("INVALID_AUTH_TOKEN", "Specified token is invalid or expired");
  }
  const std::string& access_key = u->id == 1 ? options_.access_key : options_.jdoe_access_key;
  if (md5_hex(tk->second.value + access_key) != key) {
    ++stats_.login_failures;
    return error("INVALID_USER_CREDENTIALS", "Invalid username or password");
  }
  ++stats_.logins;
  const std::string sid = new_session_id();
  sessions_[sid] = session{u->id, now()};
  // The user's profile as the Users row has it (02, 200a): a revise of the user shows in the next login.
  const ojson* row = actors_.find_row("19x" + std::to_string(u->id));
  auto field = [&](const char* name) {
    return row != nullptr && row->contains(name) ? (*row)[name].get<std::string>() : std::string();
  };
  ojson r = {{"username", u->user_name},
             {"first_name", field("first_name")},
             {"last_name", field("last_name")},
             {"email", field("email1")},
             {"time_zone", field("time_zone")},
             {"hour_format", field("hour_format")},
             {"date_format", field("date_format")},
             {"is_admin", field("is_admin")},
             {"call_duration", field("callduration")},
             {"other_event_duration", field("othereventduration")}};
  r["sessionName"] = sid;
  r["userId"] = "19x" + std::to_string(u->id);
  r["version"] = "0.22";
  r["vtigerVersion"] = "8.2.0";
  return success(to_zend_json(r));
}

http_out service::op_logout(call& c) {
  // Stock 8.2 on PHP 8 dies on "Unknown named parameter $sessionName" (126): the session survives.
  if (options_.sync == sync_mode::php8_stock) return http500();
  if (c.request.method != "POST") return error("OPERATION_NOT_SUPPORTED", k_denied);
  sessions_.erase(c.session_id);
  return success(R"({"message":"successfull"})");
}

http_out service::op_extendsession(call& c) {
  if (c.sess == nullptr) return error("AUTHENTICATION_REQUIRED", "Authencation required");
  ojson r = {{"sessionName", c.session_id},
             {"userId", c.user_ws_id()},
             {"version", "0.22"},
             {"vtigerVersion", "8.2.0"}};
  return success(to_zend_json(r));
}

http_out service::op_listtypes(call& c) {
  const std::string filter = param(c.params, "fieldTypeList");
  if (filter.empty()) return success(to_zend_json(store_.listtypes()));
  ojson wanted = ojson::parse(filter, nullptr, false);
  if (!wanted.is_array()) return success(to_zend_json(store_.listtypes()));
  ojson types = ojson::array();
  ojson info = ojson::object();
  for (const auto& m : store_.modules()) {
    bool has = false;
    for (const auto& f : m.describe["fields"]) {
      for (const auto& w : wanted) {
        if (w.is_string() && f["type"]["name"] == w) has = true;
      }
    }
    if (has) {
      types.push_back(m.name);
      info[m.name] = store_.listtypes()["information"][m.name];
    }
  }
  return success(to_zend_json(ojson{{"types", types}, {"information", info}}));
}

http_out service::op_describe(call& c) {
  const std::string type = param(c.params, "elementType");
  if (type == "Users" && !c.is_admin()) return error("ACCESS_DENIED", k_denied);  // 389
  if (type == "Users") return success(to_zend_json(store_.users_describe()));
  if (const auto* d = actors_.describe(type)) return success(to_zend_json(*d));  // 214-217, 225, 226
  // Faq: described as recorded (223), no records.
  if (type == "Faq") return success(to_zend_json(ojson::parse(embedded_json("describe-Faq"))));
  if (type == "LineItem") return success(to_zend_json(lines_.describe()));
  const int mi = store_.module_index(type);
  if (mi < 0)
    return error("ACCESS_DENIED", "Permission to perform the operation is denied for name : " + type);
  return success(to_zend_json(store_.modules()[static_cast<std::size_t>(mi)].describe));
}

namespace {

// PHP's htmlentities(s, ENT_QUOTES, 'UTF-8') for the characters that have a named entity in Latin-1 and a
// few common symbols (others pass through, as 日本語 and Ł do in PHP).
std::string html_entities(const std::string& s) {
  static const char* const latin1[] = {
      "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",
      "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",
      "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12",
      "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil",
      "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde",
      "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",
      "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
      "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",
      "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
      "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};
  static const std::pair<unsigned, const char*> others[] = {
      {338, "OElig"},  {339, "oelig"},   {352, "Scaron"}, {353, "scaron"}, {376, "Yuml"},   {402, "fnof"},
      {8211, "ndash"}, {8212, "mdash"},  {8216, "lsquo"}, {8217, "rsquo"}, {8220, "ldquo"}, {8221, "rdquo"},
      {8226, "bull"},  {8230, "hellip"}, {8364, "euro"},  {8482, "trade"}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#039;";
          break;
        default:
          out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    unsigned cp = n == 1 ? c : c & (0xFFu >> (n + 1));
    for (std::size_t k = 1; k < n && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    const char* name = nullptr;
    if (cp >= 160 && cp <= 255) name = latin1[cp - 160];
    for (const auto& [code, entity] : others)
      if (code == cp) name = entity;
    if (name != nullptr)
      out += std::string("&") + name + ";";
    else
      out += s.substr(i, n);
    i += n;
  }
  return out;
}

}  // namespace

std::string service::label_of(const record_view& v) const {
  std::string label;
  for (const int f : v.module().label_fields) {
    const auto val = v.value(f);
    if (!val || val->empty()) continue;
    if (!label.empty()) label += ' ';
    label += *val;
  }
  // A comment's label keeps the HTML escaping of the save (563: "&uuml; &amp; &lt;b&gt;").
  if (v.module().name == "ModComments") return html_entities(label);
  return label;
}

void service::append_record(std::string& out, const record_view& v, const std::vector<int>* fields,
                            bool with_label, bool nulls_as_null, bool sorted_keys) const {
  const module_meta& m = v.module();
  std::vector<int> all;
  if (fields == nullptr) {
    all.reserve(m.fields.size() + 1);
    for (std::size_t i = 0; i < m.fields.size(); ++i) {
      if (!m.fields[i].hidden) all.push_back(static_cast<int>(i));
    }
    all.push_back(-1);  // id
    fields = &all;
  }
  std::vector<int> order = *fields;
  if (sorted_keys) {
    // A non-admin's records come back with keys in column order, id last (recordings 38, 115).
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (a < 0 || b < 0) return b < 0 && a >= 0;
      return column_sort_key(m.fields[static_cast<std::size_t>(a)].name) <
             column_sort_key(m.fields[static_cast<std::size_t>(b)].name);
    });
  }
  out.push_back('{');
  bool first = true;
  for (const int f : order) {
    if (!first) out.push_back(',');
    first = false;
    if (f < 0) {
      out += "\"id\":\"";
      out += std::to_string(m.prefix);
      out.push_back('x');
      out += std::to_string(v.crmid());
      out.push_back('"');
      continue;
    }
    append_json_string(out, m.fields[static_cast<std::size_t>(f)].name);
    out.push_back(':');
    // "starred" is per user: only the user who created the record has a star row, others see "" (38, 305,
    // 309, 310, 319). Seeded records are admin's.
    const auto star = star_owner_.find(v.crmid());
    if (f == m.f_starred && viewer_ != (star == star_owner_.end() ? 1U : star->second)) {
      out += "\"\"";
      continue;
    }
    const auto val = v.value(f);
    if (val)
      append_json_string(out, *val);
    else
      out += nulls_as_null ? "null" : "\"\"";
  }
  if (with_label) {
    const std::string label = label_of(v);
    if (!label.empty()) {
      out += ",\"label\":";
      append_json_string(out, label);
    }
  }
  out.push_back('}');
}

namespace {

struct id_lookup {
  std::optional<record_view> view;
  std::optional<std::pair<std::string, std::string>> error;
};

}  // namespace

// The retrieve/update/revise/delete chain (Retrieve.php, recordings 70-72, 77, 78, 105-107).
static id_lookup lookup_id(const store& s, const std::string& id) {
  id_lookup r;
  const parsed_id p = parse_ws_id(id);
  if (id.empty() || p.type == parsed_id::kind::numeric) {
    r.error = {{"ACCESS_DENIED", k_denied_id}};
    return r;
  }
  if (p.type == parsed_id::kind::malformed) {
    r.error = {{"INVALID_ID_ATTRIBUTE", k_bad_id}};
    return r;
  }
  const int mi = s.module_by_prefix(p.prefix);
  if (mi < 0) {
    r.error = {{"ACCESS_DENIED", k_denied_id}};
    return r;
  }
  const auto v = s.view(p.crmid);
  if (!v || v->deleted()) {
    r.error = {{"ACCESS_DENIED", k_denied}};
    return r;
  }
  if (v->module_index() != mi) {
    r.error = {{"INVALID_ID_ATTRIBUTE", k_bad_id}};
    return r;
  }
  r.view = v;
  return r;
}

http_out service::op_retrieve(call& c) {
  const std::string id = param(c.params, "id");
  if (actors::is_actor_id(id)) {
    // A non-admin may not read any user, not even itself (387, 388).
    if (id.rfind("19x", 0) == 0 && !c.is_admin()) return error("ACCESS_DENIED", k_denied);
    const auto row = actors_.retrieve(id);
    if (!row) return error("ACCESS_DENIED", k_denied);
    return success(*row);
  }
  if (line_items::is_line_id(id)) {
    const auto row = lines_.retrieve(id);
    if (!row) return error("ACCESS_DENIED", k_denied);  // 262, 288
    return success(*row);
  }
  const auto found = lookup_id(store_, param(c.params, "id"));
  if (found.error) return error(found.error->first, found.error->second);
  // A task someone else owns is not readable for a non-admin, though a Calendar query lists it (317, 321);
  // events are (308, 316).
  if (found.view->module().name == "Calendar" && !c.is_admin() && found.view->owner() != c.user_ws_id())
    return error("ACCESS_DENIED", "Permission to read given object is denied");
  if (line_items::is_inventory(found.view->module().name))
    return success(inventory_answer(*found.view, inventory_answer_kind::retrieve));
  std::string out;
  append_record(out, *found.view, nullptr, true, false, !c.is_admin());
  append_price_extras(out, *found.view);
  append_attachment(out, *found.view);
  return success(out);
}

// A Document with an uploaded file: create, retrieve and query rows end with its attachment's id (393,
// 395, 396).
void service::append_attachment(std::string& out, const record_view& v) const {
  const auto it = attachments_.find(v.crmid());
  if (it == attachments_.end()) return;
  out.pop_back();
  out += ",\"imageattachmentids\":\"15x" + std::to_string(it->second) + "\"}";
}

// Products and Services: create and retrieve (not query) end with the base-currency price as a JSON number
// and the currency (recordings 231, 233, 247).
void service::append_price_extras(std::string& out, const record_view& v) const {
  const module_meta& m = v.module();
  if (m.name != "Products" && m.name != "Services") return;
  const int price = m.find("unit_price");
  std::string number = price < 0 ? std::string() : v.value(price).value_or("");
  if (number.find('.') != std::string::npos) {
    while (!number.empty() && number.back() == '0') number.pop_back();
    if (!number.empty() && number.back() == '.') number.pop_back();
  }
  if (number.empty()) number = "0";
  out.pop_back();  // the record's closing brace
  out += ",\"currency1\":" + number + ",\"currency_id\":\"21x1\"}";
}

namespace {

// Reference checks of create/update/revise (§8 step 3). Returns the error, if any.
std::optional<std::pair<std::string, std::string>> check_references(const store& s, const module_meta& m,
                                                                    const ojson& element) {
  for (const auto& [key, val] : element.items()) {
    const int fi = m.find(key);
    if (fi < 0) continue;
    const field_meta& f = m.fields[static_cast<std::size_t>(fi)];
    if (f.type != field_type::reference || !f.editable || json_empty(val)) continue;
    const std::string text = json_scalar_to_string(val);
    const parsed_id p = parse_ws_id(text);
    if (p.type != parsed_id::kind::ok)
      return std::pair<std::string, std::string>{"INVALID_ID_ATTRIBUTE", k_bad_id};
    const int target = s.module_by_prefix(p.prefix);
    std::string target_name;
    if (target >= 0)
      target_name = s.modules()[static_cast<std::size_t>(target)].name;
    else if (p.prefix == 19)
      target_name = "Users";
    else if (p.prefix == 20)
      target_name = "Groups";
    else if (p.prefix == 21 && p.crmid == 1)
      target_name = "Currency";  // the base currency, the only one of a stock install
    else if (p.prefix == 22 && p.crmid == 1)
      target_name = "DocumentFolders";  // the Default folder
    else
      return std::pair<std::string, std::string>{"ACCESS_DENIED", k_denied_id};
    if (std::find(f.refers_to.begin(), f.refers_to.end(), target_name) == f.refers_to.end()) {
      return std::pair<std::string, std::string>{"REFERENCE_INVALID",
                                                 "Invalid reference specified for " + key};
    }
  }
  return std::nullopt;
}

bool owner_known(const std::string& owner) {
  const parsed_id p = parse_ws_id(owner);
  if (p.type != parsed_id::kind::ok) return false;
  if (p.prefix == 19) {
    for (const auto& u : store::users()) {
      if (u.id == p.crmid) return true;
    }
  }
  if (p.prefix == 20) {
    for (const auto& g : store::groups()) {
      if (g.first == p.crmid) return true;
    }
  }
  return false;
}

}  // namespace

http_out service::op_create(call& c) {
  const std::string type = param(c.params, "elementType");
  if (type == "LineItem") {
    // Written directly: the line only, neither the parent's totals nor its modifiedtime (264, 265).
    ojson line = ojson::parse(param(c.params, "element"), nullptr, false);
    if (!line.is_object()) line = ojson::object();
    for (const char* f : {"parent_id", "productid", "quantity"})
      if (!line.contains(f) || json_empty(line[f]))
        return error("MANDATORY_FIELDS_MISSING", std::string(f) + " does not have a value");
    const auto parent = lookup_id(store_, json_scalar_to_string(line["parent_id"]));
    if (parent.error || !line_items::is_inventory(parent.view->module().name))
      return error("ACCESS_DENIED", k_denied);
    return success(*lines_.create(line, products()));
  }
  const int mi = store_.module_index(type);
  if (mi < 0) return error("ACCESS_DENIED", k_denied);
  const module_meta& m = store_.modules()[static_cast<std::size_t>(mi)];
  // Invalid JSON decodes to null: the create then fails on the first mandatory field (63).
  ojson element = ojson::parse(param(c.params, "element"), nullptr, false);
  if (!element.is_object()) element = ojson::object();
  if (auto e = check_references(store_, m, element)) return error(e->first, e->second);
  for (auto it = element.begin(); it != element.end();) {
    const int fi = m.find(it.key());
    if (fi >= 0 && m.fields[static_cast<std::size_t>(fi)].type == field_type::reference &&
        it.value().is_string() && it.value().get_ref<const std::string&>().empty()) {
      it = element.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& f : m.fields) {
    if (!f.mandatory) continue;
    if (!element.contains(f.name) || json_empty(element[f.name])) {
      return error("MANDATORY_FIELDS_MISSING", f.name + " does not have a value");
    }
  }
  // Inventory: the header productid (checked above, recording 234) and a non-empty LineItems array (236).
  const bool inventory = line_items::is_inventory(m.name);
  if (inventory) {
    if (!element.contains("LineItems") || !element["LineItems"].is_array() || element["LineItems"].empty())
      return error("MANDATORY_FIELDS_MISSING", "Mandatory Fields Missing..");
  }
  if (!m.allow_duplicates) {
    // Duplicate prevention on the module's unique fields (54): code is the number 0.
    for (std::size_t fi = 0; fi < m.fields.size(); ++fi) {
      const field_meta& f = m.fields[fi];
      if (!f.unique || !element.contains(f.name)) continue;
      const std::string wanted = json_scalar_to_string(element[f.name]);
      bool dup = false;
      store_.scan_by_id(mi, 0, [&](const record_view& v) {
        if (v.deleted()) return true;
        const auto val = v.value(static_cast<int>(fi));
        if (val && collate(*val, wanted) == 0) dup = true;
        return !dup;
      });
      if (dup) return error_code_zero("Duplicate(s) detected!");
    }
  }
  record r;
  r.crmid = store_.allocate_crmid();
  r.module = mi;
  r.mtime = now();
  r.values.resize(m.fields.size());
  for (std::size_t fi = 0; fi < m.fields.size(); ++fi) {
    const field_meta& f = m.fields[fi];
    const int i = static_cast<int>(fi);
    if (i == m.f_created || i == m.f_modified)
      r.values[fi] = format_db_time(r.mtime);
    else if (i == m.f_modifiedby)
      r.values[fi] = c.user_ws_id();
    else if (i == m.number_field)
      r.values[fi] = store_.next_number(mi);
    else if (i == m.f_source)
      r.values[fi] = "WEBSERVICE";
    else if (f.editable && element.contains(f.name))
      r.values[fi] = convert_input(f, element[f.name], options_.currency_decimals);
    else
      r.values[fi] = default_for(f);
    if (!element.contains(f.name)) {
      if (const auto d = m.create_defaults.find(i); d != m.create_defaults.end())
        r.values[fi] = d->second;
      else if (r.values[fi] && r.values[fi]->empty())
        r.values[fi] = default_for(f);
    }
  }
  // An internal Document's file comes as the multipart part "filename": its name, type and size are
  // stored and the attachment gets the next crmid, answered as imageattachmentids (393, 395).
  std::optional<std::uint32_t> attachment;
  if (m.name == "Documents" && c.files.contains("filename") &&
      r.values[static_cast<std::size_t>(m.find("filelocationtype"))] == "I") {
    const uploaded_file& file = c.files.at("filename");
    r.values[static_cast<std::size_t>(m.find("filename"))] = file.filename;
    r.values[static_cast<std::size_t>(m.find("filetype"))] = file.content_type;
    r.values[static_cast<std::size_t>(m.find("filesize"))] = std::to_string(file.data.size());
    attachment = store_.allocate_crmid();
  }
  if (const int creator = m.find("creator"); creator >= 0)
    r.values[static_cast<std::size_t>(creator)] = c.user_ws_id();
  if (m.name == "Calendar" && !element.contains("duration_hours")) set_task_duration(m, r);
  // PriceBooks have no owner field: such records belong to everyone.
  const std::string owner =
      m.f_owner < 0 ? "19x1" : r.values[static_cast<std::size_t>(m.f_owner)].value_or("");
  const bool known = owner_known(owner);
  // An unknown owner is stored as the bare number; reads then show "999", not "19x999" (recording 81).
  if (!known)
    r.values[static_cast<std::size_t>(m.f_owner)] = std::to_string(number_after_x(owner).value_or(0));
  if (inventory) {
    inventory_input(r, element, true, true);
    if (auto bad = write_lines(r, element["LineItems"]))
      return error("MANDATORY_FIELDS_MISSING", *bad + " does not have a value");
    const int balance = m.find("balance");
    if (balance >= 0)
      r.values[static_cast<std::size_t>(balance)] =
          r.values[static_cast<std::size_t>(m.find("hdnGrandTotal"))];
  }
  const std::uint32_t id = r.crmid;
  if (attachment) attachments_[id] = *attachment;
  if (c.sess != nullptr && c.sess->user_id != 1) star_owner_[id] = c.sess->user_id;
  std::string answer;  // the create's answer, when it is not the stored record's
  if (m.name == "Calendar" && r.values[static_cast<std::size_t>(m.find("activitytype"))] != "Task") {
    // Stored as an event (activitytype ""), though the answer shows the task with its 9x id: that id is
    // then refused, 18x works, and Calendar queries no longer list it (recordings 303, 306, 312, 318).
    append_record(answer, store_.view_of(r), nullptr, true, false, !c.is_admin());
    r = as_event(r);
  }
  const std::string related =
      m.name == "ModComments" ? r.values[static_cast<std::size_t>(m.find("related_to"))].value_or("") : "";
  const std::string parent_ws = std::to_string(m.prefix) + "x" + std::to_string(r.crmid);
  store_.put(std::move(r));
  if (m.name == "Invoice") {
    // An invoice takes each product line's quantity off the product's stock, leaving the product's
    // modifiedtime alone (550: 100 - 3 - 5 - 2072 = -1980). Services keep none.
    for (const auto* line : lines_.of(parent_ws)) {
      const std::string product = (*line)["productid"].get<std::string>();
      if (product.rfind("14x", 0) != 0) continue;
      const auto pv = store_.view(static_cast<std::uint32_t>(std::atoll(product.c_str() + 3)));
      if (!pv || pv->deleted()) continue;
      record pr = store_.materialize(*pv);
      const int stock = pv->module().find("qtyinstock");
      if (stock < 0) continue;
      auto& cell = pr.values[static_cast<std::size_t>(stock)];
      const double left = as_number(cell.value_or("0")).value_or(0.0) -
                          as_number((*line)["quantity"].get<std::string>()).value_or(0.0);
      cell = fmt_decimal(left, 3);
      store_.put(std::move(pr));
    }
  }
  if (!related.empty()) bump_commented(related, c.user_ws_id());
  if (!known) {
    // Recording 62: an unknown owner saves the record, then PHP prints a plain-text page.
    http_out o;
    o.content_type = "text/html; charset=UTF-8";
    o.body = "Sorry! Attempt to access restricted file.";
    return o;
  }
  if (!answer.empty()) return success(answer);
  if (inventory) return success(inventory_answer(*store_.view(id), inventory_answer_kind::created, &element));
  std::string out;
  append_record(out, *store_.view(id), nullptr, true, false, !c.is_admin());
  append_price_extras(out, *store_.view(id));
  append_attachment(out, *store_.view(id));
  return success(out);
}

// A task's duration as Vtiger fills it in: from its start to its end, which is the end of the due day
// when time_end is empty (14:30 on the 10th to the 11th: 33 h 30 min, recording 303).
void service::set_task_duration(const module_meta& m, record& r) {
  auto text = [&](const char* name) { return r.values[static_cast<std::size_t>(m.find(name))].value_or(""); };
  const auto start = parse_db_time(text("date_start") + " " + text("time_start") + ":00");
  const std::string time_end = text("time_end");
  auto end = parse_db_time(text("due_date") + " " + (time_end.empty() ? "00:00" : time_end) + ":00");
  if (!start || !end) return;
  if (time_end.empty()) *end += 86400;
  const std::int64_t minutes = std::max<std::int64_t>(0, (*end - *start) / 60);
  r.values[static_cast<std::size_t>(m.find("duration_hours"))] = std::to_string(minutes / 60);
  r.values[static_cast<std::size_t>(m.find("duration_minutes"))] = std::to_string(minutes % 60);
}

// A new comment moves its record's modifiedtime and modifiedby (the commenter); editing or deleting a
// comment does not (recordings 333, 338, 341, 343).
void service::bump_commented(const std::string& related_to, const std::string& commenter) {
  const parsed_id p = parse_ws_id(related_to);
  if (p.type != parsed_id::kind::ok) return;
  const auto v = store_.view(p.crmid);
  if (!v || v->deleted()) return;
  record parent = store_.materialize(*v);
  const module_meta& pm = v->module();
  parent.mtime = now();
  parent.values[static_cast<std::size_t>(pm.f_modified)] = format_db_time(parent.mtime);
  if (pm.f_modifiedby >= 0) parent.values[static_cast<std::size_t>(pm.f_modifiedby)] = commenter;
  store_.put(std::move(parent));
}

// `task` (a Calendar record) as the Events record Vtiger stores for it: same crmid, fields by name.
record service::as_event(const record& task) const {
  const int ei = store_.module_index("Events");
  const module_meta& tm = store_.modules()[static_cast<std::size_t>(task.module)];
  const module_meta& em = store_.modules()[static_cast<std::size_t>(ei)];
  record e;
  e.crmid = task.crmid;
  e.module = ei;
  e.mtime = task.mtime;
  e.values.resize(em.fields.size());
  for (std::size_t fi = 0; fi < em.fields.size(); ++fi) {
    const int ti = tm.find(em.fields[fi].name);
    e.values[fi] = ti >= 0 ? task.values[static_cast<std::size_t>(ti)]
                           : std::optional<std::string>(default_for(em.fields[fi]));
  }
  e.values[static_cast<std::size_t>(em.find("activitytype"))] = "";
  return e;
}

http_out service::op_update(call& c, bool revise) {
  ojson element = ojson::parse(param(c.params, "element"), nullptr, false);
  if (!element.is_object()) element = ojson::object();
  const std::string id = element.contains("id") ? json_scalar_to_string(element["id"]) : "";
  if (line_items::is_line_id(id)) {
    const auto row = lines_.revise(element);
    if (!row) return error("ACCESS_DENIED", k_denied);
    return success(*row);
  }
  if (revise && id.rfind("19x", 0) == 0) {
    // An admin revises a user (301, 430): the fields sent that the user has; the answer is the user with
    // its label. A non-admin may not even read users (387, 388).
    if (!c.is_admin()) return error("ACCESS_DENIED", k_denied);
    nlohmann::json fields = nlohmann::json::object();
    const ojson* row = actors_.find_row(id);
    if (row == nullptr) return error("ACCESS_DENIED", k_denied);
    for (const auto& [k, v] : element.items())
      if (k != "id" && row->contains(k)) fields[k] = json_scalar_to_string(v);
    actors_.edit(id, fields);
    ojson answer = *actors_.find_row(id);
    answer["label"] = answer.value("first_name", "") + " " + answer.value("last_name", "");
    return success(to_zend_json(answer));
  }
  const auto found = lookup_id(store_, id);
  if (found.error) return error(found.error->first, found.error->second);
  const module_meta& m = found.view->module();
  const bool inventory = line_items::is_inventory(m.name);
  // A full update of a retrieved inventory record fails in PHP 8 on these two values (270-273).
  if (inventory && ((element.contains("hdnDiscountAmount") && element["hdnDiscountAmount"] == "") ||
                    (element.contains("shipping_&_handling") && element["shipping_&_handling"].is_null())))
    return http500();
  if (auto e = check_references(store_, m, element)) return error(e->first, e->second);
  if (!revise) {
    // update drops a reference sent as "" (the old value stays); revise keeps it, so "" clears.
    for (auto it = element.begin(); it != element.end();) {
      const int fi = m.find(it.key());
      if (fi >= 0 && m.fields[static_cast<std::size_t>(fi)].type == field_type::reference &&
          it.value().is_string() && it.value().get_ref<const std::string&>().empty()) {
        it = element.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& f : m.fields) {
    if (!f.mandatory) continue;
    const bool present = element.contains(f.name);
    if ((!revise && (!present || json_empty(element[f.name]))) ||
        (revise && present && json_empty(element[f.name]))) {
      return error("MANDATORY_FIELDS_MISSING", f.name + " does not have a value");
    }
  }
  record r = store_.materialize(*found.view);
  r.mtime = now();
  for (std::size_t fi = 0; fi < m.fields.size(); ++fi) {
    const field_meta& f = m.fields[fi];
    const int i = static_cast<int>(fi);
    if (i == m.f_modified)
      r.values[fi] = format_db_time(r.mtime);
    else if (i == m.f_modifiedby)
      r.values[fi] = c.user_ws_id();
    else if (i == m.f_created || i == m.number_field || i == m.f_source || !f.editable)
      continue;
    else if (element.contains(f.name))
      r.values[fi] = convert_input(f, element[f.name], options_.currency_decimals);
  }
  auto answer_kind = inventory_answer_kind::revised_header;
  if (inventory) {
    // Lines sent replace every line and the totals follow; none (or []) keeps lines and totals (248, 250,
    // 252, 263: a revise without lines after a LineItem delete still answers the old totals).
    const bool writes_lines =
        element.contains("LineItems") && element["LineItems"].is_array() && !element["LineItems"].empty();
    inventory_input(r, element, false, writes_lines);
    if (writes_lines) {
      // Saving the lines writes the tax type too: "" unless sent (564, 568).
      if (const int tt = m.find("hdnTaxType"); tt >= 0 && !element.contains("hdnTaxType"))
        r.values[static_cast<std::size_t>(tt)] = "";
      if (auto bad = write_lines(r, element["LineItems"]))
        return error("MANDATORY_FIELDS_MISSING", *bad + " does not have a value");
      answer_kind = revise ? inventory_answer_kind::revised_lines : inventory_answer_kind::updated;
    }
  }
  const std::uint32_t crmid = r.crmid;
  store_.put(std::move(r));
  if (inventory) return success(inventory_answer(*store_.view(crmid), answer_kind, &element));
  std::string out;
  append_record(out, *store_.view(crmid), nullptr, true, false, !c.is_admin());
  return success(out);
}

http_out service::op_delete(call& c) {
  if (line_items::is_line_id(param(c.params, "id"))) {
    // Deleted, and yet PHP 8 answers 500 with an empty body (260, 261).
    if (!lines_.remove(param(c.params, "id"))) return error("ACCESS_DENIED", k_denied);
    return http500();
  }
  const auto found = lookup_id(store_, param(c.params, "id"));
  if (found.error) return error(found.error->first, found.error->second);
  if (line_items::is_inventory(found.view->module().name)) lines_.remove_parent(found.view->ws_id());
  record r = store_.materialize(*found.view);
  const module_meta& m = found.view->module();
  r.deleted = true;  // soft delete: modifiedtime and modifiedby move too
  r.mtime = now();
  r.values[static_cast<std::size_t>(m.f_modified)] = format_db_time(r.mtime);
  if (m.f_modifiedby >= 0) r.values[static_cast<std::size_t>(m.f_modifiedby)] = c.user_ws_id();
  store_.put(std::move(r));
  return success(R"({"status":"successful"})");
}

namespace {

struct compiled_pred {
  int field = -1;  // -1: id
  field_type type = field_type::string;
  vtql_op op = vtql_op::eq;
  std::vector<std::string> texts;
  std::vector<long long> ids;  // id, reference and owner fields: the number after "x"
  std::vector<std::optional<double>> numbers;
  std::vector<std::int64_t> times;  // modifiedtime literals as Unix seconds (UTC fast path)
  bool use_times = false;
};

bool op_holds(vtql_op op, int cmp) {
  switch (op) {
    case vtql_op::eq:
    case vtql_op::in:
      return cmp == 0;
    case vtql_op::ne:
      return cmp != 0;
    case vtql_op::lt:
      return cmp < 0;
    case vtql_op::gt:
      return cmp > 0;
    case vtql_op::le:
      return cmp <= 0;
    case vtql_op::ge:
      return cmp >= 0;
    case vtql_op::like:
      return false;
  }
  return false;
}

template <typename T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

bool is_numeric_type(field_type t) {
  return t == field_type::integer || t == field_type::decimal || t == field_type::currency;
}

bool eval_pred(const compiled_pred& p, const record_view& v, int f_modified) {
  const std::size_t n = p.op == vtql_op::in ? p.texts.size() : 1;
  if (p.field < 0) {
    if (p.op == vtql_op::like) return like_match(std::to_string(v.crmid()), p.texts[0]);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_holds(p.op, three_way<long long>(v.crmid(), p.ids[k]))) return true;
    }
    return false;
  }
  if (p.use_times && p.field == f_modified) {
    const std::int64_t t = v.mtime();
    for (std::size_t k = 0; k < n; ++k) {
      if (op_holds(p.op, three_way<std::int64_t>(t, p.times[k]))) return true;
    }
    return false;
  }
  const auto val = v.value(p.field);
  if (!val) return false;  // SQL: NULL compares to nothing
  if (p.type == field_type::reference || p.type == field_type::owner) {
    const auto num = number_after_x(*val);
    if (!num) return false;
    if (p.op == vtql_op::like) return like_match(std::to_string(*num), p.texts[0]);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_holds(p.op, three_way<long long>(*num, p.ids[k]))) return true;
    }
    return false;
  }
  if (p.op == vtql_op::like) return like_match(*val, p.texts[0]);
  for (std::size_t k = 0; k < n; ++k) {
    int cmp = 0;
    if (is_numeric_type(p.type) && p.numbers[k]) {
      cmp = three_way<double>(as_number(*val).value_or(0.0), *p.numbers[k]);
    } else {
      cmp = collate(*val, p.texts[k]);
    }
    if (op_holds(p.op, cmp)) return true;
  }
  return false;
}

}  // namespace

http_out service::op_query(call& c) {
  const std::string text = param(c.params, "query");
  stats_.queries.push_back(text);
  if (stats_.queries.size() > max_logged_queries) stats_.queries.pop_front();
  const auto module_name = vtql_detect_module(text);
  if (!module_name) return error("ACCESS_DENIED", "Permission to perform the operation is denied for query");
  if (actors::is_actor_module(*module_name)) {
    if (*module_name == "Users" && !c.is_admin()) return error("ACCESS_DENIED", k_denied);  // 382
    auto parsed = parse_vtql(text);
    if (auto* e = std::get_if<vtql_error>(&parsed)) return error(e->code, e->message);
    auto answer = actors_.query(std::get<vtql_query>(parsed));
    if (auto* e = std::get_if<std::pair<std::string, std::string>>(&answer))
      return error(e->first, e->second);
    return success(std::get<std::string>(answer));
  }
  if (*module_name == "LineItem") {
    auto parsed = parse_vtql(text);
    if (auto* e = std::get_if<vtql_error>(&parsed)) return error(e->code, e->message);
    auto answer = lines_.query(std::get<vtql_query>(parsed));
    if (auto* e = std::get_if<std::pair<std::string, std::string>>(&answer))
      return error(e->first, e->second);
    return success(std::get<std::string>(answer));
  }
  const int mi = store_.module_index(*module_name);
  if (mi < 0)
    return error("ACCESS_DENIED", "Permission to perform the operation is denied for name : " + *module_name);
  const module_meta& m = store_.modules()[static_cast<std::size_t>(mi)];
  auto parsed = parse_vtql(text);
  if (auto* e = std::get_if<vtql_error>(&parsed)) return error(e->code, e->message);
  const vtql_query& q = std::get<vtql_query>(parsed);

  auto field_of = [&](const std::string& name) -> std::optional<int> {
    if (name == "id") return -1;
    const int fi = m.find(name);
    if (fi < 0) return std::nullopt;
    return fi;
  };
  std::vector<int> columns;
  if (q.select == vtql_query::select_kind::columns) {
    for (const auto& col : q.columns) {
      const auto fi = field_of(col);
      if (!fi) return error("ACCESS_DENIED", "Permission to access " + col + " attribute denied.");
      if (std::find(columns.begin(), columns.end(), *fi) == columns.end()) columns.push_back(*fi);
    }
    // Vtiger always adds id to an explicit column list.
    if (std::find(columns.begin(), columns.end(), -1) == columns.end()) columns.push_back(-1);
  }
  std::vector<std::vector<compiled_pred>> where;
  for (const auto& group : q.where) {
    where.emplace_back();
    for (const auto& pred : group) {
      const auto fi = field_of(pred.field);
      if (!fi) return error("ACCESS_DENIED", "Permission to access " + pred.field + " attribute denied.");
      compiled_pred cp;
      cp.field = *fi;
      cp.op = pred.op;
      cp.type = *fi < 0 ? field_type::autogenerated : m.fields[static_cast<std::size_t>(*fi)].type;
      const bool id_like = *fi < 0 || cp.type == field_type::reference || cp.type == field_type::owner;
      for (const auto& val : pred.values) {
        if (val.type == vtql_value::kind::word && !id_like) {
          return error("DATABASE_QUERY_ERROR", k_database);  // an unquoted word is a column for MySQL
        }
        if (id_like) {
          const auto num = number_after_x(val.text);
          if (!num) {
            if (*fi < 0) return error("DATABASE_QUERY_ERROR", k_database);  // "accountid = " with no value
            return error("INVALID_ID_ATTRIBUTE", k_bad_id);
          }
          cp.ids.push_back(*num);
          const auto x = val.text.find('x');
          cp.texts.push_back(val.text.substr(x + 1));
        } else {
          std::string t = val.text;
          if (cp.type == field_type::datetime && t.size() == 10) t += " 00:00:00";
          cp.texts.push_back(t);
        }
        cp.numbers.push_back(as_number(val.text));
      }
      if (cp.field == m.f_modified && options_.zone_is_utc && cp.op != vtql_op::like) {
        cp.use_times = true;
        for (const auto& t : cp.texts) {
          const auto secs = parse_db_time(t);
          if (!secs) {
            cp.use_times = false;
            break;
          }
          cp.times.push_back(*secs);
        }
      }
      where.back().push_back(std::move(cp));
    }
  }
  std::vector<int> order;
  for (const auto& name : q.order_by) {
    const auto fi = field_of(name);
    if (!fi) return error("DATABASE_QUERY_ERROR", k_database);  // broken SQL
    order.push_back(*fi);
  }

  const int f_mod = m.f_modified;
  auto matches = [&](const record_view& v) {
    if (v.deleted() || v.converted()) return false;
    if (where.empty()) return true;
    for (const auto& group : where) {
      bool all = true;
      for (const auto& p : group) {
        if (!eval_pred(p, v, f_mod)) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  };

  const bool count = q.select == vtql_query::select_kind::count;
  const std::size_t want = count ? SIZE_MAX : static_cast<std::size_t>(q.limit);
  // An inventory module's `*`, or any column Vtiger reads from the joined line rows, joins the lines: LIMIT
  // then counts LINE rows (a record with n lines weighs n), and the rows are folded back to one per record,
  // so a page of 100 may hold 4 records (a real Vtiger 8.2, recordings 560-562).
  bool joins_lines = false;
  if (!count && line_items::is_inventory(m.name)) {
    joins_lines = columns.empty();
    for (const auto& col : q.columns) {
      for (const char* f :
           {"productid", "quantity", "listprice", "comment", "discount_amount", "discount_percent", "tax1",
            "tax2", "tax3", "hdnDiscountPercent", "hdnDiscountAmount"})
        joins_lines = joins_lines || col == f;
    }
  }
  std::size_t joined_rows = 0;
  std::vector<std::uint32_t> rows;
  std::uint64_t matched = 0;
  auto collect = [&](const record_view& v) {
    if (!matches(v)) return true;
    ++matched;
    if (count) return true;
    if (matched <= static_cast<std::uint64_t>(q.offset)) return true;
    if (joins_lines) {
      if (joined_rows >= want) return false;
      rows.push_back(v.crmid());
      joined_rows += std::max<std::size_t>(1, lines_.of(v.ws_id()).size());
      return joined_rows < want;
    }
    if (rows.size() >= want) return false;
    rows.push_back(v.crmid());
    return rows.size() < want;
  };

  const bool by_id = (order.empty() || (order.size() == 1 && order[0] == -1 && !q.order_desc));
  const bool by_mtime = !q.order_desc && ((order.size() == 1 && order[0] == f_mod) ||
                                          (order.size() == 2 && order[0] == f_mod && order[1] == -1));
  if (!count && want == 0) {
    // LIMIT 0: nothing to return.
  } else if (by_id || (count && order.empty())) {
    // Start after the smallest id any OR-branch allows (keyset paging on id never rescans).
    long long start = LLONG_MAX;
    for (const auto& group : where) {
      long long g = 0;
      for (const auto& p : group) {
        if (p.field != -1) continue;
        long long b = 0;
        if (p.op == vtql_op::gt)
          b = p.ids[0];
        else if (p.op == vtql_op::ge || p.op == vtql_op::eq)
          b = p.ids[0] - 1;
        else if (p.op == vtql_op::in)
          b = *std::min_element(p.ids.begin(), p.ids.end()) - 1;
        g = std::max(g, b);
      }
      start = std::min(start, g);
    }
    if (where.empty()) start = 0;
    // And stop past the largest id any OR-branch allows (a range count never walks the rest of the table).
    long long stop = where.empty() ? LLONG_MAX : LLONG_MIN;
    for (const auto& group : where) {
      long long g = LLONG_MAX;
      for (const auto& p : group) {
        if (p.field != -1) continue;
        if (p.op == vtql_op::lt) g = std::min(g, p.ids[0] - 1);
        if (p.op == vtql_op::le || p.op == vtql_op::eq) g = std::min(g, p.ids[0]);
        if (p.op == vtql_op::in) g = std::min(g, *std::max_element(p.ids.begin(), p.ids.end()));
      }
      stop = std::max(stop, g);
    }
    store_.scan_by_id(
        mi, static_cast<std::uint32_t>(std::clamp<long long>(start, 0, UINT32_MAX)),
        [&](const record_view& v) { return static_cast<long long>(v.crmid()) <= stop && collect(v); });
  } else if (by_mtime) {
    // Start at the earliest modifiedtime any OR-branch allows, then evaluate the full predicate.
    std::int64_t start = INT64_MAX;
    for (const auto& group : where) {
      std::int64_t g = INT64_MIN;
      for (const auto& p : group) {
        if (p.field != f_mod || !p.use_times) continue;
        if (p.op == vtql_op::gt || p.op == vtql_op::ge || p.op == vtql_op::eq) g = std::max(g, p.times[0]);
        if (p.op == vtql_op::in) g = std::max(g, *std::min_element(p.times.begin(), p.times.end()));
      }
      start = std::min(start, g);
    }
    if (where.empty()) start = INT64_MIN;
    store_.scan_by_mtime(mi, start, collect);
  } else {
    // Any other order: collect every match, sort, then apply OFFSET and LIMIT.
    std::vector<std::pair<std::vector<std::optional<std::string>>, std::uint32_t>> all;
    store_.scan_by_id(mi, 0, [&](const record_view& v) {
      if (!matches(v)) return true;
      std::vector<std::optional<std::string>> keys;
      for (const int f : order) keys.push_back(f < 0 ? std::optional<std::string>{} : v.value(f));
      all.emplace_back(std::move(keys), v.crmid());
      return true;
    });
    matched = all.size();
    auto cmp_key = [&](std::size_t k, const auto& a, const auto& b) -> int {
      const int f = order[k];
      if (f < 0) return three_way(a.second, b.second);
      const auto& va = a.first[k];
      const auto& vb = b.first[k];
      if (!va || !vb) return three_way<int>(va ? 1 : 0, vb ? 1 : 0);  // NULL sorts first
      const field_type t = m.fields[static_cast<std::size_t>(f)].type;
      if (is_numeric_type(t)) return three_way(as_number(*va).value_or(0.0), as_number(*vb).value_or(0.0));
      if (t == field_type::reference || t == field_type::owner) {
        return three_way(number_after_x(*va).value_or(0), number_after_x(*vb).value_or(0));
      }
      return collate(*va, *vb);
    };
    std::stable_sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
      for (std::size_t k = 0; k < order.size(); ++k) {
        int r = cmp_key(k, a, b);
        if (k + 1 == order.size() && q.order_desc) r = -r;  // the direction belongs to the last column
        if (r != 0) return r < 0;
      }
      return false;
    });
    if (!count) {
      for (std::size_t i = static_cast<std::size_t>(q.offset); i < all.size() && rows.size() < want; ++i) {
        if (joins_lines && joined_rows >= want) break;
        rows.push_back(all[i].second);
        if (joins_lines)
          joined_rows += std::max<std::size_t>(1, lines_.of(store_.view(all[i].second)->ws_id()).size());
      }
    }
  }

  // What the real server would take for it (--cost-model): a scan of every module's records unless the
  // query is an id keyset page, the skipped rows, the rows answered.
  bool where_on_id_only = true;
  for (const auto& group : where) {
    for (const auto& p : group) where_on_id_only = where_on_id_only && p.field == -1;
  }
  query_shape shape;
  const bool id_order =
      order.empty() || (order.size() == 1 && order[0] == -1);  // the primary key, either way
  shape.scans_entities = count || !id_order || !where_on_id_only;
  shape.offset = static_cast<std::uint64_t>(q.offset);
  shape.rows = rows.size();
  const auto costed = [&](http_out reply) {
    if (options_.cost == cost_model::none) return reply;
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    reply.delay_ms +=
        cost_clock_.reserve(now_us, query_cost_us(options_.cost, shape, store_.total_records()));
    return reply;
  };
  if (count) {
    if (options_.count == count_mode::v84) return costed(success("[]"));
    return costed(success("[{\"count\":\"" + std::to_string(matched) + "\"}]"));
  }
  std::string out;
  out.reserve(rows.size() * (columns.empty() ? 1400 : 60) + 64);
  out.push_back('[');
  std::size_t window = 0;  // joined line rows answered so far
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out.push_back(',');
    const auto v = store_.view(rows[i]);
    if (joins_lines) {
      // The row carries the last joined line inside the LIMIT window (560: 7x11's 92nd of 110 lines).
      const auto lines = lines_.of(v->ws_id());
      const nlohmann::ordered_json* line = nullptr;
      if (!lines.empty()) line = lines[std::min(lines.size(), want > window ? want - window : 1) - 1];
      window += std::max<std::size_t>(1, lines.size());
      out += inventory_query_row(*v, columns.empty() ? nullptr : &columns, line,
                                 !c.is_admin() && columns.empty());
      continue;
    }
    append_record(out, *v, columns.empty() ? nullptr : &columns, false, true,
                  !c.is_admin() && columns.empty());
    if (columns.empty()) append_attachment(out, *v);
  }
  out.push_back(']');
  return costed(success(out));
}

http_out service::op_sync(call& c) {
  if (options_.sync == sync_mode::php8_stock) return http500();  // ArgumentCountError on PHP 8 (99, 109, 111)
  const std::string mt = param(c.params, "modifiedTime");
  const std::string element_type = param(c.params, "elementType");
  const std::string sync_type = options_.sync == sync_mode::patched ? param(c.params, "syncType") : "";
  if (mt.empty() || !all_digits(mt)) {
    if (options_.sync == sync_mode::patched) return http500();  // TypeError on PHP 8
    return success(R"({"updated":[],"deleted":[],"more":false,"lastModifiedTime":0})");
  }
  const std::int64_t t0 = std::stoll(mt);
  std::vector<int> modules;
  if (element_type.empty()) {
    for (std::size_t i = 0; i < store_.modules().size(); ++i) modules.push_back(static_cast<int>(i));
  } else if (element_type == "Users") {
    ojson r = {
        {"updated", ojson::array()}, {"deleted", ojson::array()}, {"lastModifiedTime", mt}, {"more", false}};
    return success(to_zend_json(r));
  } else {
    const int mi = store_.module_index(element_type);
    if (mi < 0) return error("ACCESS_DENIED", k_denied);
    modules.push_back(mi);
  }
  std::vector<std::string> owners;
  bool any_owner = false;
  if (sync_type == "application") {
    if (!c.is_admin()) return error("ACCESS_DENIED", "Only admin users can perform application sync");
    any_owner = true;
  } else {
    owners.push_back(c.user_ws_id());
    if (sync_type == "userandgroup") owners.emplace_back("20x2");  // both users belong to Team Selling
  }
  auto owned = [&](const record_view& v) {
    if (any_owner) return true;
    const std::string o = v.owner();
    return std::find(owners.begin(), owners.end(), o) != owners.end();
  };
  // 1. Probe: the modifiedtime of the first 100 matching rows after T0, deleted rows included.
  std::vector<std::int64_t> probe;
  for (const int mi : modules) {
    std::size_t taken = 0;
    store_.scan_by_mtime(mi, t0 + 1, [&](const record_view& v) {
      if (!owned(v)) return true;
      probe.push_back(v.mtime());
      return ++taken < 100;
    });
  }
  std::sort(probe.begin(), probe.end());
  if (probe.size() > 100) probe.resize(100);
  if (probe.empty()) {
    return success(R"({"updated":[],"deleted":[],"more":false,"lastModifiedTime":)" + std::to_string(t0) +
                   "}");
  }
  const std::int64_t tmax = probe.back();
  // 2. Every matching record in (T0, Tmax], without a limit.
  std::string updated = "[";
  std::string deleted = "[";
  for (const int mi : modules) {
    store_.scan_by_mtime(mi, t0 + 1, [&](const record_view& v) {
      if (v.mtime() > tmax) return false;
      if (!owned(v)) return true;
      if (v.deleted() || v.converted()) {
        if (deleted.size() > 1) deleted.push_back(',');
        append_json_string(deleted, v.ws_id());
      } else {
        if (updated.size() > 1) updated.push_back(',');
        append_record(updated, v, nullptr, false, true, !c.is_admin());
      }
      return true;
    });
  }
  updated.push_back(']');
  deleted.push_back(']');
  // 3. more: anything after Tmax.
  bool more = false;
  for (const int mi : modules) {
    store_.scan_by_mtime(mi, tmax + 1, [&](const record_view& v) {
      more = owned(v);
      return !more;
    });
    if (more) break;
  }
  return success("{\"updated\":" + updated + ",\"deleted\":" + deleted + ",\"more\":" +
                 (more ? "true" : "false") + ",\"lastModifiedTime\":" + std::to_string(tmax) + "}");
}

namespace {

http_out fake_json(int status, const nlohmann::json& j) {
  http_out o;
  o.status = status;
  o.body = j.dump();
  return o;
}

}  // namespace

http_out service::handle_fake(const http_in& request, std::string_view path,
                              const std::string& query_string) {
  viewer_ = 1;  // /_fake/dump shows records as admin retrieves them
  const bool post = request.method == "POST";
  nlohmann::json body;
  if (post && !request.body.empty()) {
    body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return fake_json(400, {{"error", "body must be a JSON object"}});
  }
  if (path == "/_fake/stats" && !post) {
    nlohmann::json j;
    j["requests"] = stats_.requests;
    j["total"] = stats_.total;
    j["logins"] = stats_.logins;
    j["login_failures"] = stats_.login_failures;
    j["errors"] = stats_.errors;
    j["faults"] = stats_.faults;
    j["sessions"] = sessions_.size();
    j["session_waits"] = stats_.session_waits;
    j["queries"] = stats_.queries;  // the last 1000 query texts, oldest first
    j["now"] = now();
    return fake_json(200, j);
  }
  if (path == "/_fake/clock") {
    // advance_seconds moves the clock (frozen or not); set freezes it at a Unix time; unfreeze resumes
    // real time plus the offset. Lets tests cover 300 s tokens and idle sessions without sleeping.
    if (post && body.contains("set")) frozen_ = body["set"].get<std::int64_t>();
    if (post && body.value("unfreeze", false)) frozen_.reset();
    if (post && body.contains("advance_seconds")) {
      const auto n = body["advance_seconds"].get<std::int64_t>();
      if (frozen_)
        *frozen_ += n;
      else
        options_.clock_offset += n;
    }
    return fake_json(
        200, {{"now", now()}, {"now_text", format_db_time(now())}, {"offset", options_.clock_offset}});
  }
  if (path == "/_fake/linked" && !post) {
    // The ids of the records linked to `id` by a pair relation (add_related, /_fake/link), id order.
    const auto args = parse_form(query_string);
    const auto it = args.find("id");
    const auto found = lookup_id(store_, it == args.end() ? std::string() : it->second);
    if (found.error || found.view->deleted()) return fake_json(404, {{"error", "no such record"}});
    nlohmann::json ids = nlohmann::json::array();
    for (const std::uint32_t crmid : relations_.linked(found.view->crmid())) {
      const auto v = store_.view(crmid);
      if (v && !v->deleted()) ids.push_back(v->ws_id());
    }
    return fake_json(200, ids);
  }
  if (path == "/_fake/dump" && !post) {
    const auto args = parse_form(query_string);
    const auto it = args.find("module");
    const int mi = it == args.end() ? -1 : store_.module_index(it->second);
    if (mi < 0) return fake_json(404, {{"error", "unknown module"}});
    http_out o;
    o.body = "[";
    store_.scan_by_id(mi, 0, [&](const record_view& v) {
      if (v.deleted()) return true;
      if (o.body.size() > 1) o.body.push_back(',');
      if (line_items::is_inventory(v.module().name))
        o.body += inventory_answer(v, inventory_answer_kind::retrieve);
      else
        append_record(o.body, v, nullptr, true, false, false);
      return true;
    });
    o.body.push_back(']');
    return o;
  }
  if (!post) return fake_json(405, {{"error", "use POST"}});
  if (path == "/_fake/expire-sessions") {
    // {"sessionName": X} removes one session, as PHP's garbage collector would (recording 129b).
    if (body.contains("sessionName"))
      return fake_json(200, {{"expired", sessions_.erase(body["sessionName"].get<std::string>())}});
    const auto n = sessions_.size();
    expire_all_sessions();
    return fake_json(200, {{"expired", n}});
  }
  if (path == "/_fake/config") {
    // Switches behaviour that is otherwise fixed by a flag, for tests that need both within one state.
    const std::string mode = body.value("sync_mode", std::string());
    if (mode == "php8-stock")
      options_.sync = sync_mode::php8_stock;
    else if (mode == "php7")
      options_.sync = sync_mode::php7;
    else if (mode == "patched")
      options_.sync = sync_mode::patched;
    else if (!mode.empty())
      return fake_json(400, {{"error", "unknown sync_mode"}});
    const std::string cm = body.value("count_mode", std::string());
    if (cm == "8.2")
      options_.count = count_mode::v82;
    else if (cm == "8.4")
      options_.count = count_mode::v84;
    if (body.contains("session_ttl")) options_.session_ttl = body["session_ttl"].get<std::int64_t>();
    return fake_json(200, {{"ok", true}});
  }
  if (path == "/_fake/reset") {
    reset_all();
    return fake_json(200, {{"reset", true}});
  }
  const std::string modifiedby = body.value("modifiedby", std::string("19x1"));
  // A CRM user's change: new modifiedtime (shared by every record of one call), modifiedby.
  auto apply = [&](const record_view& v, const nlohmann::json& fields, std::int64_t t, bool del,
                   std::string& problem) -> std::optional<record> {
    const module_meta& m = v.module();
    record r = store_.materialize(v);
    if (fields.is_object()) {
      for (const auto& [k, val] : fields.items()) {
        if (k == "LineItems" && line_items::is_inventory(m.name)) continue;  // below, after the fields
        const int fi = m.find(k);
        if (fi < 0) {
          problem = "unknown field " + k;
          return std::nullopt;
        }
        r.values[static_cast<std::size_t>(fi)] = convert_input(
            m.fields[static_cast<std::size_t>(fi)], ojson::parse(val.dump()), options_.currency_decimals);
      }
    }
    if (line_items::is_inventory(m.name) && fields.is_object()) {
      // A CRM user's edit of the lines: all replaced, totals recomputed (as the web UI saves them).
      if (fields.contains("LineItems")) {
        if (auto bad = write_lines(r, ojson::parse(fields["LineItems"].dump()))) {
          problem = "a line without a known " + *bad;
          return std::nullopt;
        }
      } else {
        refresh_totals(r);
      }
    }
    if (body.contains("converted")) r.converted = body["converted"].get<bool>();
    if (del) r.deleted = true;
    r.mtime = t;
    r.values[static_cast<std::size_t>(m.f_modified)] = format_db_time(t);
    if (m.f_modifiedby >= 0) r.values[static_cast<std::size_t>(m.f_modifiedby)] = modifiedby;
    return r;
  };
  if (path == "/_fake/link" || path == "/_fake/unlink") {
    if (!post) return fake_json(405, {{"error", "POST only"}});
    return fake_link(body, path == "/_fake/unlink");
  }
  if (path == "/_fake/add-field") {
    // A Vtiger admin adding a custom field: describe lists it from now on, query and retrieve carry it.
    const int mi = store_.module_index(body.value("module", std::string()));
    if (mi < 0) return fake_json(404, {{"error", "unknown module"}});
    const auto field = body.value("field", nlohmann::json::object());
    if (!field.contains("name") || !field["name"].is_string() || !field.contains("type") ||
        !field["type"].is_object() || !field["type"].contains("name"))
      return fake_json(400, {{"error", "field needs a name and a type {\"name\": ...}"}});
    if (!store_.add_field(mi, ojson::parse(field.dump()), body.value("after", std::string())))
      return fake_json(409, {{"error", "the module has that field already"}});
    return fake_json(200, {{"added", field["name"]}});
  }
  if ((path == "/_fake/edit" || path == "/_fake/delete") &&
      actors::is_actor_id(body.value("id", std::string()))) {
    const std::string id = body.value("id", std::string());
    const bool done = path == "/_fake/delete"
                          ? actors_.remove(id)
                          : actors_.edit(id, body.value("fields", nlohmann::json::object()));
    if (!done) return fake_json(404, {{"error", "no such user or group, or unknown field"}});
    return fake_json(200, {{"id", id}});
  }
  if (path == "/_fake/edit" || path == "/_fake/delete") {
    const std::string id = body.value("id", std::string());
    const auto found = lookup_id(store_, id);
    if (found.error) return fake_json(404, {{"error", found.error->second}});
    std::string problem;
    auto r = apply(*found.view, body.value("fields", nlohmann::json::object()), now(),
                   path == "/_fake/delete", problem);
    if (!r) return fake_json(400, {{"error", problem}});
    const std::uint32_t crmid = r->crmid;
    const bool inventory = line_items::is_inventory(found.view->module().name);
    if (inventory && path == "/_fake/delete") lines_.remove_parent(found.view->ws_id());
    store_.put(std::move(*r));
    http_out o;
    if (inventory)
      o.body = inventory_answer(*store_.view(crmid), inventory_answer_kind::retrieve);
    else
      append_record(o.body, *store_.view(crmid), nullptr, true, false, false);
    return o;
  }
  if (path == "/_fake/mass-update") {
    const int mi = store_.module_index(body.value("module", std::string()));
    if (mi < 0) return fake_json(404, {{"error", "unknown module"}});
    const auto wanted = body.value("count", std::uint64_t{0});
    const std::int64_t t = now();
    std::vector<record> changed;
    std::string problem;
    store_.scan_by_id(mi, 0, [&](const record_view& v) {
      if (v.deleted()) return true;
      auto r = apply(v, body.value("fields", nlohmann::json::object()), t, false, problem);
      if (!r) return false;
      changed.push_back(std::move(*r));
      return changed.size() < wanted;
    });
    if (!problem.empty()) return fake_json(400, {{"error", problem}});
    nlohmann::json ids = nlohmann::json::array();
    for (auto& r : changed) {
      ids.push_back(std::to_string(store_.modules()[static_cast<std::size_t>(mi)].prefix) + "x" +
                    std::to_string(r.crmid));
      store_.put(std::move(r));
    }
    return fake_json(200, {{"updated", ids.size()}, {"modifiedtime", format_db_time(t)}, {"ids", ids}});
  }
  return fake_json(404, {{"error", "unknown endpoint"}});
}

// Related lists (recordings 350-374; the relation table and the pairs live in fake_vtiger/related.hpp).

std::vector<record_view> service::related_records(const record_view& source, const std::string& label) const {
  std::vector<record_view> out;
  const std::string& sm = source.module().name;
  const auto target = relations::target(sm, label);
  if (!target || relations::always_empty(sm, label)) return out;
  const int ti = store_.module_index(*target);
  if (ti < 0) return out;
  const auto fields = relations::link_fields(label);
  if (!fields.empty()) {
    const module_meta& tm = store_.modules()[static_cast<std::size_t>(ti)];
    const std::string id = source.ws_id();
    store_.scan_by_id(ti, 0, [&](const record_view& v) {
      if (v.deleted()) return true;
      for (const auto& f : fields) {
        const int fi = tm.find(f);
        if (fi >= 0 && v.value(fi).value_or("") == id) {
          out.push_back(v);
          break;
        }
      }
      return true;
    });
    return out;
  }
  for (const std::uint32_t crmid : relations_.linked(source.crmid())) {
    const auto v = store_.view(crmid);
    if (v && !v->deleted() && v->module_index() == ti) out.push_back(*v);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.crmid() < b.crmid(); });
  return out;
}

// A link bumps the SOURCE's modifiedtime and modifiedby, never the related record's (354, 355, 366, 367).
void service::touch(std::uint32_t crmid, const std::string& modifiedby) {
  const auto v = store_.view(crmid);
  if (!v || v->deleted()) return;
  record r = store_.materialize(*v);
  const module_meta& m = v->module();
  r.mtime = now();
  r.values[static_cast<std::size_t>(m.f_modified)] = format_db_time(r.mtime);
  if (m.f_modifiedby >= 0) r.values[static_cast<std::size_t>(m.f_modifiedby)] = modifiedby;
  store_.put(std::move(r));
}

http_out service::op_relatedtypes(call& c) {
  const std::string type = param(c.params, "elementType");
  if (store_.module_index(type) < 0)
    return error("ACCESS_DENIED", "Permission to perform the operation is denied for name : " + type);
  return success(to_zend_json(relations::types(type)));
}

http_out service::op_retrieve_related(call& c) {
  const auto found = lookup_id(store_, param(c.params, "id"));
  if (found.error) return error(found.error->first, found.error->second);
  const std::string label = param(c.params, "relatedLabel");
  if (!relations::target(found.view->module().name, label))
    return error("UNKOWN_ENTITY", "Relation specified is incorrect");  // 360 (sic)
  std::string out = "[";
  for (const auto& v : related_records(*found.view, label)) {
    if (out.size() > 1) out += ',';
    append_record(out, v, nullptr, false, false, !c.is_admin());
  }
  return success(out + "]");
}

// Vtiger appends its own " WHERE id IN (...)" (or " AND ...") and ";" to the query (357, 358, 363).
http_out service::op_query_related(call& c) {
  const auto found = lookup_id(store_, param(c.params, "id"));
  if (found.error) return error(found.error->first, found.error->second);
  const std::string label = param(c.params, "relatedLabel");
  if (!relations::target(found.view->module().name, label))
    return error("UNKOWN_ENTITY", "Relation specified is incorrect");
  std::string text = param(c.params, "query");
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (!text.empty() && text.back() == ';')
    return error("QUERY_SYNTAX_ERROR",
                 "Syntax Error on line 1: token ';' Unexpected SEMICOLON(;), expected one of: ");
  const auto related = related_records(*found.view, label);
  if (related.empty()) return success("[]");
  std::string ids;
  for (const auto& v : related) ids += (ids.empty() ? "'" : ",'") + v.ws_id() + "'";
  std::string upper = text;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  text += (upper.find(" WHERE ") == std::string::npos ? " WHERE id IN (" : " AND id IN (") + ids + ");";
  call q = c;
  q.params["query"] = text;
  return op_query(q);
}

http_out service::op_add_related(call& c) {
  const auto source = lookup_id(store_, param(c.params, "sourceRecordId"));
  if (source.error || source.view->deleted())  // 374
    return error("INTERNAL_SERVER_ERROR", "Unknown Error while processing request");
  const auto target = relations::target(source.view->module().name, param(c.params, "relationIdLabel"));
  const auto related = lookup_id(store_, param(c.params, "relatedRecordId"));
  if (target && !related.error && !related.view->deleted() && related.view->module().name == *target)
    relations_.link(source.view->crmid(), related.view->crmid());
  touch(source.view->crmid(), c.user_ws_id());
  return success(R"({"message":"successfull"})");  // sic, for any label (371) and repeats (369)
}

// POST /_fake/link and /_fake/unlink {"source", "related", "label", "modifiedby"?}: a CRM user links or
// unlinks two records in the UI. Like add_related (the only link recorded), it bumps the source's
// modifiedtime and modifiedby only.
http_out service::fake_link(const nlohmann::json& body, bool unlink) {
  const std::string source_id = body.value("source", std::string());
  const std::string related_id = body.value("related", std::string());
  const std::string label = body.value("label", std::string());
  const auto source = lookup_id(store_, source_id);
  const auto related = lookup_id(store_, related_id);
  if (source.error || source.view->deleted() || related.error || related.view->deleted())
    return fake_json(404, {{"error", "no such record"}});
  const std::string& sm = source.view->module().name;
  const std::string& rm = related.view->module().name;
  const auto target = relations::target(sm, label);
  if (!target || rm != *target || !relations::link_fields(label).empty())
    return fake_json(400, {{"error", "no pair relation '" + label + "' from " + sm + " to " + rm}});
  const std::uint32_t a = source.view->crmid(), b = related.view->crmid();
  const bool changed = unlink ? relations_.unlink(a, b) : relations_.link(a, b);
  if (changed) touch(a, body.value("modifiedby", std::string("19x1")));
  return fake_json(200, {{unlink ? "unlinked" : "linked", changed}});
}

}  // namespace vtsync::fake

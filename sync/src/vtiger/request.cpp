// The sending side of protocol.hpp: the endpoint taken from the configured url, form encoding of the
// parameters, the `element` parameter, the login digest (MD5), redaction of parameters for log lines, and
// the pacing of requests (full-jitter backoff before a retry, the client-side rate schedule).
#include <openssl/evp.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>

#include "ascii.hpp"
#include "vtsync/sync/vtiger/protocol.hpp"

namespace vtsync::vtiger {
namespace {

constexpr std::string_view webservice_php = "webservice.php";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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
  const std::string scheme = detail::ascii_lower(std::string(u.scheme()));
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

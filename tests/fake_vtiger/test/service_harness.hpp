#pragma once
// The in-process harness of the fake's unit tests (service_test.cpp, related_test.cpp): a service called
// directly through handle(), with login and create helpers.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "md5_hex.hpp"
#include "fake_vtiger/service.hpp"

namespace fake_test {

using namespace vtsync::fake;
using nlohmann::json;

using fake_test_support::md5_hex;

inline std::string enc(const std::string& v) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

inline std::string form(const std::map<std::string, std::string>& p) {
  std::string out;
  for (const auto& [k, v] : p) out += (out.empty() ? "" : "&") + k + "=" + enc(v);
  return out;
}

struct harness {
  explicit harness(service_options o = {}) : svc((::setenv("TZ", "UTC", 1), ::tzset(), std::move(o))) {}

  http_out get(std::map<std::string, std::string> p) {
    return svc.handle({"GET", "/webservice.php?" + form(p), "", ""});
  }
  http_out post(std::map<std::string, std::string> p) {
    return svc.handle({"POST", "/webservice.php", form(p), "application/x-www-form-urlencoded"});
  }
  json fake(const std::string& path, const json& body = json::object()) {
    const auto o = svc.handle({"POST", path, body.dump(), "application/json"});
    EXPECT_EQ(o.status, 200) << path << " " << o.body;
    return json::parse(o.body);
  }
  json fake_get(const std::string& target) { return json::parse(svc.handle({"GET", target, "", ""}).body); }

  std::string login(const std::string& user = "admin", const std::string& key = "fakeAdminKey0001") {
    const auto c = json::parse(get({{"operation", "getchallenge"}, {"username", user}}).body);
    const auto l = json::parse(post({{"operation", "login"},
                                     {"username", user},
                                     {"accessKey", md5_hex(c["result"]["token"].get<std::string>() + key)}})
                                   .body);
    EXPECT_TRUE(l["success"].get<bool>()) << l.dump();
    return l["result"]["sessionName"];
  }
  json query(const std::string& s, const std::string& q) {
    return json::parse(get({{"operation", "query"}, {"sessionName", s}, {"query", q}}).body);
  }
  json rows(const std::string& s, const std::string& q) {
    const json r = query(s, q);
    EXPECT_TRUE(r["success"].get<bool>()) << q << " -> " << r.dump();
    return r.value("result", json::array());
  }
  json create(const std::string& s, const std::string& type, const json& element) {
    return json::parse(
        post(
            {{"operation", "create"}, {"sessionName", s}, {"elementType", type}, {"element", element.dump()}})
            .body);
  }

  service svc;
};

}  // namespace fake_test

#pragma once
// Helpers shared by the tests that hold the fake Vtiger against recordings of a real Vtiger 8.2
// (conformance_test.cpp: tests/fixtures/vtiger-8.2; lab_test.cpp: tests/fixtures/vtiger-8.2-lab).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "md5_hex.hpp"
#include "child_process.hpp"

namespace vtsync::test::recordings {

using nlohmann::json;

using fake_test_support::md5_hex;

// "2026-11-28T01:04:59.524Z" or "2026-11-28 01:05:11" -> Unix seconds (UTC).
inline std::int64_t utc_seconds(const std::string& text) {
  std::tm tm{};
  std::sscanf(text.c_str(), "%d-%d-%d%*c%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
              &tm.tm_min, &tm.tm_sec);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

// A form body / query string from the recorded params (all strings).
inline std::string form(const json& params) {
  std::string out;
  for (const auto& [k, v] : params.items()) {
    if (!out.empty()) out += '&';
    out += url_encode(k) + "=" + url_encode(v.get<std::string>());
  }
  return out;
}

// The format class of a value: the JSON type, or for strings the pattern it follows.
inline std::string value_class(const json& v) {
  if (!v.is_string()) return v.type_name();
  static const std::vector<std::pair<std::string, std::regex>> classes = {
      {"empty", std::regex("^$")},
      {"datetime", std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$)")},
      {"date", std::regex(R"(^\d{4}-\d\d-\d\d$)")},
      {"ws-id", std::regex(R"(^\d+x\d+$)")},
      {"currency", std::regex(R"(^-?\d+\.\d{8}$)")},
      {"token", std::regex("^[0-9a-f]*[a-f][0-9a-f]*$")},
      {"number", std::regex(R"(^-?\d+(\.\d+)?$)")}};
  const std::string& s = v.get_ref<const std::string&>();
  for (const auto& [name, re] : classes) {
    if (std::regex_match(s, re)) {
      if (name == "token") return s.size() == 13 ? "token13" : "hex";
      return name;
    }
  }
  return "text";
}

// Same shape: object keys, array lengths, and the class of every scalar, recursively.
inline void expect_same_shape(const json& recorded, const json& live, const std::string& where) {
  if (recorded.is_object()) {
    ASSERT_TRUE(live.is_object()) << where << ": live is " << live.dump().substr(0, 300);
    std::set<std::string> rk, lk;
    for (const auto& [k, v] : recorded.items()) rk.insert(k);
    for (const auto& [k, v] : live.items()) lk.insert(k);
    std::string only_recorded, only_live;
    for (const auto& k : rk)
      if (!lk.contains(k)) only_recorded += " " + k;
    for (const auto& k : lk)
      if (!rk.contains(k)) only_live += " " + k;
    EXPECT_TRUE(only_recorded.empty() && only_live.empty())
        << where << ": keys differ; only recorded:" << only_recorded << "; only live:" << only_live;
    for (const auto& [k, v] : recorded.items()) {
      if (live.contains(k)) expect_same_shape(v, live[k], where + "." + k);
    }
    return;
  }
  if (recorded.is_array()) {
    ASSERT_TRUE(live.is_array()) << where;
    EXPECT_EQ(recorded.size(), live.size()) << where << ": array length";
    for (std::size_t i = 0; i < std::min(recorded.size(), live.size()); ++i) {
      expect_same_shape(recorded[i], live[i], where + "[" + std::to_string(i) + "]");
    }
    return;
  }
  EXPECT_EQ(value_class(recorded), value_class(live))
      << where << ": recorded " << recorded.dump() << " live " << live.dump();
}

}  // namespace vtsync::test::recordings

#pragma once
// A strict parser for the Prometheus text exposition format 0.0.4, used to check what GET /metrics serves.
// Stricter than Prometheus itself where the daemon promises more: every sample's family must have HELP
// and TYPE before its samples, families must be contiguous, counters end in _total, histogram buckets are
// cumulative with +Inf equal to _count, no duplicate series.
//
// Error policy: parse() throws std::runtime_error naming the line and what is wrong.
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::test::prometheus {

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct family {
  std::string help;
  std::string type;
  bool has_help = false;
  bool has_type = false;
  bool has_samples = false;
};

struct exposition {
  std::map<std::string, family> families;
  std::vector<sample> samples;

  // The value of the sample with exactly these labels, if present.
  [[nodiscard]] std::optional<double> value(const std::string& name,
                                            const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }
};

namespace detail {

inline bool metric_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}
inline bool label_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

inline bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!metric_char(s[i], i == 0)) return false;
  return true;
}

inline double parse_value(std::string_view s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  std::string text(s);
  if (text.empty()) throw std::runtime_error("empty value");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) throw std::runtime_error("bad value: " + text);
  return v;
}

}  // namespace detail

inline exposition parse(const std::string& text) {
  exposition out;
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("exposition must end with a newline");
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  std::string current_family;
  std::set<std::string> finished_families;
  std::set<std::string> seen_series;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(line_no) + ": " + why + ": [" + line + "]");
  };
  auto enter_family = [&](const std::string& name) {
    if (name == current_family) return;
    if (finished_families.count(name)) fail("family " + name + " is not contiguous");
    if (!current_family.empty()) finished_families.insert(current_family);
    current_family = name;
  };

  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (hash != "#" || (keyword != "HELP" && keyword != "TYPE")) continue;  // a plain comment
      if (!detail::valid_metric_name(name)) fail("bad metric name in " + keyword);
      enter_family(name);
      auto& fam = out.families[name];
      std::string rest;
      auto prefix = "# " + keyword + " " + name;
      if (line.size() > prefix.size()) {
        if (line[prefix.size()] != ' ') fail("expected a space after the name");
        rest = line.substr(prefix.size() + 1);
      }
      if (keyword == "HELP") {
        if (fam.has_help) fail("second HELP for " + name);
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\') {
            if (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n'))
              fail("bad escape in HELP");
            ++i;
          }
        }
        fam.help = rest;
        fam.has_help = true;
      } else {
        if (fam.has_type) fail("second TYPE for " + name);
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
            rest != "untyped")
          fail("unknown type " + rest);
        if (fam.has_samples) fail("TYPE after samples of " + name);
        fam.type = rest;
        fam.has_type = true;
      }
      continue;
    }

    // name{label="value",...} value
    sample s;
    std::size_t i = 0;
    while (i < line.size() && detail::metric_char(line[i], i == 0)) ++i;
    s.name = line.substr(0, i);
    if (s.name.empty()) fail("sample without a name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (true) {
        if (i >= line.size()) fail("unterminated label set");
        if (line[i] == '}') {
          ++i;
          break;
        }
        if (!first) {
          if (line[i] != ',') fail("expected ',' between labels");
          ++i;
        }
        first = false;
        std::size_t start = i;
        while (i < line.size() && detail::label_char(line[i], i == start)) ++i;
        std::string label = line.substr(start, i - start);
        if (label.empty()) fail("empty label name");
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
          fail("expected =\" after label name");
        i += 2;
        std::string value;
        while (true) {
          if (i >= line.size()) fail("unterminated label value");
          char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) fail("dangling backslash");
            char e = line[i++];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              fail("bad escape in label value");
          } else {
            value += c;
          }
        }
        if (!s.labels.emplace(label, value).second) fail("duplicate label " + label);
      }
    }
    if (i >= line.size() || line[i] != ' ') fail("expected a space before the value");
    ++i;
    std::string rest = line.substr(i);
    auto space = rest.find(' ');
    std::string value_text = rest.substr(0, space);
    if (space != std::string::npos) {
      std::string ts = rest.substr(space + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) fail("bad timestamp");
    }
    try {
      s.value = detail::parse_value(value_text);
    } catch (const std::exception& e) {
      fail(e.what());
    }

    // Which family does it belong to?
    std::string fam_name = s.name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (s.name.ends_with(suffix)) {
        auto base = s.name.substr(0, s.name.size() - suffix.size());
        auto it = out.families.find(base);
        if (it != out.families.end() && it->second.type == "histogram") fam_name = base;
      }
    }
    auto fam = out.families.find(fam_name);
    if (fam == out.families.end() || !fam->second.has_help || !fam->second.has_type)
      fail("sample without HELP and TYPE for its family");
    if (fam_name != current_family) fail("sample outside its family's block");
    fam->second.has_samples = true;
    if (fam->second.type == "counter") {
      if (!s.name.ends_with("_total")) fail("counter sample not ending in _total");
      if (s.value < 0 || std::isnan(s.value)) fail("negative counter");
    }
    if (fam->second.type == "histogram") {
      if (s.name == fam_name) fail("histogram sample without suffix");
      if (s.name.ends_with("_bucket") != (s.labels.count("le") > 0))
        fail("le only on (and on every) _bucket");
    }
    std::string series = s.name;
    for (const auto& [k, v] : s.labels) series += "|" + k + "=" + v;
    if (!seen_series.insert(series).second) fail("duplicate series");
    out.samples.push_back(std::move(s));
  }

  // Histograms: per label set (without le) buckets are cumulative, +Inf present and equal to _count.
  for (const auto& [name, fam] : out.families) {
    if (fam.type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    std::set<std::map<std::string, std::string>> sums;
    for (const auto& s : out.samples) {
      auto labels = s.labels;
      if (s.name == name + "_bucket") {
        double le = detail::parse_value(labels.at("le"));
        labels.erase("le");
        buckets[labels].emplace_back(le, s.value);
      } else if (s.name == name + "_count") {
        counts[labels] = s.value;
      } else if (s.name == name + "_sum") {
        sums.insert(labels);
      }
    }
    for (const auto& [labels, list] : buckets) {
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first)) throw std::runtime_error(name + ": le not increasing");
        if (list[k].second < list[k - 1].second) throw std::runtime_error(name + ": buckets not cumulative");
      }
      if (list.empty() || !std::isinf(list.back().first)) throw std::runtime_error(name + ": no +Inf bucket");
      auto c = counts.find(labels);
      if (c == counts.end()) throw std::runtime_error(name + ": no _count");
      if (c->second != list.back().second) throw std::runtime_error(name + ": +Inf bucket != _count");
      if (!sums.count(labels)) throw std::runtime_error(name + ": no _sum");
    }
    if (counts.size() != buckets.size() || sums.size() != buckets.size())
      throw std::runtime_error(name + ": _count/_sum without buckets");
  }
  return out;
}

}  // namespace vtsync::test::prometheus

#include "request_log.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace vtsync::test {

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<logged_request> read_request_log(const std::string& path) {
  std::vector<logged_request> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      continue;  // a line being written right now
    }
    logged_request r;
    r.start_ms = j.value("start_ms", std::int64_t{0});
    r.end_ms = j.value("end_ms", std::int64_t{0});
    r.operation = j.value("operation", "");
    r.module = j.value("module", "");
    r.session = j.value("session", "");
    r.query = j.value("query", "");
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const logged_request& a, const logged_request& b) { return a.start_ms < b.start_ms; });
  return out;
}

bool is_write(const logged_request& r) {
  return r.operation == "create" || r.operation == "update" || r.operation == "revise" ||
         r.operation == "delete";
}

std::vector<logged_request> pull_requests(const std::vector<logged_request>& log, const std::string& module,
                                          const std::string& idempotency_field) {
  std::set<std::string> writers;
  for (const auto& r : log) {
    if (is_write(r)) writers.insert(r.session);
  }
  std::vector<logged_request> out;
  for (const auto& r : log) {
    if (r.module != module || r.session.empty() || writers.contains(r.session)) continue;
    if (r.operation != "query" && r.operation != "sync") continue;
    if (!idempotency_field.empty() && r.query.find(idempotency_field) != std::string::npos) continue;
    out.push_back(r);
  }
  return out;
}

std::vector<logged_request> write_requests(const std::vector<logged_request>& log,
                                           const std::string& module) {
  std::vector<logged_request> out;
  for (const auto& r : log) {
    if (r.module == module && is_write(r)) out.push_back(r);
  }
  return out;
}

std::vector<std::string> exclusivity_violations(const std::vector<logged_request>& requests,
                                                const std::vector<std::int64_t>& kills_ms,
                                                std::int64_t slack_ms) {
  struct span {
    std::int64_t first_start = INT64_MAX, last_start = 0, last_end = 0;
  };
  std::map<std::string, span> sessions;
  for (const auto& r : requests) {
    auto& s = sessions[r.session];
    s.first_start = std::min(s.first_start, r.start_ms);
    s.last_start = std::max(s.last_start, r.start_ms);
    s.last_end = std::max(s.last_end, r.end_ms);
  }
  std::vector<std::pair<std::string, span>> list(sessions.begin(), sessions.end());
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.second.first_start < b.second.first_start; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    for (std::size_t j = i + 1; j < list.size(); ++j) {
      const auto& a = list[i].second;
      const auto& b = list[j].second;
      const std::string names = "session " + std::to_string(i) + " [" + std::to_string(a.first_start) + ", " +
                                std::to_string(a.last_end) + "] and session " + std::to_string(j) + " [" +
                                std::to_string(b.first_start) + ", " + std::to_string(b.last_end) + "]";
      if (a.last_start > b.first_start + slack_ms) {
        out.push_back(names + ": interleaved (the first started a request after the second began)");
        continue;
      }
      if (a.last_end > b.first_start + slack_ms) {
        const bool killed = std::any_of(kills_ms.begin(), kills_ms.end(), [&](std::int64_t k) {
          return k + slack_ms >= a.last_start && k <= b.first_start + slack_ms;
        });
        if (!killed) out.push_back(names + ": overlap with no kill in between");
      }
    }
  }
  return out;
}

std::vector<std::int64_t> failover_times(const std::vector<logged_request>& pull,
                                         const std::vector<std::int64_t>& kills_ms) {
  std::vector<std::int64_t> out;
  for (const auto k : kills_ms) {
    std::string before;
    for (const auto& r : pull) {
      if (r.start_ms <= k) before = r.session;
    }
    for (const auto& r : pull) {
      if (r.start_ms > k && r.session != before) {
        out.push_back(r.start_ms - k);
        break;
      }
    }
  }
  return out;
}

}  // namespace vtsync::test

// The per-minute ring of pulled and pushed records (activity_history.hpp).
#include "vtsync/daemon/activity_history.hpp"

#include <ctime>

namespace vtsync::daemon {

namespace {

std::int64_t minute_of(activity_history::clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::minutes>(t.time_since_epoch()).count();
}

std::string iso_minute(std::int64_t minute) {
  const std::time_t tt = static_cast<std::time_t>(minute * 60);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:00Z", &tm);
  return buf;
}

}  // namespace

activity_history::slot& activity_history::current(std::string_view module, clock::time_point now) {
  auto it = modules_.find(module);
  if (it == modules_.end()) it = modules_.emplace(std::string{module}, ring{}).first;
  const auto minute = minute_of(now);
  auto& s = it->second[static_cast<std::size_t>(minute % static_cast<std::int64_t>(minutes))];
  if (s.minute != minute) s = slot{minute, 0, 0};
  return s;
}

void activity_history::add_pulled(std::string_view module, std::uint64_t n, clock::time_point now) {
  current(module, now).pulled += n;
}

void activity_history::add_pushed(std::string_view module, std::uint64_t n, clock::time_point now) {
  current(module, now).pushed += n;
}

nlohmann::json activity_history::to_json(clock::time_point now) const {
  const auto last = minute_of(now);
  nlohmann::json out{
      {"minutes", minutes}, {"until", iso_minute(last)}, {"modules", nlohmann::json::object()}};
  for (const auto& [module, slots] : modules_) {
    auto pulled = nlohmann::json::array();
    auto pushed = nlohmann::json::array();
    for (auto minute = last - static_cast<std::int64_t>(minutes) + 1; minute <= last; ++minute) {
      const auto& s = slots[static_cast<std::size_t>(minute % static_cast<std::int64_t>(minutes))];
      const bool valid = s.minute == minute;  // an older minute's slot not reused yet counts as zero
      pulled.push_back(valid ? s.pulled : 0);
      pushed.push_back(valid ? s.pushed : 0);
    }
    out["modules"][module] = {{"pulled", pulled}, {"pushed", pushed}};
  }
  return out;
}

}  // namespace vtsync::daemon

// /readyz, /status and /metrics of `vtsyncd run`, from the state its loops keep (run_state.hpp), and the
// operator page over them (operator_page.hpp). The roles and leases are as this daemon last saw them; the
// pending and failed counts as the operator page's cache last read them.
#include "run_status.hpp"

#include <ctime>

#include "operator_page.hpp"
#include "vtsync/daemon/version.hpp"

namespace vtsync::daemon {

using nlohmann::json;
using clock_type = std::chrono::system_clock;

namespace {

std::string iso_time(clock_type::time_point t) {
  const std::time_t tt = clock_type::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json holder_json(const lease_state& l) { return l.holder.empty() ? json(nullptr) : json(l.holder); }

// "active" when this daemon holds at least one lease, "standby" otherwise.
std::string role(const run_state& run) {
  bool any = false;
  for (const auto& inst : run.instances) any = any || inst->push_lease.held;
  for (const auto& [name, state] : run.modules) any = any || state.lease.held;
  return any ? "active" : "standby";
}

// Who holds what, as this daemon last saw it: {"pull:Contacts": {"holder": "host:pid", "mine": true}}.
json leases_json(const run_state& run) {
  json out = json::object();
  for (const auto& [name, state] : run.modules) {
    if (state.removed) continue;
    out["pull:" + name] = {{"holder", holder_json(state.lease)}, {"mine", state.lease.held}};
  }
  for (const auto& inst : run.instances) {
    const std::string name =
        inst->prefix.empty() ? "push" : "push:" + inst->prefix.substr(0, inst->prefix.size() - 1);
    out[name] = {{"holder", holder_json(inst->push_lease)}, {"mine", inst->push_lease.held}};
  }
  return out;
}

readiness readiness_of(const run_state& run) {
  readiness r;
  json checks = json::object();
  checks["postgres"] = run.pg_reached;
  checks["vtiger"] = run.vtiger_reached;
  const auto now = clock_type::now();
  const auto limit = 3 * run.settings.sync.poll_interval;
  std::vector<std::string> stale;
  // A hot standby is ready: it is healthy and able to take over. For a module this daemon does not hold,
  // "fresh" means the lease was looked at recently (PostgreSQL answers, the holder is known).
  for (const auto& [name, state] : run.modules) {
    if (state.removed) continue;  // left sync.modules on a reload
    const bool fresh = state.lease.held ? state.last_success && now - *state.last_success <= limit
                                        : state.lease.checked && now - *state.lease.checked <= limit;
    checks["modules"][name] = fresh;
    if (!fresh) stale.push_back(name);
  }
  r.details = {
      {"checks", checks}, {"role", role(run)}, {"identity", run.identity}, {"leases", leases_json(run)}};
  if (run.stopping) {
    r.reason = "draining: stopping";
  } else if (!run.pg_reached) {
    r.reason = "PostgreSQL not reached yet";
  } else if (!run.vtiger_reached) {
    r.reason = "Vtiger not reached yet";
  } else if (!stale.empty()) {
    std::string list;
    for (const auto& s : stale) list += (list.empty() ? "" : ", ") + s;
    r.reason = "no successful sync within 3 poll intervals: " + list;
  } else {
    r.ready = true;
  }
  return r;
}

// Pending and failed local changes by "<prefix><module>", from the operator page's cache; absent before
// its first read.
std::map<std::string, storage::module_outbox_counts> outbox_counts_of(const run_state& run) {
  std::map<std::string, storage::module_outbox_counts> out;
  for (const auto& inst : run.instances) {
    if (!inst->page.view) continue;
    for (const auto& m : inst->settings.sync.modules) out[inst->prefix + m] = {m, 0, 0};
    for (const auto& c : inst->page.view->counts) out[inst->prefix + c.module] = c;
  }
  return out;
}

// The module's state in a word and why: "standby" (another daemon works it), "failing" (its last cycle
// failed, or Vtiger rejected local changes), "lagging" (no successful cycle within 3 poll intervals) or
// "current".
std::pair<std::string, std::string> module_health(const run_state& run, const module_state& state,
                                                  std::int64_t failed, clock_type::time_point now) {
  if (!state.lease.held) {
    return {"standby",
            state.lease.holder.empty() ? "waiting for its lease" : "worked by " + state.lease.holder};
  }
  if (!state.last_error.empty()) return {"failing", "the last cycle failed: " + state.last_error};
  if (failed > 0) return {"failing", std::to_string(failed) + " local change(s) rejected by Vtiger"};
  if (!state.last_success) return {"lagging", "no successful cycle yet"};
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *state.last_success).count();
  const auto limit =
      std::chrono::duration_cast<std::chrono::seconds>(3 * run.settings.sync.poll_interval).count();
  if (age > limit)
    return {"lagging", "last success " + std::to_string(age) + " s ago (over 3 poll intervals)"};
  return {"current", "synced " + std::to_string(age) + " s ago"};
}

json instances_json(const run_state& run) {
  json out = json::array();
  for (const auto& inst : run.instances) {
    out.push_back({{"name", inst->settings.vtiger.name},
                   {"url", inst->settings.vtiger.url},
                   {"version", inst->vtiger_version.empty() ? json(nullptr) : json(inst->vtiger_version)}});
  }
  return out;
}

json status_of(const run_state& run) {
  json modules = json::object();
  const auto now = clock_type::now();
  const auto counts = outbox_counts_of(run);
  for (const auto& [name, state] : run.modules) {
    if (state.removed) continue;
    json m;
    const auto c = counts.find(name);
    m["pending"] = c == counts.end() ? json(nullptr) : json(c->second.pending);
    m["failed"] = c == counts.end() ? json(nullptr) : json(c->second.failed);
    const auto [word, why] = module_health(run, state, c == counts.end() ? 0 : c->second.failed, now);
    m["state"] = word;
    m["state_reason"] = why;
    m["cursor"] = state.cursor;
    m["last_success"] = state.last_success ? json(iso_time(*state.last_success)) : json(nullptr);
    m["lag_seconds"] =
        state.last_success
            ? json(std::chrono::duration_cast<std::chrono::seconds>(now - *state.last_success).count())
            : json(nullptr);
    m["cycles"] = state.cycles;
    m["records_pulled"] = state.records;
    m["sync_operation"] = state.sync_supported;
    m["last_error"] = state.last_error;
    m["idle_poll_ms"] = state.idle_poll
                            ? json(std::chrono::duration<double, std::milli>(*state.idle_poll).count())
                            : json(nullptr);
    m["warning"] = state.warning.empty() ? json(nullptr) : json(state.warning);
    m["lease"] = state.lease.held ? "held" : "standby";
    m["holder"] = holder_json(state.lease);
    modules[name] = m;
  }
  return json{
      {"modules", modules},
      {"role", role(run)},
      {"identity", run.identity},
      {"leases", leases_json(run)},
      {"postgres_reached", run.pg_reached},
      {"vtiger_reached", run.vtiger_reached},
      {"draining", run.stopping},
      {"outbox_pending", run.meters.outbox_pending().value()},
      {"push_rate", run.meters.push_rate().value()},
      {"push_eta_seconds", run.meters.push_eta_seconds().value()},
      {"vtiger", instances_json(run)},
      {"version", std::string{version()}},
      {"started_at", iso_time(run.started)},
      {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(now - run.started).count()}};
}

}  // namespace

health_state health_of(run_state& run) {
  health_state hs;
  hs.readiness_provider = [&run] { return readiness_of(run); };
  hs.status_provider = [&run] {
    refresh_operator_views(run);  // the counts for the next request; this one answers from the cache
    return status_of(run);
  };
  hs.metrics_provider = [&run] {
    // Failed counts from the operator page's cache, as /status has them (they drop on retry or discard).
    for (const auto& [module, c] : outbox_counts_of(run))
      run.meters.outbox_failed(module).set(static_cast<double>(c.failed));
    refresh_operator_views(run);
    return run.meters.render();
  };
  hs.page_provider = operator_page(run, hs.status_provider);
  return hs;
}

}  // namespace vtsync::daemon

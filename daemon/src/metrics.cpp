#include "vtsync/daemon/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace vtsync::daemon {
namespace {

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  auto first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  if (!first(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  auto first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!first(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

std::string_view type_name(metric_type type) {
  switch (type) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "untyped";
}

constexpr std::array<double, 14> cycle_buckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                               2.5,  5,     10,   30,  60,   120, 300};
// One web-service exchange: a few milliseconds (an id page, a retrieve) to seconds (a modifiedtime query
// on a large CRM without the index, docs/performance.md); 0.05 is the slow idle poll's threshold.
constexpr std::array<double, 12> request_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,   0.25,   0.5,   1,    2.5,   10};

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_sample_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::array<char, 64> buf{};
  // Whole numbers (counts, Unix timestamps) read best without an exponent: 1700000000, not 1.7e+09.
  const bool whole = std::trunc(v) == v && std::fabs(v) < 1e15;
  auto [end, ec] = whole ? std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed)
                         : std::to_chars(buf.data(), buf.data() + buf.size(), v);
  if (ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes; keeps the output parseable anyway
  return std::string(buf.data(), end);
}

std::span<const double> cycle_duration_buckets() { return cycle_buckets; }
std::span<const double> request_duration_buckets() { return request_buckets; }

// ---- counter, gauge, histogram

void counter::inc(double amount) {
  // A counter that goes down looks like a process restart to Prometheus' rate(): refuse it loudly.
  if (!(amount >= 0.0)) throw std::invalid_argument("counter increment must be >= 0");
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void gauge::set_to_current_time() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  set(std::chrono::duration<double>(now).count());
}

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void histogram::observe(double v) {
  if (std::isnan(v)) return;  // would land in an arbitrary bucket and poison _sum
  // Buckets are "less than or equal": the first bound >= v counts it.
  auto index =
      static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard lock{mutex_};
  ++counts_[index];
  sum_ += v;
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.upper_bounds = bounds_;
  std::lock_guard lock{mutex_};
  std::uint64_t running = 0;
  s.cumulative_counts.reserve(counts_.size());
  for (auto c : counts_) {
    running += c;
    s.cumulative_counts.push_back(running);
  }
  s.count = running;
  s.sum = sum_;
  return s;
}

// ---- families

family_base::family_base(std::string name, std::string help, std::vector<std::string> label_names,
                         metric_type type)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), type_(type) {
  if (!valid_metric_name(name_)) throw std::invalid_argument("invalid metric name: " + name_);
  if (type_ == metric_type::counter && !name_.ends_with("_total"))
    throw std::invalid_argument("counter name must end in _total: " + name_);
  for (const auto& label : label_names_) {
    if (!valid_label_name(label)) throw std::invalid_argument("invalid label name: " + label);
    if (type_ == metric_type::histogram && label == "le")
      throw std::invalid_argument("label name 'le' is reserved for histogram buckets");
  }
  auto sorted = label_names_;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw std::invalid_argument("duplicate label name in " + name_);
}

void family_base::check_arity(std::size_t values) const {
  if (values != label_names_.size())
    throw std::invalid_argument(name_ + " takes " + std::to_string(label_names_.size()) +
                                " label value(s), got " + std::to_string(values));
}

void family_base::render_labels(std::string& out, const std::vector<std::string>& values,
                                std::string_view extra_name, std::string_view extra_value) const {
  if (values.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += label_names_[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

template <class Metric>
family<Metric>::family(std::string name, std::string help, std::vector<std::string> label_names,
                       metric_type type, std::vector<double> histogram_bounds)
    : family_base(std::move(name), std::move(help), std::move(label_names), type),
      bounds_(std::move(histogram_bounds)) {
  if constexpr (std::is_same_v<Metric, histogram>) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
        std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end() ||
        std::any_of(bounds_.begin(), bounds_.end(), [](double b) { return !std::isfinite(b); }))
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing: " + this->name());
  }
  // An unlabelled family always has its one series, so it renders (as 0) before the first update.
  if (this->label_names().empty()) labels({});
}

template <class Metric>
Metric& family<Metric>::labels(std::span<const std::string_view> values) {
  check_arity(values.size());
  std::vector<std::string> key(values.begin(), values.end());
  std::lock_guard lock{mutex_};
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::unique_ptr<Metric> child;
    if constexpr (std::is_same_v<Metric, histogram>) {
      child = std::make_unique<histogram>(bounds_);
    } else {
      child = std::make_unique<Metric>();
    }
    it = children_.emplace(std::move(key), std::move(child)).first;
  }
  return *it->second;
}

template <class Metric>
void family<Metric>::render(std::string& out) const {
  out += "# HELP ";
  out += name();
  out += ' ';
  out += escape_help(help());
  out += "\n# TYPE ";
  out += name();
  out += ' ';
  out += type_name(type());
  out += '\n';
  std::lock_guard lock{mutex_};
  for (const auto& [values, child] : children_) {
    if constexpr (std::is_same_v<Metric, histogram>) {
      auto snap = child->read();
      for (std::size_t i = 0; i < snap.cumulative_counts.size(); ++i) {
        out += name();
        out += "_bucket";
        std::string le = i < snap.upper_bounds.size() ? format_sample_value(snap.upper_bounds[i]) : "+Inf";
        render_labels(out, values, "le", le);
        out += ' ';
        out += std::to_string(snap.cumulative_counts[i]);
        out += '\n';
      }
      out += name();
      out += "_sum";
      render_labels(out, values);
      out += ' ';
      out += format_sample_value(snap.sum);
      out += '\n';
      out += name();
      out += "_count";
      render_labels(out, values);
      out += ' ';
      out += std::to_string(snap.count);
      out += '\n';
    } else {
      out += name();
      render_labels(out, values);
      out += ' ';
      out += format_sample_value(child->value());
      out += '\n';
    }
  }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// ---- registry

family_base* metrics_registry::find(const std::string& name, metric_type type,
                                    const std::vector<std::string>& label_names) {
  for (auto& f : families_) {
    if (f->name() != name) continue;
    if (f->type() != type || f->label_names() != label_names)
      throw std::invalid_argument("metric " + name + " is already registered with another type or labels");
    return f.get();
  }
  return nullptr;
}

template <class Metric>
family<Metric>& metrics_registry::find_or_add(std::string name, std::string help,
                                              std::vector<std::string> label_names, metric_type type,
                                              std::vector<double> upper_bounds) {
  std::lock_guard lock{mutex_};
  if (auto* f = find(name, type, label_names)) return static_cast<family<Metric>&>(*f);
  auto f = std::make_unique<family<Metric>>(std::move(name), std::move(help), std::move(label_names), type,
                                            std::move(upper_bounds));
  auto& ref = *f;
  families_.push_back(std::move(f));
  return ref;
}

family<counter>& metrics_registry::counter_family(std::string name, std::string help,
                                                  std::vector<std::string> label_names) {
  return find_or_add<counter>(std::move(name), std::move(help), std::move(label_names), metric_type::counter);
}

family<gauge>& metrics_registry::gauge_family(std::string name, std::string help,
                                              std::vector<std::string> label_names) {
  return find_or_add<gauge>(std::move(name), std::move(help), std::move(label_names), metric_type::gauge);
}

family<histogram>& metrics_registry::histogram_family(std::string name, std::string help,
                                                      std::vector<std::string> label_names,
                                                      std::vector<double> upper_bounds) {
  return find_or_add<histogram>(std::move(name), std::move(help), std::move(label_names),
                                metric_type::histogram, std::move(upper_bounds));
}

std::string metrics_registry::render() const {
  std::string out;
  std::lock_guard lock{mutex_};
  for (const auto& f : families_) f->render(out);
  return out;
}

// ---- the daemon's series

metrics::metrics(std::span<const std::string> modules, std::string_view version)
    : records_pulled_(registry_.counter_family("vtsync_records_pulled_total",
                                               "Records pulled from Vtiger into the mirror.", {"module"})),
      records_pushed_(
          registry_.counter_family("vtsync_records_pushed_total",
                                   "Local changes pushed to Vtiger, by operation (create, update, "
                                   "delete).",
                                   {"module", "op"})),
      api_requests_(registry_.counter_family(
          "vtsync_api_requests_total", "Vtiger web-service requests sent, by operation.", {"operation"})),
      relogins_(registry_.counter_family("vtsync_relogins_total",
                                         "Times the Vtiger session expired and the daemon logged in again.")),
      push_failures_(registry_.counter_family(
          "vtsync_push_failures_total", "Local changes Vtiger rejected (row marked failed).", {"module"})),
      outbox_pending_(registry_.gauge_family("vtsync_outbox_pending", "Local changes waiting to be pushed.")),
      outbox_failed_(registry_.gauge_family(
          "vtsync_outbox_failed", "Local changes Vtiger rejected and nobody retried or discarded yet.",
          {"module"})),
      last_success_(registry_.gauge_family("vtsync_last_success_timestamp_seconds",
                                           "Unix time of the last sync cycle of a module that completed.",
                                           {"module"})),
      cycle_duration_(registry_.histogram_family(
          "vtsync_cycle_duration_seconds", "Duration of one sync cycle (pull and push) of a module.",
          {"module"}, std::vector<double>(cycle_duration_buckets().begin(), cycle_duration_buckets().end()))),
      request_duration_(registry_.histogram_family(
          "vtsync_api_request_duration_seconds",
          "Duration of one Vtiger web-service request, by operation (sent to answer read).", {"operation"},
          std::vector<double>(request_duration_buckets().begin(), request_duration_buckets().end()))) {
  if (!version.empty()) {
    registry_
        .gauge_family("vtsync_build_info", "Always 1; the label carries the vtsyncd version.", {"version"})
        .labels({version})
        .set(1);
  }
  // The operations whose answer times matter most (a poll is a query; a push starts with a retrieve).
  for (std::string_view op : {"query", "retrieve"}) request_duration(op);
  push_rate();
  push_eta_seconds();
  for (const auto& module : modules) {
    records_pulled(module);
    push_failures(module);
    outbox_failed(module);
    last_success_timestamp(module);
    cycle_duration(module);
    // The ops the push engine reports (push.hpp push_observer::on_pushed): create | revise | delete.
    for (std::string_view op : {"create", "revise", "delete"}) records_pushed(module, op);
  }
}

counter& metrics::records_pulled(std::string_view module) { return records_pulled_.labels({module}); }
counter& metrics::records_pushed(std::string_view module, std::string_view op) {
  return records_pushed_.labels({module, op});
}
counter& metrics::api_requests(std::string_view operation) { return api_requests_.labels({operation}); }
counter& metrics::relogins() { return relogins_.labels({}); }
counter& metrics::push_failures(std::string_view module) { return push_failures_.labels({module}); }
gauge& metrics::outbox_pending() { return outbox_pending_.labels({}); }
gauge& metrics::outbox_failed(std::string_view module) { return outbox_failed_.labels({module}); }
gauge& metrics::push_rate() {
  return registry_
      .gauge_family("vtsync_push_rate",
                    "Local changes pushed per second by the push under way (0 when idle).")
      .labels({});
}
gauge& metrics::push_eta_seconds() {
  return registry_
      .gauge_family("vtsync_push_eta_seconds",
                    "Seconds until the pending local changes are pushed at the current rate (0 when idle).")
      .labels({});
}
gauge& metrics::last_success_timestamp(std::string_view module) { return last_success_.labels({module}); }
histogram& metrics::cycle_duration(std::string_view module) { return cycle_duration_.labels({module}); }
histogram& metrics::request_duration(std::string_view operation) {
  return request_duration_.labels({operation});
}

}  // namespace vtsync::daemon

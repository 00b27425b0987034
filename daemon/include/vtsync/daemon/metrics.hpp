#pragma once
// An in-memory Prometheus registry and the daemon's own series, rendered in the text exposition
// format 0.0.4 (what GET /metrics serves).
//
// Threading: increments, sets and observations are lock-free atomics (histograms take a tiny mutex so a
// scrape never sees _count disagree with the +Inf bucket); looking up a labelled child and rendering take
// the family's mutex. One event-loop thread writing and a scrape reading from another thread is safe.
// References returned by labels()/accessors stay valid for the registry's lifetime: cache them in hot loops.
//
// Error policy: programming errors (a bad metric or label name, a counter name without _total, the wrong
// number of label values, a negative counter increment, re-registering a name with another type or other
// labels) throw std::invalid_argument. Nothing else throws except std::bad_alloc.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::daemon {

// A monotonically increasing value. Prometheus counters are floating point; whole numbers render
// without a fraction ("42").
class counter {
 public:
  void inc(double amount = 1.0);  // throws std::invalid_argument when amount < 0
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1.0) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  void set_to_current_time();  // seconds since the Unix epoch (system_clock), with sub-second fraction
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Fixed upper bounds chosen at registration; +Inf is implicit.
class histogram {
 public:
  struct snapshot {
    std::vector<double> upper_bounds;              // without +Inf
    std::vector<std::uint64_t> cumulative_counts;  // one per bound, then one for +Inf (== count)
    double sum = 0.0;
    std::uint64_t count = 0;
  };

  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v);
  [[nodiscard]] snapshot read() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0.0;
};

enum class metric_type { counter, gauge, histogram };

// Everything the renderer needs to know about one family, independent of its value type.
class family_base {
 public:
  family_base(std::string name, std::string help, std::vector<std::string> label_names, metric_type type);
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& help() const { return help_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const { return label_names_; }
  [[nodiscard]] metric_type type() const { return type_; }
  virtual void render(std::string& out) const = 0;

 protected:
  void check_arity(std::size_t values) const;  // throws std::invalid_argument on mismatch
  void render_labels(std::string& out, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  metric_type type_;
};

// One metric family: every child shares the name, help text and label names; a child per distinct
// tuple of label values, created on first use. Children render sorted by label values.
template <class Metric>
class family final : public family_base {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names, metric_type type,
         std::vector<double> histogram_bounds = {});

  // Label values in the order of label_names(). A family without labels has its single child at labels({}).
  Metric& labels(std::span<const std::string_view> values);
  Metric& labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>{values.begin(), values.size()});
  }
  void render(std::string& out) const override;

 private:
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

extern template class family<counter>;
extern template class family<gauge>;
extern template class family<histogram>;

class metrics_registry {
 public:
  // Registering an existing name again with the same type and label names returns the existing family.
  family<counter>& counter_family(std::string name, std::string help,
                                  std::vector<std::string> label_names = {});
  family<gauge>& gauge_family(std::string name, std::string help, std::vector<std::string> label_names = {});
  family<histogram>& histogram_family(std::string name, std::string help,
                                      std::vector<std::string> label_names, std::vector<double> upper_bounds);

  // Text exposition format 0.0.4: families in registration order, HELP and TYPE once each.
  [[nodiscard]] std::string render() const;

 private:
  family_base* find(const std::string& name, metric_type type, const std::vector<std::string>& label_names);
  // The family `name` as registered before, or a new one (the three *_family above).
  template <class Metric>
  family<Metric>& find_or_add(std::string name, std::string help, std::vector<std::string> label_names,
                              metric_type type, std::vector<double> upper_bounds = {});

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family_base>> families_;
};

// Escaping rules of the text format, exposed for tests.
[[nodiscard]] std::string escape_label_value(std::string_view value);  // \\, \", \n
[[nodiscard]] std::string escape_help(std::string_view help);          // \\, \n
[[nodiscard]] std::string format_sample_value(double v);               // shortest round-trip, +Inf/-Inf/NaN

// Upper bounds of vtsync_cycle_duration_seconds, in seconds: a cycle takes from milliseconds (nothing
// changed) to minutes (a large backfill page run).
[[nodiscard]] std::span<const double> cycle_duration_buckets();
// Upper bounds of vtsync_api_request_duration_seconds, in seconds.
[[nodiscard]] std::span<const double> request_duration_buckets();

// The daemon's series (the contract's "Health endpoint" list plus cycle durations and build info).
class metrics {
 public:
  // `modules` pre-creates the per-module series at zero so dashboards see them before the first cycle.
  explicit metrics(std::span<const std::string> modules = {}, std::string_view version = {});

  counter& records_pulled(std::string_view module);                       // vtsync_records_pulled_total
  counter& records_pushed(std::string_view module, std::string_view op);  // vtsync_records_pushed_total
  counter& api_requests(std::string_view operation);                      // vtsync_api_requests_total
  counter& relogins();                                                    // vtsync_relogins_total
  counter& push_failures(std::string_view module);                        // vtsync_push_failures_total
  gauge& outbox_pending();                                                // vtsync_outbox_pending
  gauge& outbox_failed(
      std::string_view module);  // vtsync_outbox_failed: rejected changes not retried/discarded
  gauge& push_rate();            // vtsync_push_rate: changes/s of the push under way (0 when idle)
  gauge& push_eta_seconds();     // vtsync_push_eta_seconds: pending / rate while a push runs (0 when idle)
  gauge& last_success_timestamp(std::string_view module);   // vtsync_last_success_timestamp_seconds
  histogram& cycle_duration(std::string_view module);       // vtsync_cycle_duration_seconds
  histogram& request_duration(std::string_view operation);  // vtsync_api_request_duration_seconds

  [[nodiscard]] metrics_registry& registry() { return registry_; }
  [[nodiscard]] std::string render() const { return registry_.render(); }

 private:
  metrics_registry registry_;
  family<counter>& records_pulled_;
  family<counter>& records_pushed_;
  family<counter>& api_requests_;
  family<counter>& relogins_;
  family<counter>& push_failures_;
  family<gauge>& outbox_pending_;
  family<gauge>& outbox_failed_;
  family<gauge>& last_success_;
  family<histogram>& cycle_duration_;
  family<histogram>& request_duration_;
};

}  // namespace vtsync::daemon

// Needs: nothing (unit).
#include "vtsync/daemon/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "prometheus_text.hpp"

namespace vtsync::daemon {
namespace {

namespace prom = vtsync::test::prometheus;

TEST(metrics, label_values_are_escaped) {
  EXPECT_EQ(escape_label_value(R"(a\b)"), R"(a\\b)");
  EXPECT_EQ(escape_label_value(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(escape_label_value("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(escape_label_value("plain Ünïcode"), "plain Ünïcode");

  metrics_registry reg;
  reg.counter_family("odd_total", "Odd labels.", {"module"}).labels({"C:\\x \"y\"\nz"}).inc(2);
  std::string text = reg.render();
  EXPECT_NE(text.find(R"(odd_total{module="C:\\x \"y\"\nz"} 2)"), std::string::npos) << text;
  // And the strict parser reads back the original value.
  auto parsed = prom::parse(text);
  EXPECT_EQ(parsed.value("odd_total", {{"module", "C:\\x \"y\"\nz"}}), 2.0);
}

TEST(metrics, help_is_escaped_but_quotes_are_not) {
  metrics_registry reg;
  reg.gauge_family("g", "back\\slash \"quoted\"\nsecond line");
  EXPECT_NE(reg.render().find("# HELP g back\\\\slash \"quoted\"\\nsecond line\n"), std::string::npos)
      << reg.render();
}

TEST(metrics, counter_rendering) {
  metrics_registry reg;
  auto& fam = reg.counter_family("jobs_total", "Jobs done.", {"kind", "result"});
  fam.labels({"b", "ok"}).inc();
  fam.labels({"a", "ok"}).inc(2.5);
  fam.labels({"b", "ok"}).inc(3);
  EXPECT_EQ(reg.render(),
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total{kind=\"a\",result=\"ok\"} 2.5\n"
            "jobs_total{kind=\"b\",result=\"ok\"} 4\n");
}

TEST(metrics, unlabelled_series_render_before_first_update) {
  metrics_registry reg;
  reg.counter_family("relogins_total", "Relogins.");
  reg.gauge_family("pending", "Pending.");
  EXPECT_EQ(reg.render(),
            "# HELP relogins_total Relogins.\n# TYPE relogins_total counter\nrelogins_total 0\n"
            "# HELP pending Pending.\n# TYPE pending gauge\npending 0\n");
}

TEST(metrics, histogram_rendering_is_cumulative_with_inf_equal_to_count) {
  metrics_registry reg;
  auto& h = reg.histogram_family("d_seconds", "Durations.", {"module"}, {0.25, 1, 10}).labels({"Contacts"});
  h.observe(0.125);
  h.observe(0.25);  // le is inclusive: counts in the 0.25 bucket
  h.observe(0.5);
  h.observe(100);
  EXPECT_EQ(reg.render(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{module=\"Contacts\",le=\"0.25\"} 2\n"
            "d_seconds_bucket{module=\"Contacts\",le=\"1\"} 3\n"
            "d_seconds_bucket{module=\"Contacts\",le=\"10\"} 3\n"
            "d_seconds_bucket{module=\"Contacts\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{module=\"Contacts\"} 100.875\n"
            "d_seconds_count{module=\"Contacts\"} 4\n");
  EXPECT_NO_THROW(prom::parse(reg.render()));
}

TEST(metrics, sample_values_format) {
  EXPECT_EQ(format_sample_value(0), "0");
  EXPECT_EQ(format_sample_value(42), "42");
  EXPECT_EQ(format_sample_value(0.25), "0.25");
  EXPECT_EQ(format_sample_value(1.7e9), "1700000000");
  EXPECT_EQ(format_sample_value(INFINITY), "+Inf");
  EXPECT_EQ(format_sample_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_sample_value(NAN), "NaN");
}

TEST(metrics, misuse_is_rejected) {
  metrics_registry reg;
  EXPECT_THROW(reg.counter_family("no_suffix", "x"), std::invalid_argument);
  EXPECT_THROW(reg.gauge_family("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(reg.gauge_family("g", "x", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(reg.gauge_family("g2", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(reg.histogram_family("h", "x", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(reg.histogram_family("h2", "x", {}, {2, 1}), std::invalid_argument);
  auto& c = reg.counter_family("c_total", "x", {"a"});
  EXPECT_THROW(c.labels({}), std::invalid_argument);
  EXPECT_THROW(c.labels({"1", "2"}), std::invalid_argument);
  EXPECT_THROW(c.labels({"1"}).inc(-1), std::invalid_argument);
  EXPECT_EQ(&reg.counter_family("c_total", "x", {"a"}), &c);  // same registration returns the same family
  EXPECT_THROW(reg.gauge_family("c_total", "x", {"a"}), std::invalid_argument);
  EXPECT_THROW(reg.counter_family("c_total", "x", {"b"}), std::invalid_argument);
}

TEST(metrics, daemon_series_are_preregistered_and_valid) {
  std::vector<std::string> modules{"Contacts", "Accounts"};
  metrics m{modules, "0.1.0"};
  auto parsed = prom::parse(m.render());
  const std::map<std::string, std::string> families{{"vtsync_records_pulled_total", "counter"},
                                                    {"vtsync_records_pushed_total", "counter"},
                                                    {"vtsync_api_requests_total", "counter"},
                                                    {"vtsync_relogins_total", "counter"},
                                                    {"vtsync_push_failures_total", "counter"},
                                                    {"vtsync_outbox_pending", "gauge"},
                                                    {"vtsync_last_success_timestamp_seconds", "gauge"},
                                                    {"vtsync_cycle_duration_seconds", "histogram"},
                                                    {"vtsync_api_request_duration_seconds", "histogram"},
                                                    {"vtsync_build_info", "gauge"}};
  for (const auto& [name, type] : families) {
    ASSERT_TRUE(parsed.families.count(name)) << name;
    EXPECT_EQ(parsed.families.at(name).type, type) << name;
  }
  EXPECT_EQ(parsed.value("vtsync_records_pulled_total", {{"module", "Accounts"}}), 0.0);
  EXPECT_EQ(parsed.value("vtsync_records_pushed_total", {{"module", "Contacts"}, {"op", "delete"}}), 0.0);
  // Pre-initialised with the op names the push engine reports (an update is a `revise` call).
  EXPECT_EQ(parsed.value("vtsync_records_pushed_total", {{"module", "Contacts"}, {"op", "revise"}}), 0.0);
  EXPECT_FALSE(
      parsed.value("vtsync_records_pushed_total", {{"module", "Contacts"}, {"op", "update"}}).has_value());
  EXPECT_EQ(parsed.value("vtsync_relogins_total"), 0.0);
  EXPECT_EQ(parsed.value("vtsync_outbox_pending"), 0.0);
  EXPECT_EQ(parsed.value("vtsync_cycle_duration_seconds_count", {{"module", "Contacts"}}), 0.0);
  EXPECT_EQ(parsed.value("vtsync_build_info", {{"version", "0.1.0"}}), 1.0);
  EXPECT_EQ(parsed.value("vtsync_api_request_duration_seconds_count", {{"operation", "query"}}), 0.0);
  // A 120 ms idle poll (issue 17's figure) lands above the 50 ms warning threshold.
  m.request_duration("query").observe(0.12);
  parsed = prom::parse(m.render());
  EXPECT_EQ(
      parsed.value("vtsync_api_request_duration_seconds_bucket", {{"operation", "query"}, {"le", "0.05"}}),
      0.0);
  EXPECT_EQ(
      parsed.value("vtsync_api_request_duration_seconds_bucket", {{"operation", "query"}, {"le", "0.25"}}),
      1.0);

  m.records_pulled("Contacts").inc(7);
  m.records_pushed("Contacts", "create").inc();
  m.api_requests("query").inc(3);
  m.relogins().inc();
  m.push_failures("Accounts").inc();
  m.outbox_pending().set(5);
  m.last_success_timestamp("Contacts").set_to_current_time();
  m.cycle_duration("Contacts").observe(0.3);
  parsed = prom::parse(m.render());
  EXPECT_EQ(parsed.value("vtsync_records_pulled_total", {{"module", "Contacts"}}), 7.0);
  EXPECT_EQ(parsed.value("vtsync_records_pushed_total", {{"module", "Contacts"}, {"op", "create"}}), 1.0);
  EXPECT_EQ(parsed.value("vtsync_api_requests_total", {{"operation", "query"}}), 3.0);
  EXPECT_EQ(parsed.value("vtsync_relogins_total"), 1.0);
  EXPECT_EQ(parsed.value("vtsync_push_failures_total", {{"module", "Accounts"}}), 1.0);
  EXPECT_EQ(parsed.value("vtsync_outbox_pending"), 5.0);
  EXPECT_GT(parsed.value("vtsync_last_success_timestamp_seconds", {{"module", "Contacts"}}).value_or(0),
            1.6e9);
  EXPECT_EQ(parsed.value("vtsync_cycle_duration_seconds_bucket", {{"module", "Contacts"}, {"le", "0.25"}}),
            0.0);
  EXPECT_EQ(parsed.value("vtsync_cycle_duration_seconds_bucket", {{"module", "Contacts"}, {"le", "0.5"}}),
            1.0);
  EXPECT_EQ(parsed.value("vtsync_cycle_duration_seconds_count", {{"module", "Contacts"}}), 1.0);
}

TEST(metrics, concurrent_writers_and_a_reader_agree) {
  metrics m;
  constexpr int per_thread = 20000;
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        m.api_requests("query").inc();
        m.cycle_duration("Leads").observe(0.02);
      }
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < 50; ++i) prom::parse(m.render());  // throws (and fails) on a torn histogram
  });
  for (auto& w : writers) w.join();
  reader.join();
  auto parsed = prom::parse(m.render());
  EXPECT_EQ(parsed.value("vtsync_api_requests_total", {{"operation", "query"}}), 2.0 * per_thread);
  EXPECT_EQ(parsed.value("vtsync_cycle_duration_seconds_count", {{"module", "Leads"}}), 2.0 * per_thread);
}

TEST(prometheus_parser, rejects_what_the_daemon_must_never_serve) {
  // The checker itself must be able to fail, or the /metrics tests prove nothing.
  EXPECT_THROW(prom::parse("x_total 1\n"), std::runtime_error);                          // no HELP/TYPE
  EXPECT_THROW(prom::parse("# HELP x c\n# TYPE x counter\nx 1\n"), std::runtime_error);  // no _total
  EXPECT_THROW(prom::parse("# HELP g g\n# TYPE g gauge\ng{a=\"\\q\"} 1\n"),
               std::runtime_error);  // bad escape
  EXPECT_THROW(prom::parse("# HELP g g\n# TYPE g gauge\ng{a=\"1\",} 1\n"), std::runtime_error);
  EXPECT_THROW(prom::parse("# HELP g g\n# TYPE g gauge\ng 1"), std::runtime_error);  // no final newline
  EXPECT_THROW(prom::parse("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                           "h_sum 1\nh_count 1\n"),
               std::runtime_error);  // not cumulative
  EXPECT_THROW(prom::parse("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"),
               std::runtime_error);  // +Inf != count
  EXPECT_NO_THROW(
      prom::parse("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 3\n"));
}

}  // namespace
}  // namespace vtsync::daemon

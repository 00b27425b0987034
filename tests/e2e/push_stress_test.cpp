// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. The push under load, end to end: a real vtsyncd
// (poll_interval 1s, so the pull keeps bringing the records the push is creating) while four connections
// insert 2,000 rows and update 2,000 times, CRM users edit and mass-update in Vtiger, and some creates are
// answered late (the record exists in Vtiger, and the pull sees it, before the push has its id). At the end:
// nothing duplicated in Vtiger, no doubled mirror row, nothing lost, every row synced, and each row's last
// local update is what Vtiger holds. Prints the figures (wall time, counts).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int writers = 4;
constexpr int rows_per_writer = 500;  // 2,000 inserts
constexpr int batch = 10;             // rows per INSERT statement
constexpr int update_lag = 3;         // a batch is updated three batches after its insert
constexpr int revise_every = 4;       // every 4th batch is updated only once pushed (revises, not folds)

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

}  // namespace

TEST(PushStressE2e, ConcurrentLocalWritesAndVtigerEditsArriveExactlyOnce) {
  const auto started = std::chrono::steady_clock::now();
  vt::daemon_options o;
  // Every 400th create is answered 1.2 s late: the pull (every second) stores the record before the push
  // gets its id, and the write-back has to merge the pull's row.
  o.fake_args = {"--fault", "create:delay=1200:every=400"};
  o.poll_interval = "1s";
  vt::daemon_fixture f{o};
  const std::string table = "\"" + f.schema() + "\".contacts";
  ASSERT_TRUE(vt::wait_until([&] { return f.mirror_rows("Contacts") == 0; }, vt::scaled(30s)))
      << f.daemon().log();

  // The last title each row was given locally (rows are owned by one writer each).
  std::mutex m;
  std::map<std::string, std::string> last_title;  // lastname -> title
  std::atomic<int> updates{0}, statements{0};
  std::atomic<bool> writing{true};
  std::vector<std::string> failures;
  const auto fail = [&](const std::string& what) {
    std::lock_guard lock{m};
    failures.push_back(what);
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        auto conn = vt::connect_blocking();
        const auto name = [&](int i) { return "Stress" + std::to_string(w) + "-" + std::to_string(i); };
        const auto update_batch = [&](int b) {
          std::string names;
          for (int i = b * batch; i < (b + 1) * batch; ++i)
            names += (names.empty() ? "'" : ", '") + name(i) + "'";
          if (b % revise_every == 0) {
            // This batch's update goes out as revises: wait until its creates are written back.
            const std::string pushed = "SELECT count(*) FROM " + table + " WHERE vtiger_id IS NOT NULL AND " +
                                       "lastname IN (" + names + ")";
            if (!vt::wait_until([&] { return vt::exec_scalar(conn.get(), pushed) == std::to_string(batch); },
                                vt::scaled(60s)))
              throw std::runtime_error("batch " + std::to_string(b) + " of writer " + std::to_string(w) +
                                       " was never pushed");
          }
          const std::string title = "U" + std::to_string(w) + "-" + std::to_string(b);
          vt::exec_scalar(conn.get(), "UPDATE " + table + " SET title = '" + title + "' WHERE lastname IN (" +
                                          names + ")");
          updates += batch;
          ++statements;
          std::lock_guard lock{m};
          for (int i = b * batch; i < (b + 1) * batch; ++i) last_title[name(i)] = title;
        };
        const int batches = rows_per_writer / batch;
        for (int b = 0; b < batches; ++b) {
          std::string values;
          for (int i = b * batch; i < (b + 1) * batch; ++i)
            values += (values.empty() ? "" : ", ") + std::string{"('W"} + std::to_string(w) + "', '" +
                      name(i) + "', 'I" + std::to_string(b) + "')";
          vt::exec_scalar(conn.get(),
                          "INSERT INTO " + table + " (firstname, lastname, title) VALUES " + values);
          ++statements;
          {
            std::lock_guard lock{m};
            for (int i = b * batch; i < (b + 1) * batch; ++i) last_title[name(i)] = "I" + std::to_string(b);
          }
          if (b >= update_lag) update_batch(b - update_lag);
        }
        for (int b = batches - update_lag; b < batches; ++b) update_batch(b);
      } catch (const std::exception& e) {
        fail(std::string{"writer: "} + e.what());
      }
    });
  }

  // CRM users at work meanwhile: single edits of records the push made, and mass updates, of fields the
  // local writers do not touch (both sides' changes must survive).
  std::atomic<int> remote_edits{0}, mass_updates{0};
  std::thread crm([&] {
    try {
      auto conn = vt::connect_blocking();
      int k = 0;
      while (writing) {
        const auto id =
            vt::exec_scalar(conn.get(), "SELECT vtiger_id FROM " + table +
                                            " WHERE vtiger_id IS NOT NULL ORDER BY random() LIMIT 1");
        if (!id.empty()) {
          vt::fake_post(f.fake().port(), "/_fake/edit",
                        {{"id", id}, {"fields", {{"department", "CRM" + std::to_string(k)}}}});
          ++remote_edits;
        }
        if (++k % 25 == 0) {
          vt::fake_post(
              f.fake().port(), "/_fake/mass-update",
              {{"module", "Contacts"}, {"count", 300}, {"fields", {{"mobile", "555-" + std::to_string(k)}}}});
          ++mass_updates;
        }
        std::this_thread::sleep_for(20ms);  // pacing the CRM users, not ordering anything
      }
    } catch (const std::exception& e) {
      fail(std::string{"crm: "} + e.what());
    }
  });
  for (auto& t : threads) t.join();
  const auto written = std::chrono::steady_clock::now();
  writing = false;
  crm.join();
  ASSERT_TRUE(failures.empty()) << join(failures);

  auto check = vt::connect_blocking();
  const std::string outbox_open =
      "SELECT count(*) FROM vtsync.outbox WHERE schema_name = '" + f.schema() + "' AND state <> 'done'";
  const bool settled = vt::wait_until(
      [&] {
        return vt::exec_scalar(check.get(), outbox_open) == "0" &&
               vt::exec_scalar(check.get(),
                               "SELECT count(*) FROM " + table + " WHERE _sync_state <> 'synced'") == "0" &&
               f.differences("Contacts").empty();
      },
      vt::scaled(90s));
  const auto ended = std::chrono::steady_clock::now();
  ASSERT_TRUE(settled) << "not settled: " << vt::exec_scalar(check.get(), outbox_open) << " entries open\n"
                       << join(f.differences("Contacts"));

  const auto dump = vt::fake_dump(f.fake().port(), "Contacts");
  std::map<std::string, int> records_per_name;
  std::map<std::string, std::string> remote_title;
  for (const auto& r : dump) {
    const auto lastname = r.value("lastname", std::string{});
    ++records_per_name[lastname];
    remote_title[lastname] = r.value("title", std::string{});
  }
  int duplicated = 0, lost = 0, wrong = 0;
  for (const auto& [lastname, title] : last_title) {
    const auto n = records_per_name[lastname];
    if (n == 0) ++lost;
    if (n > 1) duplicated += n - 1;
    if (n > 0 && remote_title[lastname] != title && ++wrong <= 5) {
      const auto row = vt::exec_scalar(check.get(), "SELECT _row_id || ' ' || vtiger_id FROM " + table +
                                                        " WHERE lastname = '" + lastname + "'");
      ADD_FAILURE() << lastname << ": last local title " << title << ", Vtiger has " << remote_title[lastname]
                    << "; row " << row << "; its entries: "
                    << vt::exec_scalar(
                           check.get(),
                           "SELECT string_agg(id || ':' || op || ':' || state || ':' || attempts || ':' "
                           "|| coalesce(new_values::text, '') || ':' || coalesce(error, ''), ' | ' "
                           "ORDER BY id) FROM vtsync.outbox WHERE schema_name = '" +
                               f.schema() + "' AND row_id = " + row.substr(0, row.find(' ')))
                    << "; conflicts: "
                    << vt::exec_scalar(
                           check.get(),
                           "SELECT string_agg(field || ':' || coalesce(local_value, '') || ':' || "
                           "coalesce(remote_value, '') || ':' || decision, ' | ') FROM "
                           "vtsync.conflicts WHERE vtiger_id = '" +
                               row.substr(row.find(' ') + 1) + "' AND schema_name = '" + f.schema() + "'");
    }
  }
  EXPECT_EQ(last_title.size(), static_cast<std::size_t>(writers * rows_per_writer));
  EXPECT_EQ(dump.size(), static_cast<std::size_t>(writers * rows_per_writer));
  EXPECT_EQ(duplicated, 0) << "records duplicated in Vtiger";
  EXPECT_EQ(lost, 0) << "rows that never reached Vtiger";
  EXPECT_EQ(wrong, 0) << "records whose title is not the row's last local update";
  EXPECT_EQ(updates.load(), writers * rows_per_writer);

  EXPECT_EQ(vt::exec_scalar(check.get(), "SELECT count(*) FROM " + table),
            std::to_string(writers * rows_per_writer));
  EXPECT_EQ(vt::exec_scalar(check.get(), "SELECT count(DISTINCT vtiger_id) FROM " + table),
            std::to_string(writers * rows_per_writer))
      << "doubled mirror rows, or rows without their record";
  EXPECT_EQ(vt::exec_scalar(check.get(), "SELECT count(DISTINCT lastname) FROM " + table),
            std::to_string(writers * rows_per_writer));
  EXPECT_EQ(vt::exec_scalar(check.get(), "SELECT count(*) FROM " + table + " WHERE _sync_state <> 'synced'"),
            "0");
  int mirror_wrong = 0;
  {
    std::lock_guard lock{m};
    const auto rows = vt::exec_scalar(
        check.get(),
        "SELECT coalesce(string_agg(lastname || '=' || coalesce(title, ''), ',' ORDER BY lastname), "
        "'') FROM " +
            table);
    std::size_t start = 0;
    while (start < rows.size()) {
      auto end = rows.find(',', start);
      if (end == std::string::npos) end = rows.size();
      const auto pair = rows.substr(start, end - start);
      const auto eq = pair.find('=');
      if (last_title[pair.substr(0, eq)] != pair.substr(eq + 1)) ++mirror_wrong;
      start = end + 1;
    }
  }
  EXPECT_EQ(mirror_wrong, 0) << "mirror rows whose title is not their last local update";
  const auto diffs = f.differences("Contacts");
  EXPECT_TRUE(diffs.empty()) << join(diffs);
  if (const char* log_file = std::getenv("VTSYNC_STRESS_DAEMON_LOG"))
    std::ofstream(log_file) << f.daemon().log();

  const auto stats = vt::fake_stats(f.fake().port());
  const auto& req = stats["requests"];
  const auto ms = [](auto a, auto b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  };
  std::printf(
      "push stress: %d inserts + %d updates from %d connections (%d statements); %d CRM edits, %d mass "
      "updates; %zu records in Vtiger, %d duplicated, %d lost\n"
      "  Vtiger requests: create %llu, revise %llu, retrieve %llu, query %llu, delayed creates %llu\n"
      "  wall: writes %lld ms, settled %lld ms after, whole test %lld ms\n",
      writers * rows_per_writer, updates.load(), writers, statements.load(), remote_edits.load(),
      mass_updates.load(), dump.size(), duplicated, lost,
      static_cast<unsigned long long>(req.value("create", 0ULL)),
      static_cast<unsigned long long>(req.value("revise", 0ULL)),
      static_cast<unsigned long long>(req.value("retrieve", 0ULL)),
      static_cast<unsigned long long>(req.value("query", 0ULL)),
      static_cast<unsigned long long>(stats["faults"].value("delay", 0ULL)),
      static_cast<long long>(ms(started, written)), static_cast<long long>(ms(written, ended)),
      static_cast<long long>(ms(started, ended)));
  EXPECT_EQ(req.value("create", 0ULL), static_cast<unsigned long long>(writers * rows_per_writer))
      << "creates sent more than once";
  EXPECT_GT(req.value("revise", 0ULL), 0ULL);
  EXPECT_GT(remote_edits.load(), 0);
  EXPECT_GT(mass_updates.load(), 0);
}

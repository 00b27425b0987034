// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. High availability end to end: three `vtsyncd run`
// on one configuration file (health.listen = 127.0.0.1:0, so each picks its own free port and logs it),
// the active one SIGKILLed again and again while changes flow on both sides; the mirror ends exact, every
// local change arrives once, and the fake's request log shows one client at a time per module.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"
#include "request_log.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

constexpr const char* idem = "cf_901";

struct node {
  std::unique_ptr<vt::child_process> proc;
  unsigned short port = 0;
};

node start(const std::string& config) {
  node d;
  d.proc = std::make_unique<vt::child_process>(vt::binary_path("vtsyncd"),
                                               std::vector<std::string>{"run", "--config", config});
  d.proc->wait_for_log("health endpoint listening on ", vt::scaled(30s));
  static const std::regex port_re{R"(health endpoint listening on [0-9.]+:(\d+))"};
  std::smatch m;
  const auto log = d.proc->log();
  if (std::regex_search(log, m, port_re)) d.port = static_cast<unsigned short>(std::stoi(m[1].str()));
  return d;
}

json get_json(unsigned short port, const std::string& path) {
  try {
    const auto r = vt::http_request(port, "GET", path);
    return json::parse(r.body);
  } catch (const std::exception&) {
    return json{};
  }
}

// Index of the daemon whose /status says it holds `lease`, -1 when none does (yet).
int holder_of(std::vector<node>& ds, const std::string& lease) {
  for (std::size_t i = 0; i < ds.size(); ++i) {
    if (!ds[i].proc || !ds[i].proc->running()) continue;
    const auto s = get_json(ds[i].port, "/status");
    if (s.contains("leases") && s["leases"].contains(lease) && s["leases"][lease].value("mine", false))
      return static_cast<int>(i);
  }
  return -1;
}

std::string sql(PGconn* c, const std::string& q) { return vt::exec_scalar(c, q); }

}  // namespace

TEST(HaE2e, ThreeDaemonsOneWorksKilledFiveTimesNothingLostOrDoubled) {
  vt::temp_dir dir;
  const std::string log_path = (dir.path() / "requests.jsonl").string();
  // Every other create stalls 800 ms before it is done: kills land while a create is in flight (done in
  // Vtiger, not yet recorded), which the next holder must find through the idempotency field, not redo.
  vt::fake_vtiger fake{{"--seed", "Contacts=60", "--seed", "Accounts=20", "--idempotency-field", idem,
                        "--access-key", "e2e-ACCESS-KEY-7f3a9c", "--request-log", log_path, "--fault",
                        "create:delay=800:every=2"}};
  const auto schema = vt::unique_schema("ha");
  vt::config_params p;
  p.vtiger_url = fake.url();
  p.schema = schema;
  p.modules = {"Contacts", "Accounts"};
  // One Vtiger session per daemon for the push: the exclusivity check below tells daemons apart by their
  // sessions (the push's parallel sessions of one daemon are tested in tests/push/push_bulk_test.cpp).
  p.extra_sync =
      "poll_interval = \"1s\"\nidempotency_field = \"cf_901\"\ndefault_assigned_user_id = \"19x1\"\n"
      "max_in_flight_requests = 1\n";
  const auto config = vt::write_config(dir, p);
  auto conn = vt::connect_blocking();
  const std::string contacts = "\"" + schema + "\".contacts";

  std::vector<node> ds;
  for (int i = 0; i < 3; ++i) ds.push_back(start(config));
  ASSERT_TRUE(vt::wait_until(
      [&] {
        try {
          return sql(conn.get(), "SELECT count(*) FROM " + contacts + " WHERE vtiger_id IS NOT NULL") == "60";
        } catch (const std::exception&) {
          return false;
        }
      },
      vt::scaled(60s)));
  // Exactly one daemon is active for each lease; the others are ready standbys.
  ASSERT_TRUE(vt::wait_until([&] { return holder_of(ds, "push") >= 0; }, vt::scaled(30s)));
  // Every daemon, active or standby, becomes ready (a standby: once it has seen every lease taken).
  for (auto& d : ds) {
    vt::http_response r;
    EXPECT_TRUE(vt::wait_until(
        [&] {
          r = vt::http_request(d.port, "GET", "/readyz");
          return r.status == 200;
        },
        vt::scaled(30s)))
        << r.body;
  }
  json status;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        status = get_json(ds[0].port, "/status");
        return status["leases"]["pull:Contacts"]["holder"].is_string();
      },
      vt::scaled(30s)))
      << status.dump();

  const auto dump = vt::fake_dump(fake.port(), "Contacts");
  std::vector<std::string> ids;
  for (const auto& r : dump) ids.push_back(r["id"].get<std::string>());
  std::sort(ids.begin(), ids.end());
  ASSERT_GE(ids.size(), 60u);

  std::vector<std::int64_t> kills;
  std::vector<std::string> inserted;                // lastnames of local inserts
  std::map<std::string, std::string> local_title;   // vtiger_id -> title set locally
  std::map<std::string, std::string> remote_title;  // vtiger_id -> title set in Vtiger
  int change = 0;
  auto changes = [&](int round) {
    for (int i = 0; i < 3; ++i, ++change) {
      // Disjoint records: ids[0..29] are edited locally, ids[30..59] remotely.
      const auto& lid = ids[static_cast<std::size_t>(change % 30)];
      const std::string lt = "local-" + std::to_string(round) + "-" + std::to_string(change);
      sql(conn.get(), "UPDATE " + contacts + " SET title = '" + lt + "' WHERE vtiger_id = '" + lid + "'");
      local_title[lid] = lt;
      const auto& rid = ids[static_cast<std::size_t>(30 + change % 30)];
      const std::string rt = "remote-" + std::to_string(round) + "-" + std::to_string(change);
      vt::fake_post(fake.port(), "/_fake/edit", {{"id", rid}, {"fields", {{"title", rt}}}});
      remote_title[rid] = rt;
      const std::string ln = "HaInsert" + std::to_string(change);
      sql(conn.get(), "INSERT INTO " + contacts + " (firstname, lastname) VALUES ('F', '" + ln + "')");
      inserted.push_back(ln);
    }
  };

  for (int round = 0; round < 5; ++round) {
    changes(round);
    std::this_thread::sleep_for(vt::scaled(700ms));
    int victim = -1;
    ASSERT_TRUE(
        vt::wait_until([&] { return (victim = holder_of(ds, "pull:Contacts")) >= 0; }, vt::scaled(30s)));
    kills.push_back(vt::unix_ms_now());
    ds[static_cast<std::size_t>(victim)].proc->signal(SIGKILL);
    (void)ds[static_cast<std::size_t>(victim)].proc->wait_exit(vt::scaled(10s));
    changes(round);  // while the others take over
    // Another daemon takes the module over (within two poll intervals; asserted generously here).
    ASSERT_TRUE(vt::wait_until(
        [&] {
          const int h = holder_of(ds, "pull:Contacts");
          return h >= 0 && h != victim;
        },
        vt::scaled(20s)))
        << "no takeover after kill " << round;
    ds[static_cast<std::size_t>(victim)] = start(config);  // the killed one comes back as a standby
  }

  // Everything converges: the outbox is drained, both sides agree.
  const std::string state = "vtsync";
  ASSERT_TRUE(vt::wait_until(
      [&] {
        return sql(conn.get(), "SELECT count(*) FROM " + state + ".outbox WHERE schema_name = '" + schema +
                                   "' AND state <> 'done'") == "0";
      },
      vt::scaled(90s)))
      << sql(conn.get(), "SELECT string_agg(op || ':' || state || ':' || coalesce(error, ''), ', ') FROM " +
                             state + ".outbox WHERE schema_name = '" + schema + "' AND state <> 'done'");
  std::vector<std::string> diffs;
  ASSERT_TRUE(vt::wait_until(
      [&] {
        diffs =
            vt::mirror_differences(conn.get(), schema, "contacts", vt::fake_dump(fake.port(), "Contacts"));
        return diffs.empty();
      },
      vt::scaled(60s)))
      << join(diffs);
  ASSERT_TRUE(vt::wait_until(
      [&] {
        diffs =
            vt::mirror_differences(conn.get(), schema, "accounts", vt::fake_dump(fake.port(), "Accounts"));
        return diffs.empty();
      },
      vt::scaled(30s)))
      << join(diffs);

  // Every local change arrived, each insert exactly once; remote edits arrived.
  const auto final_dump = vt::fake_dump(fake.port(), "Contacts");
  std::map<std::string, int> by_lastname;
  std::map<std::string, std::string> title_of;
  for (const auto& r : final_dump) {
    by_lastname[r.value("lastname", "")]++;
    title_of[r["id"].get<std::string>()] = r.value("title", "");
  }
  for (const auto& ln : inserted) EXPECT_EQ(by_lastname[ln], 1) << ln;
  for (const auto& [id, t] : local_title) EXPECT_EQ(title_of[id], t) << id;
  for (const auto& [id, t] : remote_title) {
    EXPECT_EQ(title_of[id], t) << id;
    EXPECT_EQ(sql(conn.get(), "SELECT title FROM " + contacts + " WHERE vtiger_id = '" + id + "'"), t);
  }

  // One client at a time per module, from the fake's point of view.
  for (auto& d : ds) d.proc->stop(15, vt::scaled(15s));
  const auto log = vt::read_request_log(log_path);
  for (const std::string module : {"Contacts", "Accounts"}) {
    const auto pulls = vt::pull_requests(log, module, idem);
    EXPECT_GT(pulls.size(), 5u) << module;
    EXPECT_EQ(vt::exclusivity_violations(pulls, kills), std::vector<std::string>{}) << "pull of " << module;
    EXPECT_EQ(vt::exclusivity_violations(vt::write_requests(log, module), kills), std::vector<std::string>{})
        << "writes of " << module;
  }
  std::size_t creates = 0, lookups = 0;
  for (const auto& r : log) {
    creates += r.operation == "create" ? 1 : 0;
    lookups += r.operation == "query" && r.query.find(idem) != std::string::npos ? 1 : 0;
  }
  std::printf("local inserts=%zu, creates sent=%zu, lookups by %s=%zu\n", inserted.size(), creates, idem,
              lookups);
  auto times = vt::failover_times(vt::pull_requests(log, "Contacts", idem), kills);
  ASSERT_FALSE(times.empty());
  std::sort(times.begin(), times.end());
  std::printf("failover_ms p50=%lld max=%lld (n=%zu, poll_interval=1s)\n",
              static_cast<long long>(times[times.size() / 2]), static_cast<long long>(times.back()),
              times.size());
  // Designed for within two poll intervals (2 s here); asserted loosely, the machine may be loaded.
  EXPECT_LE(times.back(), vt::scaled(8000ms).count());
  try {
    sql(conn.get(), "DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  } catch (...) {
  }
}

#ifdef VTSYNC_FAILOVER_BENCH
// The failover time alone, built only into the benchmark binary vtsync_ha_failover_bench (bench/failover.sh
// runs it; ctest never does): kill -9 the holder VTSYNC_FAILOVER_KILLS times (default 10) and print kill ->
// first pull request of the new holder, from the request log.
TEST(HaE2e, FailoverTime) {
  const char* kills_env = std::getenv("VTSYNC_FAILOVER_KILLS");
  const int rounds = std::max(1, kills_env != nullptr ? std::atoi(kills_env) : 10);
  const char* poll_env = std::getenv("VTSYNC_FAILOVER_POLL");
  const std::string poll = poll_env != nullptr ? poll_env : "1s";
  vt::temp_dir dir;
  const std::string log_path = (dir.path() / "requests.jsonl").string();
  vt::fake_vtiger fake{
      {"--seed", "Contacts=50", "--access-key", "e2e-ACCESS-KEY-7f3a9c", "--request-log", log_path}};
  const auto schema = vt::unique_schema("hab");
  vt::config_params p;
  p.vtiger_url = fake.url();
  p.schema = schema;
  p.modules = {"Contacts"};
  p.extra_sync = "poll_interval = \"" + poll + "\"\n";
  p.log = "level = \"info\"\n";
  const auto config = vt::write_config(dir, p);
  std::vector<node> ds;
  for (int i = 0; i < 3; ++i) ds.push_back(start(config));
  std::vector<std::int64_t> kills;
  for (int round = 0; round < rounds; ++round) {
    int victim = -1;
    ASSERT_TRUE(
        vt::wait_until([&] { return (victim = holder_of(ds, "pull:Contacts")) >= 0; }, vt::scaled(60s)));
    // Let the holder settle into its poll rhythm (kills land at random points of the cycle).
    std::this_thread::sleep_for(std::chrono::milliseconds{1200 + 317 * (round % 5)});
    victim = holder_of(ds, "pull:Contacts");
    if (victim < 0) continue;
    kills.push_back(vt::unix_ms_now());
    ds[static_cast<std::size_t>(victim)].proc->signal(SIGKILL);
    (void)ds[static_cast<std::size_t>(victim)].proc->wait_exit(vt::scaled(10s));
    ASSERT_TRUE(vt::wait_until(
        [&] {
          const int h = holder_of(ds, "pull:Contacts");
          return h >= 0 && h != victim;
        },
        vt::scaled(30s)));
    ds[static_cast<std::size_t>(victim)] = start(config);
  }
  std::this_thread::sleep_for(vt::scaled(3s));
  for (auto& d : ds) d.proc->stop(15, vt::scaled(15s));
  auto times = vt::failover_times(vt::pull_requests(vt::read_request_log(log_path), "Contacts", ""), kills);
  ASSERT_FALSE(times.empty());
  std::sort(times.begin(), times.end());
  std::printf("failover_ms p50=%lld max=%lld (n=%zu, poll_interval=%s)\n",
              static_cast<long long>(times[times.size() / 2]), static_cast<long long>(times.back()),
              times.size(), poll.c_str());
  auto conn = vt::connect_blocking();
  try {
    sql(conn.get(), "DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  } catch (...) {
  }
}
#endif  // VTSYNC_FAILOVER_BENCH

// Two Vtiger instances (two fakes) into two schemas from one configuration file, one daemon: both exact,
// and a local change in each schema goes to its own Vtiger only.
TEST(HaE2e, TwoInstancesIntoTwoSchemasFromOneConfiguration) {
  vt::temp_dir dir;
  vt::fake_vtiger eu{{"--seed", "Contacts=40", "--access-key", "eu-ACCESS-KEY-1111"}};
  vt::fake_vtiger us{
      {"--seed", "Contacts=25", "--seed", "Accounts=10", "--access-key", "us-ACCESS-KEY-2222"}};
  const auto s_eu = vt::unique_schema("ha_eu");
  const auto s_us = vt::unique_schema("ha_us");
  const auto key_eu = dir.write("eu.key", "eu-ACCESS-KEY-1111\n");
  const auto key_us = dir.write("us.key", "us-ACCESS-KEY-2222\n");
  const std::string text = "[postgres]\nconninfo = \"" + vt::postgres_conninfo() +
                           "\"\n\n[sync]\nmodules = [\"Contacts\"]\npoll_interval = \"1s\"\n"
                           "default_assigned_user_id = \"19x1\"\n\n[health]\nlisten = \"127.0.0.1:0\"\n\n"
                           "[log]\nlevel = \"debug\"\n\n"
                           "[[vtiger]]\nname = \"eu\"\nurl = \"" +
                           eu.url() +
                           "\"\nusername = \"admin\"\n"
                           "access_key_file = \"" +
                           key_eu + "\"\nschema = \"" + s_eu +
                           "\"\n\n"
                           "[[vtiger]]\nname = \"us\"\nurl = \"" +
                           us.url() +
                           "\"\nusername = \"admin\"\n"
                           "access_key_file = \"" +
                           key_us + "\"\nschema = \"" + s_us +
                           "\"\n"
                           "modules = [\"Contacts\", \"Accounts\"]\n";
  const auto config = dir.write("multi.toml", text);
  auto d = start(config);
  auto conn = vt::connect_blocking();
  auto exact = [&](const vt::fake_vtiger& f, const std::string& schema, const std::string& module) {
    std::string table = module;
    for (auto& c : table) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::vector<std::string> diffs;
    const bool ok = vt::wait_until(
        [&] {
          try {
            diffs = vt::mirror_differences(conn.get(), schema, table, vt::fake_dump(f.port(), module));
          } catch (const std::exception& e) {
            diffs = {e.what()};
          }
          return diffs.empty();
        },
        vt::scaled(60s));
    return ok ? std::string{} : join(diffs);
  };
  EXPECT_EQ(exact(eu, s_eu, "Contacts"), "");
  EXPECT_EQ(exact(us, s_us, "Contacts"), "");
  EXPECT_EQ(exact(us, s_us, "Accounts"), "");
  EXPECT_EQ(vt::fake_dump(eu.port(), "Contacts").size(), 40u);
  // Local inserts go to their own instance.
  sql(conn.get(), "INSERT INTO \"" + s_eu + "\".contacts (firstname, lastname) VALUES ('F', 'OnlyEu')");
  sql(conn.get(), "INSERT INTO \"" + s_us + "\".contacts (firstname, lastname) VALUES ('F', 'OnlyUs')");
  auto has = [](const vt::fake_vtiger& f, const std::string& ln) {
    int n = 0;
    for (const auto& r : vt::fake_dump(f.port(), "Contacts")) n += r.value("lastname", "") == ln ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(
      vt::wait_until([&] { return has(eu, "OnlyEu") == 1 && has(us, "OnlyUs") == 1; }, vt::scaled(30s)));
  EXPECT_EQ(has(eu, "OnlyUs"), 0);
  EXPECT_EQ(has(us, "OnlyEu"), 0);
  EXPECT_EQ(exact(eu, s_eu, "Contacts"), "");
  EXPECT_EQ(exact(us, s_us, "Contacts"), "");
  // /status names both instances' modules and leases.
  const auto status = get_json(d.port, "/status");
  EXPECT_TRUE(status["modules"].contains("eu/Contacts")) << status.dump();
  EXPECT_TRUE(status["modules"].contains("us/Accounts")) << status.dump();
  EXPECT_TRUE(status["leases"].contains("push:us")) << status.dump();
  EXPECT_EQ(status.value("role", ""), "active");
  d.proc->stop(15, vt::scaled(15s));
  const auto cli = vt::run_vtsyncd({"status", "--json", "--config", config}, vt::scaled(60s));
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("us/Accounts"), std::string::npos) << cli.output;
  for (const auto& s : {s_eu, s_us}) {
    try {
      sql(conn.get(), "DROP SCHEMA IF EXISTS \"" + s + "\" CASCADE");
    } catch (...) {
    }
  }
}

// The request-log oracle itself: it must see two clients working one module at once.
TEST(HaRequestLog, ExclusivityCheckerCatchesOverlapAndInterleaving) {
  auto req = [](std::int64_t s, std::int64_t e, const std::string& session) {
    vt::logged_request r;
    r.start_ms = s;
    r.end_ms = e;
    r.operation = "query";
    r.module = "Contacts";
    r.session = session;
    return r;
  };
  // A then B, cleanly: fine.
  EXPECT_TRUE(vt::exclusivity_violations({req(0, 10, "A"), req(20, 30, "A"), req(40, 50, "B")}, {}).empty());
  // Interleaved: A works again after B began.
  EXPECT_EQ(vt::exclusivity_violations({req(0, 10, "A"), req(40, 50, "B"), req(60, 70, "A")}, {}).size(), 1u);
  // A's last request still running as B starts: only fine when A was killed in between.
  const std::vector<vt::logged_request> overlap{req(0, 10, "A"), req(20, 100, "A"), req(50, 60, "B")};
  EXPECT_EQ(vt::exclusivity_violations(overlap, {}).size(), 1u);
  EXPECT_TRUE(vt::exclusivity_violations(overlap, {30}).empty());
  // Failover time: kill at 30, B's first request at 50.
  EXPECT_EQ(vt::failover_times(overlap, {30}), std::vector<std::int64_t>{20});
}

// fake-vtiger: a stand-in for a Vtiger CRM 8.2 web-service endpoint, for tests, the demo and benchmarks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "fake_vtiger/server.hpp"
#include "fake_vtiger/service.hpp"

int main(int argc, char** argv) {
  using namespace vtsync::fake;
  CLI::App app{
      "fake-vtiger: serves /webservice.php like a Vtiger CRM 8.2 (users admin 19x1 and jdoe 19x5; modules "
      "Contacts, Accounts, Leads, Potentials, HelpDesk) plus test-only endpoints: GET /_fake/stats, GET "
      "/_fake/dump?module=M, GET|POST /_fake/clock {\"advance_seconds\":N}, POST /_fake/expire-sessions, "
      "POST "
      "/_fake/edit {\"id\",\"fields\",\"modifiedby\"?,\"converted\"?}, POST /_fake/delete {\"id\"}, POST /_fake/add-field {\"module\",\"field\"}, POST "
      "/_fake/mass-update {\"module\",\"count\",\"fields\"}, POST /_fake/reset."};
  std::string listen;
  service_options so;
  server_options srv;
  std::vector<std::string> seeds;
  std::vector<std::string> faults;
  std::string sync = "php8-stock";
  std::string count = "8.2";
  std::string zone = "UTC";
  app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free one")->required();
  app.add_option("--access-key", so.access_key, "admin's access key (default fakeAdminKey0001)");
  app.add_option("--jdoe-access-key", so.jdoe_access_key, "jdoe's access key (default fakeJdoeKey00002)");
  app.add_option("--seed", seeds, "MODULE=N: N generated records in MODULE (repeatable)");
  app.add_option("--session-ttl", so.session_ttl, "idle seconds before a session dies (default 1440)");
  app.add_option("--latency-ms", srv.latency_ms,
                 "added to every web-service request, inside the session lock");
  app.add_option(
      "--fault", faults,
      "OPERATION:KIND[:every=N|:prob=P][:seed=S][:after=K] (repeatable). OPERATION is a web-service "
      "operation or *; KIND is http500 (empty 500), html (200 text/html page), truncated (body cut "
      "in half, connection closed), invalid_session (INVALID_SESSIONID and the session is gone), "
      "delay=MS (stall, then answer), reset (TCP RST, no answer), drop_reply (do the work, close "
      "without answering). Without every/prob it fires on every call. E.g. query:http500:every=7, "
      "'*:invalid_session:prob=0.05:seed=42', query:delay=3000:every=5");
  app.add_option("--sync-mode", sync,
                 "php8-stock (sync and logout: HTTP 500), php7 (user-only sync), patched "
                 "(syncType honoured)")
      ->check(CLI::IsMember({"php8-stock", "php7", "patched"}));
  app.add_option("--count-mode", count, "8.2: count(*) gives [{\"count\":\"N\"}]; 8.4: []")
      ->check(CLI::IsMember({"8.2", "8.4"}));
  app.add_option("--server-tz", zone, "the CRM's time zone for createdtime/modifiedtime (default UTC)");
  app.add_option("--idempotency-field", so.idempotency_field,
                 "adds this custom string field to every module");
  app.add_option("--tls-cert", srv.tls_cert, "PEM certificate (with --tls-key: serve HTTPS)");
  app.add_option("--tls-key", srv.tls_key, "PEM private key");
  app.add_option("--expire-sessions-every", so.expire_sessions_every,
                 "invalidate every session each N requests");
  app.add_option("--clock-offset", so.clock_offset, "seconds added to the real clock");
  app.add_option("--currency-decimals", so.currency_decimals,
                 "round currency fields written through the web service to N decimals, as the admin's "
                 "currency-decimals preference does (default: as sent)")
      ->check(CLI::Range(0, 8));
  std::string cost = "none";
  app.add_option("--cost-model", cost,
                 "vtiger-8.2: each query takes the time a real Vtiger 8.2 needs (a modifiedtime query "
                 "scans every module's records, an id keyset page is cheap, per row and per skipped row "
                 "costs; see fake_vtiger/cost_model.hpp); none (default): no added time")
      ->check(CLI::IsMember({"none", "vtiger-8.2"}));
  app.add_option("--cost-cores", so.cost_cores, "cores of the modelled server (default 2)")
      ->check(CLI::Range(1, 64));
  app.add_option("--request-log", srv.request_log,
                 "append one JSON line per web-service request to FILE (start_ms, end_ms, operation, "
                 "module, id, session, port, status)");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("--listen must be HOST:PORT");
    srv.host = listen.substr(0, colon);
    srv.port = static_cast<unsigned short>(std::stoul(listen.substr(colon + 1)));
    for (const auto& s : seeds) {
      const auto eq = s.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--seed must be MODULE=N, got " + s);
      so.seeds.emplace_back(s.substr(0, eq), std::stoull(s.substr(eq + 1)));
    }
    for (const auto& f : faults) so.faults.push_back(parse_fault(f));
    so.sync = sync == "php7"      ? sync_mode::php7
              : sync == "patched" ? sync_mode::patched
                                  : sync_mode::php8_stock;
    so.count = count == "8.4" ? count_mode::v84 : count_mode::v82;
    so.cost = parse_cost_model(cost).value_or(cost_model::none);
    // The server zone is the process zone: every timestamp is formatted and parsed with localtime.
    ::setenv("TZ", zone.c_str(), 1);
    ::tzset();
    so.zone_is_utc = zone == "UTC" || zone == "Etc/UTC" || zone == "UTC0" || zone == "GMT";
    service svc(std::move(so));
    return run_server(svc, srv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-vtiger: %s\n", e.what());
    return 2;
  }
}

// Not a test: measures how many 100-row keyset pages of full Contacts the dispatcher serves per second on
// one core (in-process, no sockets). Usage: fake_vtiger_bench [SEED_COUNT] [PAGES]
#include <openssl/evp.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "md5_hex.hpp"
#include "fake_vtiger/service.hpp"

namespace {

using fake_test_support::md5_hex;

std::string enc(const std::string& v) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vtsync::fake;
  using clock = std::chrono::steady_clock;
  const std::uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const int pages = argc > 2 ? std::atoi(argv[2]) : 2000;
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  const auto t0 = clock::now();
  service_options o;
  o.seeds = {{"Contacts", seed}};
  service svc(o);
  const auto t1 = clock::now();
  auto get = [&](const std::string& q) { return svc.handle({"GET", "/webservice.php?" + q, "", ""}); };
  const auto c = nlohmann::json::parse(get("operation=getchallenge&username=admin").body);
  const std::string token = c["result"]["token"];
  const auto l = nlohmann::json::parse(
      svc.handle({"POST", "/webservice.php",
                  "operation=login&username=admin&accessKey=" + md5_hex(token + "fakeAdminKey0001"),
                  "application/x-www-form-urlencoded"})
          .body);
  const std::string session = l["result"]["sessionName"];
  std::string t = "1970-01-01 00:00:01", id = "12x0";
  std::size_t bytes = 0, rows = 0;
  // CPU time as well as wall time: on a loaded shared machine the CPU-time rate is the one-core figure.
  auto cpu_seconds = [] {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  const double c2 = cpu_seconds();
  const auto t2 = clock::now();
  int done = 0;
  for (; done < pages; ++done) {
    const std::string q = "SELECT * FROM Contacts WHERE modifiedtime > '" + t + "' OR modifiedtime = '" + t +
                          "' AND id > '" + id + "' ORDER BY modifiedtime, id LIMIT 100;";
    const auto out = get("operation=query&sessionName=" + session + "&query=" + enc(q));
    bytes += out.body.size();
    // Cheap cursor extraction: the last row's modifiedtime and id.
    const auto mpos = out.body.rfind("\"modifiedtime\":\"");
    const auto ipos = out.body.rfind("\"id\":\"");
    if (mpos == std::string::npos || ipos == std::string::npos) break;
    t = out.body.substr(mpos + 16, 19);
    id = out.body.substr(ipos + 6, out.body.find('"', ipos + 6) - ipos - 6);
    rows += 100;
  }
  const auto t3 = clock::now();
  const double cpu = cpu_seconds() - c2;
  const double secs = std::chrono::duration<double>(t3 - t2).count();
  std::printf(
      "seed %llu: start-up %.3f s; %d pages (%zu rows, %.1f MB) in %.3f s wall = %.0f pages/s, "
      "%.3f s CPU = %.0f pages per CPU-second\n",
      static_cast<unsigned long long>(seed), std::chrono::duration<double>(t1 - t0).count(), done, rows,
      static_cast<double>(bytes) / 1e6, secs, done / secs, cpu, done / cpu);
  return 0;
}

#pragma once
// The fake Vtiger's HTTP(S) front: Beast, one coroutine per connection on one io_context, HTTP/1.1
// keep-alive, requests that share a sessionName served one at a time (as PHP's session lock does),
// --latency-ms added to every web-service request, --request-log, and the transport side of injected
// faults.
//
// Error policy: run_server throws std::runtime_error when it cannot listen or load the TLS files;
// per-connection errors end that connection only.
#include <string>

#include "fake_vtiger/service.hpp"

namespace vtsync::fake {

struct server_options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port
  int latency_ms = 0;
  std::string tls_cert;  // both set: HTTPS
  std::string tls_key;
  // Opt-in request log: one JSON line per web-service request, appended and flushed as each one ends:
  // {"start_ms","end_ms" (Unix ms), "operation", "module" (elementType, the FROM of a query, or the
  // module of the record id), "id", "session" (the sessionName: each login is one client), "port" (the
  // client's TCP port), "status", "query" (a query's text, cut at 300 characters)}. For tests that
  // check who did what, and when.
  std::string request_log;
};

// Listens, prints "fake-vtiger listening on HOST:PORT" to stdout once accepting, serves until SIGTERM
// or SIGINT, then returns 0.
int run_server(service& svc, const server_options& options);

}  // namespace vtsync::fake

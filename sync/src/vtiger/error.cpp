// error.hpp: the names of the error kinds, client_error, which Vtiger codes are session errors, and the
// exception api_result::value() throws.
#include "vtsync/sync/vtiger/error.hpp"

#include <array>
#include <cstddef>

namespace vtsync::vtiger {

namespace {

// Indexed by error_kind, in the enum's order. The names are also keys of client_stats::errors and what
// hooks.on_error reports; tests/client/protocol_test.cpp pins each one to its kind.
constexpr std::array<std::string_view, 13> kind_names{"connect",         "timeout",        "tls",
                                                      "transport",       "http_status",    "html",
                                                      "bad_json",        "body_too_large", "outcome_unknown",
                                                      "login_failed",    "unsupported",    "api",
                                                      "invalid_argument"};
static_assert(kind_names.size() == static_cast<std::size_t>(error_kind::invalid_argument) + 1,
              "kind_names must name every error_kind");

}  // namespace

std::string_view to_string(error_kind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kind_names.size() ? kind_names[i] : "unknown";
}

client_error::client_error(error_kind kind, const std::string& message, int http_status,
                           std::optional<api_error> api)
    : std::runtime_error(message),
      kind_(kind),
      cause_(kind),
      http_status_(http_status),
      api_(std::move(api)) {}

client_error client_error::outcome_unknown(const client_error& cause, std::string_view operation) {
  client_error e(error_kind::outcome_unknown,
                 std::string(operation) + " was sent but its outcome is unknown (" + cause.what() + ")",
                 cause.http_status_, cause.api_);
  e.cause_ = cause.kind_;
  return e;
}

bool client_error::transient() const {
  switch (kind_) {
    case error_kind::connect:
    case error_kind::timeout:
    case error_kind::transport:
    case error_kind::html:
    case error_kind::bad_json:
      return true;
    case error_kind::http_status:
      // 5xx is PHP dying or a proxy in trouble; 408 and 429 ask to come back later. Other 4xx are final.
      return http_status_ >= 500 || http_status_ == 408 || http_status_ == 429;
    default:
      return false;
  }
}

bool is_session_error(std::string_view code, std::string_view operation) {
  static constexpr std::array<std::string_view, 3> always{"INVALID_SESSIONID", "SESSION_EXPIRED",
                                                          "SESSION_LEFT_IDLE"};
  for (auto c : always)
    if (code == c) return true;
  // From login itself (5.4/7.1: an inactive user) it is final; anywhere else a new session fixes it.
  return code == "AUTHENTICATION_REQUIRED" && operation != "login";
}

void throw_exception_from_error(const api_error& error, const boost::source_location&) {
  throw client_error(error_kind::api, "Vtiger refused: " + error.code + ": " + error.message, 0, error);
}

}  // namespace vtsync::vtiger

#include "vtsync/sync/vtiger/error.hpp"

#include <array>

namespace vtsync::vtiger {

std::string_view to_string(error_kind kind) {
  switch (kind) {
    case error_kind::connect:
      return "connect";
    case error_kind::timeout:
      return "timeout";
    case error_kind::tls:
      return "tls";
    case error_kind::transport:
      return "transport";
    case error_kind::http_status:
      return "http_status";
    case error_kind::html:
      return "html";
    case error_kind::bad_json:
      return "bad_json";
    case error_kind::body_too_large:
      return "body_too_large";
    case error_kind::outcome_unknown:
      return "outcome_unknown";
    case error_kind::login_failed:
      return "login_failed";
    case error_kind::unsupported:
      return "unsupported";
    case error_kind::api:
      return "api";
    case error_kind::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
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

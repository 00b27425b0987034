#pragma once
// Errors of the Vtiger web-service client.
//
// Error policy of the whole client (sync/vtiger):
// - What Vtiger *answers* is a value. An operation returns api_result<T>: either the result or an api_error
//   {code, message} from {"success":false,...} (ACCESS_DENIED, MANDATORY_FIELDS_MISSING, "0" for a
//   duplicate, ...). Session codes (INVALID_SESSIONID and its kin) never reach the caller: the client logs in
//   again and retries once; only a second session error in a row is returned.
//   api_result<T>::value() throws client_error{kind = api} for callers that do not expect a rejection.
// - Infrastructure failures that survived the retries are exceptions of ONE class, client_error, with a
//   kind saying what happened (connect, timeout, tls, transport, http_status, html, bad_json,
//   body_too_large, outcome_unknown, login_failed, ...). Transient kinds are retried inside the client with
//   bounded exponential backoff before they are thrown.
// - A write (create, update, revise, delete, or a POST through call()) is never re-sent once the request may
//   have reached the server: any failure after the request was written is thrown as kind outcome_unknown
//   (cause() says what happened), so the caller can check before sending again.
// - Messages never contain the access key, its md5 or a session name.
// - Cancellation by the caller (e.g. on shutdown) surfaces as boost::system::system_error(operation_aborted).
#include <boost/system/result.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vtsync::vtiger {

// {"success":false,"error":{"code":...,"message":...}}. Vtiger sends the duplicate-prevention code as the
// NUMBER 0; it is kept here as the string "0".
struct api_error {
  std::string code;
  std::string message;
  friend bool operator==(const api_error&, const api_error&) = default;
};

enum class error_kind {
  connect,           // resolving or connecting failed (nothing was sent)
  timeout,           // a step took longer than options.timeout
  tls,               // TLS handshake or certificate verification failed
  transport,         // the connection broke mid-exchange (reset, closed, truncated HTTP message)
  http_status,       // an HTTP status other than 200 (stock Vtiger answers PHP fatals with 500 and no body)
  html,              // a body that is not JSON: an HTML page or a PHP message
  bad_json,          // invalid or truncated JSON, or JSON that is not Vtiger's envelope
  body_too_large,    // the body exceeded options.body_limit
  outcome_unknown,   // a write was sent but no trustworthy answer came back; cause() says why
  login_failed,      // getchallenge/login were refused (api() holds Vtiger's code)
  unsupported,       // the server cannot run this operation (stock Vtiger 8 on PHP 8: sync)
  api,               // an api_error raised by api_result::value()
  invalid_argument,  // the caller's input cannot be sent (bad url, element with invalid UTF-8)
};

[[nodiscard]] std::string_view to_string(error_kind kind);

class client_error : public std::runtime_error {
 public:
  client_error(error_kind kind, const std::string& message, int http_status = 0,
               std::optional<api_error> api = std::nullopt);
  // An outcome_unknown error wrapping what happened to a write.
  static client_error outcome_unknown(const client_error& cause, std::string_view operation);

  [[nodiscard]] error_kind kind() const { return kind_; }
  [[nodiscard]] error_kind cause() const { return cause_; }  // == kind() except for outcome_unknown
  [[nodiscard]] int http_status() const { return http_status_; }
  [[nodiscard]] const std::optional<api_error>& api() const { return api_; }
  // Worth retrying with backoff (for reads, and for writes that were not sent yet).
  [[nodiscard]] bool transient() const;

 private:
  error_kind kind_;
  error_kind cause_;
  int http_status_;
  std::optional<api_error> api_;
};

// The codes after which the client logs in again and retries once (vtiger-webservice.md §2.3).
// AUTHENTICATION_REQUIRED counts only for operations other than login.
[[nodiscard]] bool is_session_error(std::string_view code, std::string_view operation);

template <class T>
using api_result = boost::system::result<T, api_error>;

// Found by ADL from api_result<T>::value(): a rejection the caller did not expect becomes an exception.
[[noreturn]] void throw_exception_from_error(const api_error& error, const boost::source_location& loc);

}  // namespace vtsync::vtiger

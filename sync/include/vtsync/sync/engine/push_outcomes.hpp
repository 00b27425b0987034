#pragma once
// What the push engine does after each Vtiger call, as one table: the step it was (create, revise, ...)
// and how the call ended decide the reaction. push.cpp only carries reactions out; tests enumerate the
// table (tests/push/push_outcomes_test.cpp).
#include <optional>
#include <string>
#include <string_view>

#include "vtsync/sync/vtiger/client.hpp"

namespace vtsync::sync {

// The Vtiger calls of a push.
enum class push_step {
  create,    // an INSERT's create
  revise,    // an UPDATE's revise (also the catch-up revise of an adopted create)
  retrieve,  // the record read before a revise (conflict detection) or to adopt a known create
  remove,    // a DELETE's delete
  look_up,   // a query looking for a create that may have happened, or whether a record is gone
};

// How a call ended.
enum class call_end {
  accepted,          // Vtiger answered success
  session_error,     // a session error survived the client's re-login and retry: Vtiger did not run it
  access_denied,     // ACCESS_DENIED (also a delete of a record that is already gone)
  rejected,          // any other error answer of Vtiger (MANDATORY_FIELDS_MISSING, ...)
  invalid_argument,  // the element cannot be sent (client_error invalid_argument)
  outcome_unknown,   // the request went out and the reply was lost (client_error outcome_unknown)
  unavailable,       // any other client_error (transport, login, ...) after the client's own retries
};

// What the engine does next.
enum class reaction {
  proceed,     // carry on (write back, or the next call of this entry)
  fail_row,    // entry and row failed with Vtiger's message; retried on the next edit or `vtsyncd retry`
  resend,      // back to pending at once: the call is idempotent and is simply sent again
  pause,       // back to pending, and the rest of the batch too; the engine backs off (Vtiger not usable)
  look_up,     // a create that may have been made: look for it before anything else
  check_gone,  // a delete refused: done if a query no longer finds the record, else fail_row
};

// The table. Total: every step and end has a reaction.
[[nodiscard]] reaction react(push_step step, call_end end) noexcept;

[[nodiscard]] std::string_view to_string(push_step step) noexcept;
[[nodiscard]] std::string_view to_string(call_end end) noexcept;
[[nodiscard]] std::string_view to_string(reaction r) noexcept;

// How a call ended, from what it returned (an answer, or the client_error it threw).
template <class T>
struct call_result {
  std::optional<vtiger::api_result<T>> answer;
  std::optional<vtiger::client_error> error;

  [[nodiscard]] bool accepted() const { return answer && answer->has_value(); }
  // "<code>: <message>" for an error answer, the client_error's text otherwise; "" when accepted.
  [[nodiscard]] std::string message() const;
};

// `operation` is the web-service operation (for what counts as a session error there).
[[nodiscard]] call_end classify(const std::optional<vtiger::api_error>& answer_error,
                                const std::optional<vtiger::client_error>& error, std::string_view operation);

template <class T>
std::string call_result<T>::message() const {
  if (answer && answer->has_error()) return answer->error().code + ": " + answer->error().message;
  if (error) return error->what();
  return {};
}

}  // namespace vtsync::sync

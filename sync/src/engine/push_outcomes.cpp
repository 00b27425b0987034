#include "vtsync/sync/engine/push_outcomes.hpp"

#include <array>

namespace vtsync::sync {

namespace {

constexpr std::size_t steps = 5, ends = 7;

// Rows: push_step; columns: call_end (accepted, session_error, access_denied, rejected, invalid_argument,
// outcome_unknown, unavailable).
constexpr reaction P = reaction::proceed, F = reaction::fail_row, R = reaction::resend, W = reaction::pause,
                   L = reaction::look_up, G = reaction::check_gone;
constexpr std::array<std::array<reaction, ends>, steps> table{{
    // A create that may have been made is looked for, never simply sent again.
    /* create   */ {P, W, F, F, F, L, W},
    // A revise is idempotent: one whose reply was lost is sent again.
    /* revise   */ {P, W, F, F, F, R, W},
    // ACCESS_DENIED on retrieve: deleted in Vtiger (or no longer visible to the sync user).
    /* retrieve */ {P, W, F, F, W, W, W},
    // ACCESS_DENIED also answers a delete of a record that is already gone.
    /* remove   */ {P, W, G, F, F, R, W},
    // A query that fails tells nothing: wait and look again.
    /* look_up  */ {P, W, W, W, W, W, W},
}};

constexpr std::array<std::string_view, steps> step_names{"create", "revise", "retrieve", "delete", "look_up"};
constexpr std::array<std::string_view, ends> end_names{"accepted",   "session_error",    "access_denied",
                                                       "rejected",   "invalid_argument", "outcome_unknown",
                                                       "unavailable"};
constexpr std::array<std::string_view, 6> reaction_names{"proceed", "fail_row", "resend",
                                                         "pause",   "look_up",  "check_gone"};

call_end from_code(const std::string& code, std::string_view operation) {
  // A session error that survived the client's one re-login and retry (a storm of expiries) is no verdict
  // on the change: Vtiger did not run it (found by tests/crash: a create marked failed with
  // INVALID_SESSIONID).
  if (vtiger::is_session_error(code, operation)) return call_end::session_error;
  if (code == "ACCESS_DENIED") return call_end::access_denied;
  return call_end::rejected;
}

}  // namespace

reaction react(push_step step, call_end end) noexcept {
  return table[static_cast<std::size_t>(step)][static_cast<std::size_t>(end)];
}

std::string_view to_string(push_step step) noexcept { return step_names[static_cast<std::size_t>(step)]; }
std::string_view to_string(call_end end) noexcept { return end_names[static_cast<std::size_t>(end)]; }
std::string_view to_string(reaction r) noexcept { return reaction_names[static_cast<std::size_t>(r)]; }

call_end classify(const std::optional<vtiger::api_error>& answer_error,
                  const std::optional<vtiger::client_error>& error, std::string_view operation) {
  if (answer_error) return from_code(answer_error->code, operation);
  if (!error) return call_end::accepted;
  switch (error->kind()) {
    case vtiger::error_kind::invalid_argument:
      return call_end::invalid_argument;
    case vtiger::error_kind::outcome_unknown:
      return call_end::outcome_unknown;
    case vtiger::error_kind::api:
      if (error->api()) return from_code(error->api()->code, operation);
      return call_end::rejected;
    default:
      return call_end::unavailable;
  }
}

}  // namespace vtsync::sync

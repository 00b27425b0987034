#pragma once
// Private pieces of connection (pg.cpp) shared with its pipeline (pg_pipeline.cpp).
#include "vtsync/storage/pg.hpp"

#include <stdexcept>
#include <string>

namespace vtsync::storage::detail {

// Marks a connection busy for the duration of one public call: a connection serves one coroutine.
struct busy_guard {
  explicit busy_guard(bool& flag) : flag_(flag) {
    if (flag_) throw std::logic_error("vtsync::storage::connection used by two coroutines at once");
    flag_ = true;
  }
  ~busy_guard() { flag_ = false; }
  busy_guard(const busy_guard&) = delete;
  busy_guard& operator=(const busy_guard&) = delete;
  bool& flag_;
};

// libpq's text without the trailing newline and spaces.
std::string trimmed_message(const char* text);

// The pg_error an error result stands for: SQLSTATE's kind, the primary message and its detail.
pg_error error_of(const PGresult* raw);

}  // namespace vtsync::storage::detail

#pragma once
// Helpers for libpq connection strings.
//
// Error policy: pure functions, never throw (apart from std::bad_alloc).
#include <string>
#include <string_view>

namespace vtsync::storage {

// A copy of a libpq conninfo (key=value form or postgresql:// URI) with any password replaced by "***",
// so the string can be logged.
[[nodiscard]] std::string scrub_conninfo(std::string_view conninfo);

}  // namespace vtsync::storage

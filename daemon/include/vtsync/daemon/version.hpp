#pragma once
#include <string_view>

namespace vtsync::daemon {

[[nodiscard]] std::string_view version();

}  // namespace vtsync::daemon

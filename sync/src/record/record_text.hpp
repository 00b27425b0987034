#pragma once
// What values.cpp and base_text.cpp both write text with (private to sync/record).
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace vtsync::record::detail {

// `s` without its NUL characters (PostgreSQL text cannot hold them).
[[nodiscard]] std::string without_nul(std::string_view s);

// Compact JSON text as nlohmann writes it, invalid UTF-8 replaced (never throws on it).
[[nodiscard]] std::string dump(const nlohmann::json& value);

}  // namespace vtsync::record::detail

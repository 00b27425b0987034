#pragma once
// JSON output the way Vtiger's pure-PHP Zend_Json encoder writes it: only \ " / \n \r \t \b \f are
// escaped ("/" as "\/", as recorded on 8.2), non-ASCII and other control characters go out raw.
//
// Error policy: nothing throws except std::bad_alloc.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vtsync::fake {

// Appends `s` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

// Appends a whole JSON value (object key order kept for ordered_json).
void append_json(std::string& out, const nlohmann::ordered_json& value);

[[nodiscard]] std::string to_zend_json(const nlohmann::ordered_json& value);

}  // namespace vtsync::fake

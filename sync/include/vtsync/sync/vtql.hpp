#pragma once
// VTQL (Vtiger's query language) literal quoting.
//
// Vtiger copies a quoted value verbatim into MySQL with backslash escapes active, so a literal is written
// in single quotes with every ' and every \ doubled. The lexer rejects the empty literal '' outright.
//
// Error policy: quote_literal returns std::nullopt for a value VTQL cannot express (the empty string).
#include <optional>
#include <string>
#include <string_view>

namespace vtsync::vtql {

[[nodiscard]] std::optional<std::string> quote_literal(std::string_view value);

}  // namespace vtsync::vtql

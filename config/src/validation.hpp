#pragma once
// The shapes a value must have beyond its TOML type: names, Vtiger ids, time zones, listen addresses, and the
// Vtiger URL (normalised to end in webservice.php). The predicates never throw; normalise_vtiger_url fails
// through origin like the readers.
#include <string>

#include "reading.hpp"

namespace vtsync::config::detail {

// ^[A-Za-z_][A-Za-z0-9_]*$: module, field and instance names.
[[nodiscard]] bool is_identifier(const std::string& s);

// ^[0-9]+x[0-9]+$: a Vtiger webservice id such as 19x1.
[[nodiscard]] bool is_vtiger_id(const std::string& s);

// ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$: an IANA zone name's shape (not whether the zone exists).
[[nodiscard]] bool is_zone_name(const std::string& s);

// ^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost):([0-9]{1,5})$ with the port <= 65535.
[[nodiscard]] bool is_listen_address(const std::string& s);

// What is wrong with a VTQL condition used as a module's filter, "" when nothing is: VTQL has no
// parentheses, a `;` would end the statement, ORDER BY and LIMIT are no condition, and a quote must close.
// Whether its fields exist and its syntax holds is Vtiger's to say (checked at start).
[[nodiscard]] std::string filter_problem(const std::string& condition);

// An absolute http(s) URL without user info, its path ending in webservice.php (appended when missing).
[[nodiscard]] std::string normalise_vtiger_url(const std::string& text, const origin& at);

}  // namespace vtsync::config::detail

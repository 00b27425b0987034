#pragma once
// The oracle of the end-to-end tests: does a mirror table hold exactly what Vtiger (the fake's
// /_fake/dump) holds, field for field?
#include <libpq-fe.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vtsync::test {

// Differences between the rows of <schema>.<table> (those with a vtiger_id and _sync_state <> 'deleted')
// and `dump` (the fake's JSON array). Empty when they are equal. Values are compared as Vtiger means
// them: null and "" are the same, numbers by value, datetimes as "YYYY-MM-DD HH:MM:SS" in UTC,
// booleans as "0"/"1", multipicklists as lists. At most `limit` differences are listed.
std::vector<std::string> mirror_differences(PGconn* conn, const std::string& schema, const std::string& table,
                                            const nlohmann::json& dump, std::size_t limit = 20);

// GET /_fake/dump?module=M from a fake on `port`.
nlohmann::json fake_dump(unsigned short port, const std::string& module);
// GET /_fake/linked?id=X: the ids linked to X by pair relations, in id order.
nlohmann::json fake_linked(unsigned short port, const std::string& id);
// GET /_fake/stats.
nlohmann::json fake_stats(unsigned short port);
// POST a JSON body to a /_fake endpoint; returns the parsed answer.
nlohmann::json fake_post(unsigned short port, const std::string& path, const nlohmann::json& body);

}  // namespace vtsync::test

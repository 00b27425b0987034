#include "mirror_compare.hpp"

#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>

#include "child_process.hpp"

namespace vtsync::test {

namespace {

using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

result_ptr exec(PGconn* conn, const std::string& sql) {
  result_ptr r{PQexec(conn, sql.c_str()), &PQclear};
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    throw std::runtime_error("SQL failed: " + sql + ": " + PQerrorMessage(conn));
  }
  return r;
}

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string as_text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::vector<std::string> split_multi(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  const std::string sep = "|##|";
  while (pos <= s.size()) {
    auto next = s.find(sep, pos);
    std::string piece = s.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    while (!piece.empty() && piece.front() == ' ') piece.erase(piece.begin());
    while (!piece.empty() && piece.back() == ' ') piece.pop_back();
    if (!piece.empty()) out.push_back(piece);
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  return out;
}

}  // namespace

std::vector<std::string> mirror_differences(PGconn* conn, const std::string& schema, const std::string& table,
                                            const nlohmann::json& dump, std::size_t limit) {
  std::vector<std::string> diffs;
  auto columns =
      exec(conn, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = " +
                     quote_literal(schema) + " AND table_name = " + quote_literal(table) +
                     " ORDER BY ordinal_position");
  std::vector<std::pair<std::string, std::string>> cols;
  std::string select = "SELECT vtiger_id";
  for (int i = 0; i < PQntuples(columns.get()); ++i) {
    const std::string name = PQgetvalue(columns.get(), i, 0);
    const std::string type = PQgetvalue(columns.get(), i, 1);
    if (name == "vtiger_id" || name.rfind('_', 0) == 0) continue;
    cols.emplace_back(name, type);
    const auto q = quote_ident(name);
    if (type == "timestamp with time zone") {
      select += ", to_char(" + q + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')";
    } else if (type == "boolean") {
      select += ", CASE WHEN " + q + " THEN '1' WHEN NOT " + q + " THEN '0' END";
    } else if (type == "ARRAY") {
      select += ", array_to_json(" + q + ")::text";
    } else {
      select += ", " + q + "::text";
    }
  }
  select += " FROM " + quote_ident(schema) + "." + quote_ident(table) +
            " WHERE vtiger_id IS NOT NULL AND _sync_state IS DISTINCT FROM 'deleted'";
  auto rows = exec(conn, select);
  std::map<std::string, int> by_id;
  for (int r = 0; r < PQntuples(rows.get()); ++r) by_id[PQgetvalue(rows.get(), r, 0)] = r;

  if (by_id.size() != dump.size()) {
    diffs.push_back("row count: mirror " + std::to_string(by_id.size()) + ", Vtiger " +
                    std::to_string(dump.size()));
  }
  for (const auto& record : dump) {
    if (diffs.size() >= limit) break;
    const std::string id = record.at("id").get<std::string>();
    const auto it = by_id.find(id);
    if (it == by_id.end()) {
      diffs.push_back(id + ": missing from the mirror");
      continue;
    }
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const auto& [name, type] = cols[c];
      if (!record.contains(name)) continue;  // a column kept from an older describe
      const int col = static_cast<int>(c) + 1;
      const bool db_null = PQgetisnull(rows.get(), it->second, col) != 0;
      const std::string db = db_null ? "" : PQgetvalue(rows.get(), it->second, col);
      const std::string remote = as_text(record.at(name));
      bool equal = false;
      if (type == "numeric" || type == "bigint") {
        equal = (db.empty() && remote.empty()) ||
                (!db.empty() && !remote.empty() && std::fabs(std::stod(db) - std::stod(remote)) < 1e-6);
      } else if (type == "ARRAY") {
        std::vector<std::string> db_list;
        if (!db.empty()) db_list = nlohmann::json::parse(db).get<std::vector<std::string>>();
        equal = db_list == split_multi(remote);
      } else {
        equal = db == remote;
      }
      if (!equal) {
        diffs.push_back(id + "." + name + ": mirror '" + db + "', Vtiger '" + remote + "'");
        if (diffs.size() >= limit) break;
      }
    }
  }
  return diffs;
}

nlohmann::json fake_dump(unsigned short port, const std::string& module) {
  const auto r = http_request(port, "GET", "/_fake/dump?module=" + url_encode(module));
  if (r.status != 200)
    throw std::runtime_error("/_fake/dump answered " + std::to_string(r.status) + ": " + r.body);
  return nlohmann::json::parse(r.body);
}

nlohmann::json fake_linked(unsigned short port, const std::string& id) {
  const auto r = http_request(port, "GET", "/_fake/linked?id=" + url_encode(id));
  if (r.status != 200)
    throw std::runtime_error("/_fake/linked answered " + std::to_string(r.status) + ": " + r.body);
  return nlohmann::json::parse(r.body);
}

nlohmann::json fake_stats(unsigned short port) {
  const auto r = http_request(port, "GET", "/_fake/stats");
  return nlohmann::json::parse(r.body);
}

nlohmann::json fake_post(unsigned short port, const std::string& path, const nlohmann::json& body) {
  const auto r = http_request(port, "POST", path, body.dump(), "application/json");
  if (r.status != 200)
    throw std::runtime_error(path + " answered " + std::to_string(r.status) + ": " + r.body);
  return nlohmann::json::parse(r.body);
}

}  // namespace vtsync::test

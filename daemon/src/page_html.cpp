// The operator page's HTML (operator_page.hpp): daemon/ui/index.html with a summary rendered into it, so the
// page says everything with JavaScript off. ui.js renders the same sections, with the same element ids and
// data attributes, from /status and /ui/recent.json, and adds the charts.
#include <string>

#include "operator_page.hpp"

namespace vtsync::daemon {

using nlohmann::json;

namespace {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A JSON value as a cell's text: strings as they are, null as "-", numbers and booleans as JSON.
std::string text_of(const json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "yes" : "no";
  return j.dump();
}

std::string cell(const json& j, std::string_view cls = {}) {
  return cls.empty() ? "<td>" + escape(text_of(j)) + "</td>"
                     : "<td class=\"" + std::string{cls} + "\">" + escape(text_of(j)) + "</td>";
}

std::string head(std::initializer_list<std::string_view> names) {
  std::string out = "<thead><tr>";
  for (auto n : names) out += "<th>" + std::string{n} + "</th>";
  return out + "</tr></thead>";
}

std::uint64_t sum(const json& counts) {
  std::uint64_t total = 0;
  for (const auto& n : counts) total += n.get<std::uint64_t>();
  return total;
}

std::string overview(const json& status) {
  std::string out = "<section id=\"overview\"><h2>Daemon</h2><dl>";
  auto item = [&](std::string_view term, const json& value, std::string_view id) {
    out += "<dt>" + std::string{term} + "</dt><dd id=\"" + std::string{id} + "\">" + escape(text_of(value)) +
           "</dd>";
  };
  item("vtsync", status.value("version", json(nullptr)), "version");
  item("up since", status.value("started_at", json(nullptr)), "started");
  item("uptime (s)", status.value("uptime_seconds", json(nullptr)), "uptime");
  item("role", status.value("role", json(nullptr)), "role");
  item("identity", status.value("identity", json(nullptr)), "identity");
  item("PostgreSQL reached", status.value("postgres_reached", json(nullptr)), "postgres");
  item("Vtiger reached", status.value("vtiger_reached", json(nullptr)), "vtiger-reached");
  out += "</dl><table id=\"instances\">" + head({"Vtiger instance", "URL", "version"}) + "<tbody>";
  for (const auto& v : status.value("vtiger", json::array()))
    out += "<tr>" + cell(v["name"]) + cell(v["url"]) + cell(v["version"]) + "</tr>";
  return out + "</tbody></table></section>";
}

std::string modules(const json& status, const json& history) {
  std::string out = "<section id=\"modules\"><h2>Modules</h2><table>" +
                    head({"module", "state", "cursor", "last success", "lag (s)", "pending", "failed",
                          "last hour (pulled / pushed)"}) +
                    "<tbody>";
  const json all = status.value("modules", json::object());
  for (const auto& [name, m] : all.items()) {
    const std::string state = m.value("state", "unknown");
    const json h = history["modules"].value(name, json::object());
    const std::string hour = std::to_string(sum(h.value("pulled", json::array()))) + " / " +
                             std::to_string(sum(h.value("pushed", json::array())));
    out += "<tr data-module=\"" + escape(name) + "\" data-state=\"" + escape(state) + "\">" + cell(name) +
           "<td class=\"state " + escape(state) + "\"><span class=\"word\">" + escape(state) +
           "</span> <span class=\"why\">" + escape(m.value("state_reason", "")) + "</span></td>" +
           cell(m["cursor"]) + cell(m["last_success"]) + cell(m["lag_seconds"], "num") +
           cell(m["pending"], "num pending") + cell(m["failed"], "num failed") + "<td class=\"chart\">" +
           escape(hour) + "</td></tr>";
  }
  return out + "</tbody></table></section>";
}

std::string failed(const json& recent) {
  std::string out = "<section id=\"failed\"><h2>Rejected local changes</h2>";
  const auto& list = recent["failed"];
  if (list.empty()) return out + "<p class=\"empty\">None.</p></section>";
  out += "<table>" +
         head({"module", "record", "op", "Vtiger's error", "since", "attempts", "retry or give up"}) +
         "<tbody>";
  for (const auto& f : list) {
    const std::string record = f["vtiger_id"].is_string()
                                   ? f["vtiger_id"].get<std::string>()
                                   : f["table"].get<std::string>() + " row " + f["row_id"].dump();
    out += "<tr data-module=\"" + escape(f["module"].get<std::string>()) + "\">" + cell(f["module"]) +
           cell(record) + cell(f["op"]) + cell(f["error"], "error") + cell(f["since"]) +
           cell(f["attempts"], "num") + "<td class=\"commands\"><code>" +
           escape(f["retry"].get<std::string>()) + "</code><br><code>" +
           escape(f["discard"].get<std::string>()) + "</code></td></tr>";
  }
  return out +
         "</tbody></table><p class=\"hint\">Fix the row (that queues it again) or the cause in Vtiger, "
         "then run the retry command; or give the change up with the discard command (the row returns to "
         "Vtiger's values).</p></section>";
}

std::string conflicts(const json& recent) {
  std::string out = "<section id=\"conflicts\"><h2>Latest conflicts</h2>";
  const auto& list = recent["conflicts"];
  if (list.empty()) return out + "<p class=\"empty\">None.</p></section>";
  out += "<table>" + head({"module", "record", "field", "decision", "at"}) + "<tbody>";
  for (const auto& c : list) {
    out += "<tr>" + cell(c["module"]) + cell(c["vtiger_id"]) + cell(c["field"]) + cell(c["decision"]) +
           cell(c["at"]) + "</tr>";
  }
  return out +
         "</tbody></table><p class=\"hint\">Both values are kept in the conflicts table in "
         "PostgreSQL, not shown here.</p></section>";
}

std::string leases(const json& status) {
  std::string out =
      "<section id=\"leases\"><h2>Leases</h2><table>" + head({"lease", "holder", "this daemon"}) + "<tbody>";
  const json all = status.value("leases", json::object());
  for (const auto& [name, l] : all.items())
    out += "<tr>" + cell(name) + cell(l["holder"]) + cell(l["mine"]) + "</tr>";
  return out + "</tbody></table></section>";
}

}  // namespace

std::string render_page(const json& status, const json& recent) {
  std::string summary = "<main id=\"summary\">";
  if (const auto problem = recent.value("problem", ""); !problem.empty())
    summary += "<p id=\"problem\" class=\"problem\">PostgreSQL: " + escape(problem) + "</p>";
  summary += overview(status) + modules(status, recent["history"]) + failed(recent) + conflicts(recent) +
             leases(status) + "</main>";
  std::string html{*ui_asset("index.html")};
  constexpr std::string_view marker = "<!--vtsync:summary-->";
  if (const auto at = html.find(marker); at != std::string::npos) html.replace(at, marker.size(), summary);
  return html;
}

}  // namespace vtsync::daemon

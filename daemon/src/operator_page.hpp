#pragma once
// The operator page of `vtsyncd run` on health.listen: a read-only status page for people, served from the
// binary (daemon/ui/: HTML, CSS and a little JavaScript embedded at build time; nothing from elsewhere).
//   GET / (or /ui)      the page, with a summary rendered here, so that it says everything without
//                       JavaScript too (page_html.cpp)
//   GET /ui.js, /ui.css its script and style (the Content-Security-Policy allows no inline script or style)
//   GET /ui/recent.json per-minute records pulled and pushed over the last hour, the rejected local changes
//                       and the latest conflicts; the script refreshes the page from it and from /status
//
// It shows ids, names, states and Vtiger's error texts, never a field's value (the conflicts' values stay
// in PostgreSQL): the page may be exposed to more people than the database. It serves nothing that writes;
// the command that retries a rejected change is shown for the operator to run.
//
// It answers from memory. What it needs from PostgreSQL (the outbox's counts, the rejected changes, the
// conflicts: storage/operator_view.hpp) is one query per Vtiger instance on a connection of its own,
// cached: a request finding the cache older than operator_view_max_age starts a read in the background and
// answers from the cache at once; the next request sees the new read.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "run_state.hpp"
#include "vtsync/daemon/health_server.hpp"

namespace vtsync::daemon {

inline constexpr std::chrono::seconds operator_view_max_age{5};
inline constexpr int operator_list_cap = 25;  // rejected changes and conflicts shown, newest first

// Starts a background read of every instance whose cached view is missing or older than
// operator_view_max_age (one read at a time per instance; none while stopping). Never waits.
void refresh_operator_views(run_state& run);

// /ui/recent.json: {"history": activity_history, "failed": [...], "conflicts": [...], "problem": "..."}.
// Each failed change carries the command that retries it ("retry").
[[nodiscard]] nlohmann::json recent_of(const run_state& run);

// The page provider of the health server: the paths above; `status` makes the /status document.
[[nodiscard]] std::function<std::optional<page>(std::string_view)> operator_page(
    run_state& run, std::function<nlohmann::json()> status);

// The page's HTML: index.html with the summary of `status` and `recent` rendered into it (page_html.cpp).
[[nodiscard]] std::string render_page(const nlohmann::json& status, const nlohmann::json& recent);

// The files of daemon/ui/ embedded at build time (embed_ui.cmake); nullopt for another name.
[[nodiscard]] std::optional<std::string_view> ui_asset(std::string_view name);

}  // namespace vtsync::daemon

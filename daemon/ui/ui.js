// The operator page's script: every 5 s it reads /status and /ui/recent.json and renders the same
// sections the daemon rendered into the page (same ids and data attributes), plus a chart per module of
// the records pulled and pushed per minute over the last hour. Text goes in through textContent only.
"use strict";

const refreshMs = 5000;
const svgNs = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(text(c)));
  return node;
}

function text(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

function table(heads, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))),
            el("tbody", {}, ...rows));
}

function td(v, cls) { return el("td", cls ? { class: cls } : {}, v); }

function sum(a) { return (a || []).reduce((x, y) => x + y, 0); }

// Two bar series in one small SVG: pulled above the middle line, pushed below it.
function chart(h) {
  const pulled = h.pulled || [], pushed = h.pushed || [];
  const w = 180, half = 16, bar = w / Math.max(pulled.length, 1);
  const max = Math.max(1, ...pulled, ...pushed);
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("width", w);
  svg.setAttribute("height", 2 * half + 1);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `last hour: ${sum(pulled)} pulled, ${sum(pushed)} pushed`);
  const rect = (i, v, up, cls) => {
    if (!v) return;
    const hgt = Math.max(1, (v / max) * half);
    const r = document.createElementNS(svgNs, "rect");
    r.setAttribute("x", i * bar);
    r.setAttribute("width", Math.max(1, bar - 0.5));
    r.setAttribute("y", up ? half - hgt : half + 1);
    r.setAttribute("height", hgt);
    r.setAttribute("class", cls);
    svg.append(r);
  };
  const axis = document.createElementNS(svgNs, "rect");
  axis.setAttribute("x", 0);
  axis.setAttribute("y", half);
  axis.setAttribute("width", w);
  axis.setAttribute("height", 1);
  axis.setAttribute("class", "axis");
  svg.append(axis);
  pulled.forEach((v, i) => rect(i, v, true, "pulled"));
  pushed.forEach((v, i) => rect(i, v, false, "pushed"));
  return el("div", {}, svg, el("span", { class: "legend" }, `${sum(pulled)} pulled / ${sum(pushed)} pushed`));
}

function overview(s) {
  const dl = el("dl", {});
  const item = (term, value, id) => dl.append(el("dt", {}, term), el("dd", { id }, value));
  item("vtsync", s.version, "version");
  item("up since", s.started_at, "started");
  item("uptime (s)", s.uptime_seconds, "uptime");
  item("role", s.role, "role");
  item("identity", s.identity, "identity");
  item("PostgreSQL reached", s.postgres_reached, "postgres");
  item("Vtiger reached", s.vtiger_reached, "vtiger-reached");
  const rows = (s.vtiger || []).map((v) => el("tr", {}, td(v.name), td(v.url), td(v.version)));
  const t = table(["Vtiger instance", "URL", "version"], rows);
  t.id = "instances";
  return el("section", { id: "overview" }, el("h2", {}, "Daemon"), dl, t);
}

function modules(s, history) {
  const rows = Object.entries(s.modules || {}).map(([name, m]) => {
    const state = m.state || "unknown";
    const stateCell = el("td", { class: `state ${state}` }, el("span", { class: "word" }, state), " ",
                         el("span", { class: "why" }, m.state_reason || ""));
    return el("tr", { "data-module": name, "data-state": state }, td(name), stateCell, td(m.cursor),
              td(m.last_success), td(m.lag_seconds, "num"), td(m.pending, "num pending"),
              td(m.failed, "num failed"), el("td", { class: "chart" }, chart((history.modules || {})[name] || {})));
  });
  return el("section", { id: "modules" }, el("h2", {}, "Modules"),
            table(["module", "state", "cursor", "last success", "lag (s)", "pending", "failed",
                   "last hour (pulled / pushed)"], rows));
}

function failed(r) {
  const section = el("section", { id: "failed" }, el("h2", {}, "Rejected local changes"));
  if (!r.failed.length) {
    section.append(el("p", { class: "empty" }, "None."));
    return section;
  }
  const rows = r.failed.map((f) => el("tr", { "data-module": f.module }, td(f.module),
    td(f.vtiger_id !== null ? f.vtiger_id : `${f.table} row ${f.row_id}`), td(f.op), td(f.error, "error"),
    td(f.since), td(f.attempts, "num"),
    el("td", { class: "commands" }, el("code", {}, f.retry), el("br", {}), el("code", {}, f.discard))));
  section.append(table(["module", "record", "op", "Vtiger's error", "since", "attempts", "retry or give up"], rows),
    el("p", { class: "hint" }, "Fix the row (that queues it again) or the cause in Vtiger, then run the retry " +
       "command; or give the change up with the discard command (the row returns to Vtiger's values)."));
  return section;
}

function conflicts(r) {
  const section = el("section", { id: "conflicts" }, el("h2", {}, "Latest conflicts"));
  if (!r.conflicts.length) {
    section.append(el("p", { class: "empty" }, "None."));
    return section;
  }
  const rows = r.conflicts.map((c) => el("tr", {}, td(c.module), td(c.vtiger_id), td(c.field), td(c.decision), td(c.at)));
  section.append(table(["module", "record", "field", "decision", "at"], rows),
    el("p", { class: "hint" }, "Both values are kept in the conflicts table in PostgreSQL, not shown here."));
  return section;
}

function leases(s) {
  const rows = Object.entries(s.leases || {}).map(([name, l]) => el("tr", {}, td(name), td(l.holder), td(l.mine)));
  return el("section", { id: "leases" }, el("h2", {}, "Leases"), table(["lease", "holder", "this daemon"], rows));
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function refresh() {
  const note = document.getElementById("refreshed");
  try {
    const [s, r] = await Promise.all([getJson("/status"), getJson("/ui/recent.json")]);
    const main = el("main", { id: "summary" });
    if (r.problem) main.append(el("p", { id: "problem", class: "problem" }, `PostgreSQL: ${r.problem}`));
    main.append(overview(s), modules(s, r.history), failed(r), conflicts(r), leases(s));
    document.getElementById("summary").replaceWith(main);
    document.body.dataset.rendered = "script";
    note.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${refreshMs / 1000} s.`;
  } catch (e) {
    note.textContent = `Refresh failed (${e.message}); showing the last answer.`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  setInterval(refresh, refreshMs);
});

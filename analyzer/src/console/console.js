// Pulse Analyzer console: reads /api/v1/* and renders it with DOM APIs only (textContent,
// never innerHTML), so label values from scraped targets cannot inject markup.
"use strict";

const TOKEN_KEY = "pulse-write-token";
const STREAM_DELAY_MS = 2000;
const SEVERITIES = ["critical", "warning", "advisory", "info"];
const OVERVIEW_METRICS = [
  "pulse:cpu_utilisation:ratio",
  "pulse:memory_available:ratio",
  "pulse:filesystem_used:ratio",
  "probe_success",
  "up",
];

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(path + ": " + (body.error || response.status));
  }
  return body;
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    tr.appendChild(cell instanceof Node ? cell : el("td", cell));
  }
  return tr;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    tbody.appendChild(row([el("td", empty, { colspan: String(columns), class: "empty" })]));
  }
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "—" : (ratio * 100).toFixed(1) + " %";
}

function time(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function labels(map) {
  return Object.entries(map || {}).map(([k, v]) => k + "=" + v).join(", ");
}

// Where a unit is known from the series name, a human figure; otherwise the raw number.
function figure(value, series) {
  if (value === null || value === undefined) return "—";
  if (/bytes/.test(series)) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = value, i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(1) + " " + units[i];
  }
  if (/ratio/.test(series)) return percent(value);
  return Number(value).toPrecision(4);
}

async function loadOverview() {
  const [health, snapshot] = await Promise.all([
    getJson("/api/v1/health"),
    getJson("/api/v1/snapshot?metric=" + encodeURIComponent(OVERVIEW_METRICS.join(","))),
  ]);
  document.getElementById("health-status").textContent = health.status;
  document.getElementById("health-detail").textContent =
    health.series + " series · " + health.targets.filter((t) => t.success).length + "/" +
    health.targets.length + " targets up";

  const hosts = new Map();
  const host = (target) => {
    if (!hosts.has(target)) hosts.set(target, { disk: null, probes: [], up: null });
    return hosts.get(target);
  };
  for (const s of snapshot.samples) {
    const h = host(s.target);
    if (s.name === "pulse:cpu_utilisation:ratio") h.cpu = s.value;
    else if (s.name === "pulse:memory_available:ratio") h.memoryUsed = s.value === null ? null : 1 - s.value;
    else if (s.name === "pulse:filesystem_used:ratio" && s.value !== null) h.disk = Math.max(h.disk ?? 0, s.value);
    else if (s.name === "probe_success" && s.value !== null) h.probes.push(s.value);
    else if (s.name === "up") h.up = s.value;
  }
  const rows = [...hosts.entries()].sort().map(([target, h]) => {
    const probes = h.probes.length
      ? percent(h.probes.reduce((a, b) => a + b, 0) / h.probes.length) + " of " + h.probes.length
      : "—";
    const id = (what) => ({ id: what + "-" + target, "data-target": target });
    return row([
      el("th", target, { scope: "row" }),
      el("td", percent(h.cpu), id("cpu")),
      el("td", percent(h.memoryUsed), id("memory")),
      el("td", percent(h.disk), id("disk")),
      el("td", probes, id("probes")),
      el("td", h.up === 1 ? "up" : "down", { class: h.up === 1 ? "ok" : "bad" }),
    ]);
  });
  fill(document.querySelector("#hosts tbody"), rows, "No samples yet.", 6);
}

function severityBadge(severity) {
  return el("span", severity, { class: "badge sev-" + severity });
}

async function act(id, action) {
  if (!token()) {
    setStatus("Paste the write token first (it stays in this tab only).");
    document.getElementById("token").focus();
    return;
  }
  const response = await fetch("/api/v1/alerts/" + id + "/" + action, {
    method: "POST",
    headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
    body: JSON.stringify({ by: "console" }),
  });
  const body = await response.json().catch(() => ({}));
  setStatus(response.ok ? "Alert " + id + ": " + action + "d." : "Alert " + id + ": " + (body.error || response.status));
  await loadAlerts();
}

async function loadAlerts() {
  const data = await getJson("/api/v1/alerts?limit=200");
  const open = data.alerts.filter((a) => a.state !== "resolved");
  document.getElementById("open-alerts").textContent = String(open.length);
  const counts = document.getElementById("open-by-severity");
  counts.replaceChildren();
  for (const severity of SEVERITIES) {
    const n = open.filter((a) => a.severity === severity).length;
    const badge = severityBadge(severity + " " + n);
    badge.id = "open-" + severity;
    counts.appendChild(badge);
  }
  const rows = data.alerts.map((a) => {
    const actions = el("td");
    if (a.state !== "resolved") {
      if (a.state === "firing") {
        const ack = el("button", "Acknowledge", { type: "button", "aria-label": "Acknowledge alert " + a.id });
        ack.addEventListener("click", () => act(a.id, "acknowledge"));
        actions.appendChild(ack);
      }
      const resolve = el("button", "Resolve", { type: "button", "aria-label": "Resolve alert " + a.id });
      resolve.addEventListener("click", () => act(a.id, "resolve"));
      actions.appendChild(resolve);
    }
    const severity = el("td");
    severity.appendChild(severityBadge(a.severity));
    const tr = row([
      severity,
      el("td", a.state + (a.acknowledged_by ? " by " + a.acknowledged_by : "") + (a.silenced_by ? " (silenced)" : "")),
      el("td", a.name),
      el("td", labels(a.labels)),
      el("td", a.summary),
      el("td", time(a.started_at)),
      actions,
    ]);
    tr.id = "alert-" + a.id;
    tr.className = "state-" + a.state;
    return tr;
  });
  fill(document.querySelector("#alerts-table tbody"), rows, "No alerts.", 7);
}

async function loadAnomalies() {
  const data = await getJson("/api/v1/anomalies?limit=100");
  const rows = data.events.map((e) => row([
    el("td", e.metric + (Object.keys(e.labels).length ? "{" + labels(e.labels) + "}" : "")),
    el("td", e.target),
    el("td", e.peak_score === null ? "—" : e.peak_score.toFixed(2)),
    el("td", time(e.start_ms)),
    el("td", e.end_ms ? time(e.end_ms) : "active"),
    el("td", e.correlations.map((c) => c.hint).join("\n") || "—", { class: "pre" }),
  ]));
  fill(document.querySelector("#anomalies-table tbody"), rows, "No anomalies in the last 24 hours.", 6);
}

function when(seconds) {
  return seconds === null ? "beyond horizon" : new Date(seconds * 1000).toLocaleString();
}

async function loadForecasts() {
  const data = await getJson("/api/v1/forecasts");
  const rows = data.forecasts.map((f) => row([
    el("td", f.resource),
    el("td", f.instance),
    el("td", f.series + (Object.keys(f.labels).length ? "{" + labels(f.labels) + "}" : "")),
    el("td", figure(f.current, f.series)),
    el("td", when(f.expected)),
    el("td", when(f.earliest) + " – " + when(f.latest)),
  ]));
  fill(document.querySelector("#forecasts-table tbody"), rows,
    data.error ? "Last analysis failed: " + data.error : "No forecasts yet (a series needs a few analysis steps).", 6);
}

async function loadRecommendations() {
  const data = await getJson("/api/v1/recommendations");
  const list = document.getElementById("recommendations-list");
  list.replaceChildren(...data.recommendations.map((r) => {
    const item = el("li", null, { class: "rec" });
    const head = el("p");
    head.append(severityBadge(r.severity), " ", el("strong", r.summary),
      el("span", " confidence " + percent(r.confidence), { class: "sub" }));
    item.append(head, el("p", r.action));
    const evidence = el("details");
    evidence.append(el("summary", "Evidence"), el("pre", JSON.stringify(r.evidence, null, 2)));
    item.appendChild(evidence);
    return item;
  }));
  if (data.recommendations.length === 0) list.appendChild(el("li", "No recommendations.", { class: "empty" }));
}

// Each section loads on its own: one failing endpoint (say alerting switched off) leaves the
// others working and says which one failed.
async function refresh(loaders) {
  const results = await Promise.allSettled(loaders.map((load) => load()));
  const errors = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  setStatus(errors.length ? errors.join("; ") : "Updated " + new Date().toLocaleTimeString());
}

// Alert changes arrive over Server-Sent Events; EventSource reconnects by itself, and every
// (re)connection reloads the table so changes made while disconnected are not missed. When
// the stream is unavailable (reads need a token, which EventSource cannot send) the periodic
// refresh still runs.
function subscribe() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => {
    live.classList.add("on");
    refresh([loadAlerts]);
  });
  source.addEventListener("error", () => live.classList.remove("on"));
  for (const kind of ["alert", "lagged"]) {
    source.addEventListener(kind, () => refresh([loadAlerts]));
  }
}

function setupToken() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  const show = () => {
    input.value = "";
    input.placeholder = token() ? "token set for this tab" : "paste once per tab";
  };
  show();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    show();
    setStatus(token() ? "Token kept for this tab." : "No token set.");
    refresh([loadAlerts]);
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    show();
    setStatus("Token forgotten.");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  const all = [loadOverview, loadAlerts, loadAnomalies, loadForecasts, loadRecommendations];
  refresh(all);
  // The stream opens a moment after the first load: nothing is lost (opening reloads the
  // alerts), and headless Chromium's virtual time, which the browser tests use, stalls for
  // as long as a request is pending, which a never-ending stream always is.
  setTimeout(subscribe, STREAM_DELAY_MS);
  setInterval(() => refresh(all), 30000);
});

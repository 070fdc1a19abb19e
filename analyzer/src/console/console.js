// Pulse Analyzer console: reads /api/v1/* and renders it with DOM APIs only (textContent,
// never innerHTML), so label values from scraped targets cannot inject markup. Charts are
// plain SVG elements built the same way.
"use strict";

const TOKEN_KEY = "pulse-write-token";
const SEVERITIES = ["critical", "warning", "advisory", "info"];
const CPU = "pulse:cpu_utilisation:ratio";
const MEMORY = "pulse:memory_available:ratio";
const DISK = "pulse:filesystem_used:ratio";
const NET_IN = "pulse:network_receive_bytes:rate";
const NET_OUT = "pulse:network_transmit_bytes:rate";
const OVERVIEW_METRICS = [CPU, MEMORY, DISK, NET_IN, NET_OUT, "probe_success", "up"];
// Sparklines: the last hour in 10 s buckets (at most 360 points), for at most this many targets.
const SPARK_RANGE = "start=-1h&step=10s";
const SPARK_TARGETS = 20;
const SVG_NS = "http://www.w3.org/2000/svg";
const MINUTE = 60000;

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

// A write: needs the token, reports the server's message on failure.
async function send(method, path, payload) {
  if (!token()) {
    document.getElementById("token").focus();
    throw new Error("paste the write token first (it stays in this tab only)");
  }
  const response = await fetch(path, {
    method,
    headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || String(response.status));
  return body;
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function button(text, label, onClick) {
  const b = el("button", text, { type: "button", "aria-label": label });
  b.addEventListener("click", onClick);
  return b;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    tr.appendChild(cell instanceof Node ? cell : el("td", cell));
  }
  return tr;
}

function fill(tbody, rows, empty) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const columns = tbody.closest("table").querySelectorAll("thead th").length;
    tbody.appendChild(row([el("td", empty, { colspan: String(columns), class: "empty" })]));
  }
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "—" : (ratio * 100).toFixed(1) + " %";
}

function bytes(value) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = value, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + " " + units[i];
}

function time(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

function labels(map) {
  return Object.entries(map || {}).map(([k, v]) => k + "=" + v).join(", ");
}

function seriesName(name, map) {
  return name + (Object.keys(map || {}).length ? "{" + labels(map) + "}" : "");
}

// Where a unit is known from the series name, a human figure; otherwise the raw number.
function figure(value, series) {
  if (value === null || value === undefined) return "—";
  if (/bytes/.test(series)) return bytes(value);
  if (/ratio/.test(series)) return percent(value);
  return Number(value).toPrecision(4);
}

// ---- charts --------------------------------------------------------------------------

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

// Linear scales over the union of all points, plus the x range of any extra marks.
function scales(lines, width, height, pad, extraX) {
  const xs = [], ys = [];
  for (const line of lines) for (const [x, y] of line.points) { xs.push(x); ys.push(y); }
  xs.push(...(extraX || []));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1e-9 + Math.abs(y0) * 0.05; y1 += 1e-9 + Math.abs(y1) * 0.05; }
  return {
    x0, x1, y0, y1,
    x: (v) => pad.left + (x1 === x0 ? 0 : (v - x0) / (x1 - x0)) * (width - pad.left - pad.right),
    y: (v) => height - pad.bottom - (v - y0) / (y1 - y0) * (height - pad.top - pad.bottom),
  };
}

function path(points, s) {
  return points.map(([x, y], i) => (i ? "L" : "M") + s.x(x).toFixed(1) + " " + s.y(y).toFixed(1)).join(" ");
}

// A 90×22 line of `points` ([ts, value]) with no axes: shape and direction at a glance.
function sparkline(points, label) {
  const width = 90, height = 22;
  const node = svg("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label });
  if (points.length < 2) return node;
  const s = scales([{ points }], width, height, { left: 1, right: 1, top: 2, bottom: 2 });
  node.appendChild(svg("path", { d: path(points, s), class: "line" }));
  return node;
}

// A chart with time on x: `lines` ({points, cls, label}), shaded x `bands` ({from, to}),
// filled `areas` ({polygon: [[x, y]...], cls}); `format` prints y values.
function chart(title, lines, options) {
  const { bands = [], areas = [], format = String } = options || {};
  const width = 640, height = 220;
  const pad = { left: 64, right: 12, top: 12, bottom: 28 };
  const figureNode = el("figure", null, { class: "chart" });
  const drawn = lines.filter((l) => l.points.length > 0);
  if (drawn.length === 0) {
    figureNode.append(el("figcaption", title), el("p", "No samples in this range.", { class: "empty" }));
    return figureNode;
  }
  const extraX = bands.flatMap((b) => [b.from, b.to]).concat(areas.flatMap((a) => a.polygon.map((p) => p[0])));
  const areaLines = areas.map((a) => ({ points: a.polygon }));
  const s = scales(drawn.concat(areaLines), width, height, pad, extraX);
  const node = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (const b of bands) {
    node.appendChild(svg("rect", {
      class: "band", x: s.x(b.from), y: pad.top,
      width: Math.max(2, s.x(b.to) - s.x(b.from)), height: height - pad.top - pad.bottom,
    }));
  }
  for (const a of areas) {
    node.appendChild(svg("path", { d: path(a.polygon, s) + " Z", class: a.cls || "area" }));
  }
  node.appendChild(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }));
  node.appendChild(svg("line", { class: "axis", x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }));
  const text = (x, y, value, anchor) => {
    const t = svg("text", { x, y, "text-anchor": anchor, class: "tick" });
    t.textContent = value;
    node.appendChild(t);
  };
  text(pad.left - 4, pad.top + 8, format(s.y1), "end");
  text(pad.left - 4, height - pad.bottom, format(s.y0), "end");
  text(pad.left, height - 8, new Date(s.x0).toLocaleString(), "start");
  text(width - pad.right, height - 8, new Date(s.x1).toLocaleString(), "end");
  for (const line of drawn) {
    node.appendChild(svg("path", { d: path(line.points, s), class: "line " + (line.cls || "") }));
  }
  const legend = el("figcaption", title);
  for (const line of drawn.filter((l) => l.label)) {
    legend.append(" ", el("span", "— " + line.label, { class: "key " + (line.cls || "") }));
  }
  figureNode.append(node, legend);
  return figureNode;
}

async function history(id, range) {
  const data = await getJson("/api/v1/series/" + id + "/history?" + range);
  return data.points.filter((p) => p.value !== null).map((p) => [p.ts, p.value]);
}

// Several series on one time axis (step-aligned buckets), merged per bucket by `combine`.
async function combined(ids, range, combine) {
  const all = await Promise.all(ids.map((id) => history(id, range)));
  const buckets = new Map();
  for (const points of all) {
    for (const [ts, v] of points) {
      if (!buckets.has(ts)) buckets.set(ts, []);
      buckets.get(ts).push(v);
    }
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([ts, vs]) => [ts, combine(vs)]);
}

const sum = (vs) => vs.reduce((a, b) => a + b, 0);
const mean = (vs) => sum(vs) / vs.length;

// The stored series with exactly this name, target and label set (its id is needed for
// its history).
async function findSeries(name, target, map) {
  const data = await getJson("/api/v1/series?metric=" + encodeURIComponent(name) + "&target=" + encodeURIComponent(target));
  const key = JSON.stringify(Object.entries(map || {}).sort());
  return data.series.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === key);
}

// ---- overview ------------------------------------------------------------------------

function cell(id, text) {
  const td = el("td");
  td.appendChild(el("span", text, { id, class: "figure" }));
  return td;
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
    if (!hosts.has(target)) hosts.set(target, { disk: null, net: null, netIds: [], probes: [], probeIds: [], up: null });
    return hosts.get(target);
  };
  for (const s of snapshot.samples) {
    const h = host(s.target);
    if (s.name === CPU) { h.cpu = s.value; h.cpuId = s.id; }
    else if (s.name === MEMORY) { h.memoryUsed = s.value === null ? null : 1 - s.value; h.memoryId = s.id; }
    else if (s.name === DISK && s.value !== null && s.value >= (h.disk ?? -1)) { h.disk = s.value; h.diskId = s.id; }
    else if ((s.name === NET_IN || s.name === NET_OUT) && s.value !== null) { h.net = (h.net ?? 0) + s.value; h.netIds.push(s.id); }
    else if (s.name === "probe_success" && s.value !== null) { h.probes.push(s.value); h.probeIds.push(s.id); }
    else if (s.name === "up") h.up = s.value;
  }
  const sparks = [];
  const rows = [...hosts.entries()].sort().map(([target, h], index) => {
    const probes = h.probes.length ? percent(mean(h.probes)) + " of " + h.probes.length : "—";
    const cells = [
      cell("cpu-" + target, percent(h.cpu)),
      cell("memory-" + target, percent(h.memoryUsed)),
      cell("disk-" + target, percent(h.disk)),
      cell("network-" + target, h.net === null ? "—" : bytes(h.net) + "/s"),
      cell("probes-" + target, probes),
    ];
    if (index < SPARK_TARGETS) {
      const plan = [
        [h.cpuId ? [h.cpuId] : [], mean, (v) => v, "CPU"],
        [h.memoryId ? [h.memoryId] : [], mean, (v) => 1 - v, "memory used"],
        [h.diskId ? [h.diskId] : [], mean, (v) => v, "fullest disk"],
        [h.netIds, sum, (v) => v, "network bytes per second"],
        [h.probeIds, mean, (v) => v, "probe availability"],
      ];
      plan.forEach(([ids, combine, map, what], i) => {
        if (ids.length) sparks.push({ td: cells[i], ids, combine, map, label: what + " of " + target + ", last hour" });
      });
    }
    return row([
      el("th", target, { scope: "row" }),
      ...cells,
      el("td", h.up === 1 ? "up" : "down", { class: h.up === 1 ? "ok" : "bad" }),
    ]);
  });
  fill(document.querySelector("#hosts tbody"), rows, "No samples yet.");
  // Sparklines fill in after the figures; one failing history leaves an empty line.
  await Promise.allSettled(sparks.map(async (s) => {
    const points = (await combined(s.ids, SPARK_RANGE, s.combine)).map(([t, v]) => [t, s.map(v)]);
    s.td.appendChild(sparkline(points, s.label));
  }));
}

// ---- alerts --------------------------------------------------------------------------

function severityBadge(severity) {
  return el("span", severity, { class: "badge sev-" + severity });
}

// Runs a write, reloads the sections it changes, then says how it went (after the reload,
// so the reload's "Updated" line does not hide the outcome).
async function perform(write, loaders) {
  let message;
  try {
    message = await write();
  } catch (e) {
    message = e.message;
  }
  await refresh(loaders);
  setStatus(message);
}

function act(id, action) {
  return perform(async () => {
    try {
      await send("POST", "/api/v1/alerts/" + id + "/" + action, { by: "console" });
      return "Alert " + id + ": " + action + "d.";
    } catch (e) {
      throw new Error("Alert " + id + ": " + e.message);
    }
  }, [loadAlerts]);
}

function acknowledgeSelected() {
  const ids = [...document.querySelectorAll("#alerts-table tbody input[type=checkbox]:checked")].map((c) => c.value);
  return perform(async () => {
    const failed = [];
    for (const id of ids) {
      try {
        await send("POST", "/api/v1/alerts/" + id + "/acknowledge", { by: "console" });
      } catch (e) {
        failed.push(id + ": " + e.message);
      }
    }
    return failed.length ? "Not acknowledged: " + failed.join("; ") : ids.length + " alerts acknowledged.";
  }, [loadAlerts]);
}

function updateBulk() {
  const boxes = [...document.querySelectorAll("#alerts-table tbody input[type=checkbox]")];
  const checked = boxes.filter((b) => b.checked).length;
  const bulk = document.getElementById("ack-selected");
  bulk.disabled = checked === 0;
  bulk.textContent = "Acknowledge selected (" + checked + ")";
  const all = document.getElementById("select-all");
  all.checked = boxes.length > 0 && checked === boxes.length;
  all.indeterminate = checked > 0 && checked < boxes.length;
}

// The silence form, filled in from one alert: its name and labels as exact matchers.
function prepareSilence(alert) {
  document.getElementById("silence-matchers").value =
    labels(Object.assign({ alertname: alert.name }, alert.labels));
  const comment = document.getElementById("silence-comment");
  comment.value = "";
  document.getElementById("silences").scrollIntoView();
  comment.focus();
}

function alertQuery() {
  const params = new URLSearchParams({ limit: "500" });
  const value = (id) => document.getElementById(id).value;
  if (value("filter-severity")) params.set("severity", value("filter-severity"));
  if (value("filter-state")) params.set("state", value("filter-state"));
  if (value("filter-since")) params.set("start", value("filter-since"));
  return params.toString();
}

async function loadAlerts() {
  const [open, data] = await Promise.all([
    getJson("/api/v1/alerts?state=firing,acknowledged&limit=10000"),
    getJson("/api/v1/alerts?" + alertQuery()),
  ]);
  document.getElementById("open-alerts").textContent = String(open.alerts.length);
  const counts = document.getElementById("open-by-severity");
  counts.replaceChildren();
  for (const severity of SEVERITIES) {
    const n = open.alerts.filter((a) => a.severity === severity).length;
    const badge = severityBadge(severity + " " + n);
    badge.id = "open-" + severity;
    counts.appendChild(badge);
  }
  const showSilenced = document.getElementById("filter-silenced").checked;
  const shown = data.alerts.filter((a) => showSilenced || !a.silenced_by);
  const hidden = data.alerts.length - shown.length;
  document.getElementById("alerts-count").textContent = shown.length + " shown" +
    (hidden ? ", " + hidden + " silenced hidden" : "") + (data.truncated ? " (more exist: narrow the filter)" : "");
  const rows = shown.map((a) => {
    const pick = el("td");
    if (a.state === "firing") {
      const box = el("input", null, { type: "checkbox", value: String(a.id), "aria-label": "Select alert " + a.id });
      box.addEventListener("change", updateBulk);
      pick.appendChild(box);
    }
    const actions = el("td");
    if (a.state === "firing") {
      const ack = button("Acknowledge", "Acknowledge alert " + a.id, () => act(a.id, "acknowledge"));
      ack.dataset.action = "acknowledge";
      actions.appendChild(ack);
    }
    if (a.state !== "resolved") {
      const resolve = button("Resolve", "Resolve alert " + a.id, () => act(a.id, "resolve"));
      resolve.dataset.action = "resolve";
      const silence = button("Silence…", "Silence alerts like " + a.id, () => prepareSilence(a));
      silence.dataset.action = "silence";
      actions.append(resolve, silence);
    }
    const severity = el("td");
    severity.appendChild(severityBadge(a.severity));
    const state = a.state + (a.acknowledged_by ? " by " + a.acknowledged_by : "") + (a.silenced_by ? " (silenced)" : "");
    const tr = row([
      pick,
      severity,
      el("td", state, { class: "state" }),
      el("td", a.name),
      el("td", labels(a.labels)),
      el("td", a.summary),
      el("td", time(a.started_at) + (a.resolved_at ? " – " + time(a.resolved_at) : "")),
      actions,
    ]);
    tr.id = "alert-" + a.id;
    tr.className = "state-" + a.state;
    return tr;
  });
  fill(document.querySelector("#alerts-table tbody"), rows, "No alerts match.");
  updateBulk();
}

function setupAlerts() {
  for (const id of ["filter-severity", "filter-state", "filter-since", "filter-silenced"]) {
    document.getElementById(id).addEventListener("change", () => refresh([loadAlerts]));
  }
  document.getElementById("alert-filters").addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("select-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll("#alerts-table tbody input[type=checkbox]")) {
      box.checked = event.target.checked;
    }
    updateBulk();
  });
  document.getElementById("ack-selected").addEventListener("click", acknowledgeSelected);
}

// ---- silences ------------------------------------------------------------------------

// "a=b, c=d" → {a: "b", c: "d"}; the message names the part that is not `name=value`.
function parseMatchers(text) {
  const matchers = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf("=");
    if (at <= 0) throw new Error("matcher " + JSON.stringify(part) + " is not name=value");
    matchers[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return matchers;
}

async function loadSilences() {
  const data = await getJson("/api/v1/silences");
  const rows = data.silences.map((s) => {
    const actions = el("td");
    if (s.active) {
      const expire = button("Expire", "Expire silence " + s.id, () => perform(async () => {
        await send("DELETE", "/api/v1/silences/" + s.id);
        return "Silence " + s.id + " expired.";
      }, [loadSilences, loadAlerts]));
      expire.dataset.action = "expire";
      actions.appendChild(expire);
    }
    const tr = row([
      el("td", labels(s.matchers)),
      el("td", s.active ? "active" : "expired", { class: s.active ? "ok" : "" }),
      el("td", time(s.ends_at)),
      el("td", s.created_by),
      el("td", s.comment),
      actions,
    ]);
    tr.id = "silence-" + s.id;
    return tr;
  });
  fill(document.querySelector("#silences-table tbody"), rows, "No silences.");
}

function setupSilences() {
  document.getElementById("silence-form").addEventListener("submit", (event) => {
    event.preventDefault();
    perform(async () => {
      try {
        const matchers = parseMatchers(document.getElementById("silence-matchers").value);
        const body = await send("POST", "/api/v1/silences", {
          matchers,
          duration: document.getElementById("silence-duration").value.trim(),
          comment: document.getElementById("silence-comment").value,
          created_by: "console",
        });
        document.getElementById("silence-matchers").value = "";
        return "Silence " + body.silence.id + " created.";
      } catch (e) {
        throw new Error("Silence not created: " + e.message);
      }
    }, [loadSilences, loadAlerts]);
  });
}

// ---- anomalies -----------------------------------------------------------------------

async function showAnomaly(e) {
  const detail = document.getElementById("anomaly-detail");
  detail.hidden = false;
  detail.replaceChildren(el("p", "Loading " + seriesName(e.metric, e.labels) + "…", { class: "sub" }));
  const end = e.end_ms || e.last_ms || Date.now();
  const range = "start=" + (e.start_ms - 15 * MINUTE) / 1000 + "&end=" + Math.min(Date.now(), end + 15 * MINUTE) / 1000;
  const seriesChart = async (metric, target, map, title, band) => {
    const s = await findSeries(metric, target, map);
    if (!s) return el("p", title + ": series no longer stored.", { class: "empty" });
    const points = await history(s.id, range);
    return chart(title, [{ points }], { bands: band ? [{ from: e.start_ms, to: end }] : [], format: (v) => figure(v, metric) });
  };
  const charts = [seriesChart(e.metric, e.target, e.labels, seriesName(e.metric, e.labels) + " on " + e.target + " (anomaly shaded)", true)];
  for (const c of e.correlations) {
    charts.push(seriesChart(c.metric, c.target, c.labels, c.hint, true));
  }
  const nodes = await Promise.all(charts.map((p) => p.catch((err) => el("p", err.message, { class: "bad" }))));
  const close = button("Close", "Close anomaly detail", () => { detail.hidden = true; });
  detail.replaceChildren(el("h3", "Anomaly " + e.id), ...nodes, close);
  detail.focus();
}

async function loadAnomalies() {
  const data = await getJson("/api/v1/anomalies?limit=100");
  const rows = data.events.map((e) => row([
    el("td", seriesName(e.metric, e.labels)),
    el("td", e.target),
    el("td", e.peak_score === null ? "—" : e.peak_score.toFixed(2)),
    el("td", time(e.start_ms)),
    el("td", e.end_ms ? time(e.end_ms) : "active"),
    el("td", e.correlations.map((c) => c.hint).join("\n") || "—", { class: "pre" }),
    (() => { const td = el("td"); td.appendChild(button("Chart", "Chart anomaly " + e.id, () => showAnomaly(e))); return td; })(),
  ]));
  fill(document.querySelector("#anomalies-table tbody"), rows, "No anomalies in the last 24 hours.");
}

// ---- forecasts -----------------------------------------------------------------------

function when(seconds) {
  return seconds === null ? "beyond horizon" : new Date(seconds * 1000).toLocaleString();
}

// The last week of the series, then the central forecast to `expected` and the prediction
// interval as the wedge between the earliest and latest crossings of the limit.
async function showForecast(f) {
  const detail = document.getElementById("forecast-detail");
  detail.hidden = false;
  detail.replaceChildren(el("p", "Loading " + seriesName(f.series, f.labels) + "…", { class: "sub" }));
  try {
    const s = await findSeries(f.series, f.instance, f.labels);
    const points = s ? await history(s.id, "start=-7d&step=1h") : [];
    const at = f.at * 1000;
    const toward = f.limit >= f.current ? 1 : -1;
    // Where the trend alone would be a week on, when the limit is not within the horizon.
    const weekOn = [at + 7 * 1440 * MINUTE, f.current + toward * f.trend_per_second * 7 * 86400];
    const end = (t) => (t === null ? weekOn : [t * 1000, f.limit]);
    const crossings = [f.expected, f.earliest, f.latest].filter((t) => t !== null).map((t) => t * 1000);
    const last = crossings.length ? Math.max(...crossings) : weekOn[0];
    const first = points.length ? points[0][0] : at;
    const lines = [
      { points, label: "history" },
      { points: [[at, f.current], end(f.expected)], cls: "forecast", label: "expected" },
      { points: [[first, f.limit], [last, f.limit]], cls: "limit", label: "limit" },
    ];
    const areas = f.earliest !== null
      ? [{ polygon: [[at, f.current], end(f.earliest), end(f.latest)], cls: "interval" }]
      : [];
    const title = f.resource + " " + seriesName(f.series, f.labels) + " on " + f.instance +
      (areas.length ? " (prediction interval shaded)" : "");
    const close = button("Close", "Close forecast detail", () => { detail.hidden = true; });
    detail.replaceChildren(el("h3", "Forecast"), chart(title, lines, { areas, format: (v) => figure(v, f.series) }), close);
    detail.focus();
  } catch (e) {
    detail.replaceChildren(el("p", e.message, { class: "bad" }));
  }
}

async function loadForecasts() {
  const data = await getJson("/api/v1/forecasts");
  const rows = data.forecasts.map((f) => row([
    el("td", f.resource),
    el("td", f.instance),
    el("td", seriesName(f.series, f.labels)),
    el("td", figure(f.current, f.series)),
    el("td", when(f.expected)),
    el("td", when(f.earliest) + " – " + when(f.latest)),
    (() => { const td = el("td"); td.appendChild(button("Chart", "Chart forecast of " + f.series, () => showForecast(f))); return td; })(),
  ]));
  fill(document.querySelector("#forecasts-table tbody"), rows,
    data.error ? "Last analysis failed: " + data.error : "No forecasts yet (a series needs a few analysis steps).");
}

// ---- recommendations -----------------------------------------------------------------

// A modal yes/no question; Escape and Cancel answer no. Focus starts on Cancel, so a stray
// Enter never changes a server.
function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  const yes = document.getElementById("confirm-yes");
  const no = document.getElementById("confirm-no");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.onclick = null;
      no.onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    yes.onclick = () => done(true);
    no.onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
    no.focus();
  });
}

async function applyRecommendation(r) {
  const c = r.change;
  const question = "Set maxmemory of Redis " + c.address + " from " + bytes(c.from) + " to " +
    bytes(c.to) + " (clamped to its configured bounds) now?";
  if (!(await confirmAction(question))) return;
  await perform(async () => {
    const body = await send("POST", "/api/v1/recommendations/" + encodeURIComponent(r.id) + "/apply");
    const a = body.action;
    return "Applied " + r.id + ": " + a.setting + " " + bytes(a.from) + " → " + bytes(a.to) + ", " + a.outcome + ".";
  }, [loadRecommendations]);
}

async function loadRecommendations() {
  const data = await getJson("/api/v1/recommendations");
  const list = document.getElementById("recommendations-list");
  list.replaceChildren(...data.recommendations.map((r) => {
    const item = el("li", null, { class: "rec", id: "rec-" + r.id });
    const head = el("p");
    head.append(severityBadge(r.severity), " ", el("strong", r.summary),
      el("span", " confidence " + percent(r.confidence), { class: "sub" }));
    item.append(head, el("p", r.action));
    const evidence = el("details");
    evidence.append(el("summary", "Evidence"), el("pre", JSON.stringify(r.evidence, null, 2)));
    item.appendChild(evidence);
    // Apply only where apply mode covers the server (`applicable`): the change is opt-in.
    if (r.applicable && r.change) {
      const apply = button("Apply…", "Apply recommendation " + r.id, () => applyRecommendation(r));
      apply.dataset.action = "apply";
      item.appendChild(apply);
    }
    const log = data.actions.filter((a) => a.recommendation === r.id);
    if (log.length) {
      const last = log[log.length - 1];
      item.appendChild(el("p", "Last action " + new Date(last.at * 1000).toLocaleString() + ": " + last.setting +
        " " + bytes(last.from) + " → " + bytes(last.to) + ", " + last.outcome, { class: "sub" }));
    }
    return item;
  }));
  if (data.recommendations.length === 0) list.appendChild(el("li", "No recommendations.", { class: "empty" }));
}

// ---- reports -------------------------------------------------------------------------

function setupReports() {
  const period = document.getElementById("report-period");
  const update = () => {
    for (const format of ["html", "pdf", "csv", "json"]) {
      document.getElementById("report-" + format).href =
        "/api/v1/reports?period=" + encodeURIComponent(period.value) + "&format=" + format;
    }
  };
  period.addEventListener("change", update);
  document.getElementById("report-form").addEventListener("submit", (event) => event.preventDefault());
  update();
}

// ---- wiring --------------------------------------------------------------------------

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
    source.addEventListener(kind, () => refresh([loadAlerts, loadSilences]));
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
    refresh([loadAlerts, loadSilences]);
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    show();
    setStatus("Token forgotten.");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  setupAlerts();
  setupSilences();
  setupReports();
  const all = [loadOverview, loadAlerts, loadSilences, loadAnomalies, loadForecasts, loadRecommendations];
  refresh(all);
  setInterval(() => refresh(all), 30000);
});
// After the load event, so a page load (and a test waiting for it) never waits on the stream.
window.addEventListener("load", subscribe);

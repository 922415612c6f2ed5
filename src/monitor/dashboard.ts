// The dashboard `polis monitor` serves at `/`: one page, no build step, uPlot served from this
// install's node_modules (never a CDN). It polls the JSON API (server.ts) and redraws: the
// containers with state and health, CPU and memory over time (history from the state database,
// so the charts have data from before the page was opened), recent events, and one container's
// log tail and health history when its row is clicked.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../paths.js";

/** uPlot's files, read once from node_modules. */
export function uplotAsset(file: "uPlot.iife.min.js" | "uPlot.min.css"): Buffer {
  const req = createRequire(join(packageRoot(), "package.json"));
  return readFileSync(join(req.resolve("uplot/package.json"), "..", "dist", file));
}

export function dashboardHtml(intervalMs: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polis monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="static/uplot.css">
<style>
 body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
 h1{font-size:1.3em;margin:0 0 .8em} h2{font-size:1.05em;margin:1.4em 0 .5em}
 table{border-collapse:collapse;min-width:60%} td,th{padding:.25em .8em;text-align:left;border-bottom:1px solid #ddd}
 tr.container{cursor:pointer} tr.container:hover{background:#f3f6fa} tr.selected{background:#e4edf8}
 .charts{display:flex;flex-wrap:wrap;gap:1.5em} .healthy{color:#1a7f37} .unhealthy{color:#cf222e} .starting{color:#9a6700}
 pre{background:#f6f8fa;padding:.6em;max-height:20em;overflow:auto} #events li{font-family:monospace;font-size:12px}
</style></head><body>
<h1>polis monitor</h1>
<table id="containers"><thead><tr><th>ID</th><th>NAME</th><th>IMAGE</th><th>STATE</th><th>HEALTH</th><th>CPU %</th><th>MEMORY</th><th>PIDS</th></tr></thead><tbody></tbody></table>
<div class="charts"><div><h2>CPU % <small id="cpu-note"></small></h2><div id="cpu"></div></div><div><h2>Memory (MiB) <small id="mem-note"></small></h2><div id="mem"></div></div></div>
<div id="detail" hidden><h2 id="detail-title"></h2><h3>Health</h3><pre id="detail-health"></pre><h3>Log (last lines)</h3><pre id="detail-log"></pre></div>
<h2>Firing alerts</h2><ul id="alerts"></ul>
<h2>Recent events</h2><ul id="events"></ul>
<script src="static/uplot.js"></script>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const api = (path) => fetch(path + (token ? (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : "")).then((r) => { if (!r.ok) throw new Error(path + ": HTTP " + r.status); return r.json(); });
const INTERVAL = ${Math.max(500, Math.min(intervalMs, 5000))};
const WINDOW_S = 15 * 60;
const palette = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a3069", "#57606a"];
// A chart of a hundred lines says nothing: each shows the TOP containers by their latest value
// (and the selected one), in id order so that the set changes, and the chart is rebuilt, rarely.
// (Not named "top": that is window.top, and a global function of that name stops the script.)
const TOP = palette.length;
function topSeries(id, key, series) {
  const note = document.getElementById(id + "-note");
  if (series.length <= TOP) { note.textContent = ""; return series; }
  const last = (s) => (s.points.length ? s.points[s.points.length - 1][key] : 0);
  const pick = [...series].sort((a, b) => last(b) - last(a) || (a.id < b.id ? -1 : 1)).slice(0, TOP);
  const sel = series.find((s) => s.id === selected);
  if (sel && !pick.includes(sel)) pick.push(sel);
  note.textContent = "top " + TOP + " of " + series.length;
  return pick.sort((a, b) => (a.id < b.id ? -1 : 1));
}
window.polisCharts = {};
window.polisUpdates = 0;
let selected = null;
const text = (el, t) => { el.textContent = t; return el; };
const cell = (tr, t, cls) => { const td = text(document.createElement("td"), t); if (cls) td.className = cls; tr.appendChild(td); };
const mib = (b) => (b / 1048576).toFixed(1) + " MiB";

function chart(id, key, series) {
  // one x axis (seconds) and one series per container; rebuilt when the set of containers changes
  const el = document.getElementById(id);
  const names = series.map((s) => s.id).join(",");
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const data = [xs, ...series.map((s) => { const m = new Map(s.points.map((p) => [p[0], p[key]])); return xs.map((x) => m.has(x) ? m.get(x) : null); })];
  let c = window.polisCharts[id];
  if (!c || c.names !== names) {
    if (c) c.plot.destroy();
    const opts = { width: 520, height: 240, series: [{}, ...series.map((s, i) => ({ label: s.id.slice(0, 16), stroke: palette[i % palette.length], spanGaps: true }))], axes: [{}, { size: 60 }], scales: { x: { time: true } } };
    c = window.polisCharts[id] = { names, plot: new uPlot(opts, data, el) };
  } else c.plot.setData(data);
  c.data = data;
}

async function refresh() {
  const [list, hist, events, alerts] = await Promise.all([api("api/containers"), api("api/history?since=" + (Date.now() - WINDOW_S * 1000)), api("api/events?limit=30"), api("api/alerts")]);
  const firing = document.getElementById("alerts");
  firing.replaceChildren(...(alerts.length ? alerts.map((a) => { const li = text(document.createElement("li"), a.rule + " on " + a.id + " since " + a.since); li.className = "unhealthy"; return li; }) : [text(document.createElement("li"), "none")]));
  const tbody = document.querySelector("#containers tbody");
  tbody.replaceChildren();
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.className = "container" + (c.id === selected ? " selected" : "");
    tr.dataset.id = c.id;
    cell(tr, c.id.slice(0, 16)); cell(tr, c.name); cell(tr, c.image || "-"); cell(tr, c.status);
    cell(tr, c.health || "-", c.health || ""); cell(tr, c.cpuPercent == null ? "-" : c.cpuPercent.toFixed(1) + "%");
    cell(tr, c.memBytes == null ? "-" : mib(c.memBytes)); cell(tr, c.pids == null ? "-" : String(c.pids));
    tr.onclick = () => { selected = c.id; detail(); refresh(); };
    tbody.appendChild(tr);
  }
  chart("cpu", 1, topSeries("cpu", 1, hist.series));
  chart("mem", 2, topSeries("mem", 2, hist.series.map((s) => ({ id: s.id, points: s.points.map((p) => [p[0], p[1], p[2] / 1048576]) }))));
  const ul = document.getElementById("events");
  ul.replaceChildren(...events.reverse().map((e) => text(document.createElement("li"), e.time + " " + e.type + " " + e.action + " " + e.id + " " + JSON.stringify(e.attributes))));
  window.polisUpdates++;
}

async function detail() {
  if (!selected) return;
  const d = await api("api/containers/" + encodeURIComponent(selected));
  document.getElementById("detail").hidden = false;
  text(document.getElementById("detail-title"), d.id + " (" + d.status + ")");
  text(document.getElementById("detail-health"), d.health ? d.health.status + "\\n" + d.health.log.map((r) => r.start + "  exit " + r.exitCode + "  " + r.output.trim()).join("\\n") : "no health check");
  const logEl = text(document.getElementById("detail-log"), d.logTail.join("\\n") || "(no log)");
  logEl.scrollTop = logEl.scrollHeight; // the newest lines in view
}

async function loop() {
  try { await refresh(); if (selected) await detail(); } catch (e) { console.warn(e.message); }
  setTimeout(loop, INTERVAL);
}
loop();
</script></body></html>
`;
}

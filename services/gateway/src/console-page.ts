/**
 * The console: one static page, no build step and no library. It holds no data itself: it asks
 * for an admin key (kept in sessionStorage for the tab), polls /v1/admin/overview every 2 s and
 * draws what it gets (the charts arrive as SVG from the one chart module). Rollback posts to
 * /v1/admin/rollback. Every number has a data-metric attribute so tests can read it.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>recfleet console</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #111; background: #f6f7f9; }
  header { background: #1f2937; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
  section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; }
  h2 { font-size: 15px; margin: 4px 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; }
  .ok { color: #047857; } .bad { color: #b91c1c; }
  #login { padding: 20px; } #status { margin-left: auto; font-size: 12px; }
  button { cursor: pointer; }
  #chart-throughput svg, #chart-ctr svg { width: 100%; height: auto; }
</style>
</head>
<body>
<header><h1>recfleet console</h1><span id="status">not connected</span></header>
<div id="login">
  <label>Admin API key <input id="key" type="password" size="60" autocomplete="off"></label>
  <button id="connect">Connect</button> <span id="login-error" class="bad"></span>
</div>
<main id="panels" hidden>
  <section><h2>Workers</h2><table id="workers"></table></section>
  <section><h2>Totals</h2><table>
    <tr><td>events ingested</td><td data-metric="events" id="total-events">–</td></tr>
    <tr><td>recommendations served</td><td data-metric="recommendations" id="total-recommendations">–</td></tr>
  </table>
  <h2>Consumer lag (messages)</h2><table id="lag"></table>
  <h2>Dead letters by reason</h2><table id="dlq"></table></section>
  <section><h2>Models</h2><table id="models"></table>
    <p><button id="rollback">Roll back to the previous version</button> <span id="rollback-result"></span></p></section>
  <section><h2>Policies</h2><table id="policies"></table></section>
  <section><h2>Throughput</h2><div id="chart-throughput"></div></section>
  <section><h2>CTR over time</h2><div id="chart-ctr"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const fmt = (n, d = 0) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
const rows = (el, head, list) => { el.innerHTML = "<tr>" + head.map((h) => "<th>" + esc(h) + "</th>").join("") + "</tr>" + list.join(""); };
let key = sessionStorage.getItem("recfleet-key") || "";
let timer;
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { authorization: "Bearer " + key, ...(init.headers || {}) } });
  const body = await res.json();
  if (!res.ok) throw new Error(res.status + " " + body.error + ": " + body.detail);
  return body;
}
function render(o) {
  $("status").textContent = "updated " + new Date(o.at).toLocaleTimeString();
  $("status").dataset.at = String(o.at);
  $("total-events").textContent = fmt(o.totals.events);
  $("total-events").dataset.value = String(o.totals.events);
  $("total-recommendations").textContent = fmt(o.totals.recommendations);
  $("total-recommendations").dataset.value = String(o.totals.recommendations);
  rows($("workers"), ["worker", "health", "ready"], o.workers.map((w) =>
    "<tr data-worker=\\"" + esc(w.name) + "\\"><td>" + esc(w.name) + "</td><td class=" + (w.healthy ? "ok" : "bad") + ">" + (w.healthy ? "up" : "down") +
    "</td><td class=" + (w.ready ? "ok" : "bad") + " title=\\"" + esc(w.readyDetail) + "\\">" + (w.ready ? "ready" : "not ready") + "</td></tr>"));
  rows($("lag"), ["group", "lag"], Object.entries(o.lag).map(([g, v]) => "<tr><td>" + esc(g) + "</td><td>" + fmt(v) + "</td></tr>"));
  rows($("dlq"), ["reason", "count"], Object.entries(o.deadLetters).map(([r, v]) => "<tr><td>" + esc(r) + "</td><td>" + fmt(v) + "</td></tr>"));
  rows($("models"), ["version", "status", "recall", "ndcg", "created"], o.models.slice().reverse().map((m) =>
    "<tr data-version=\\"" + esc(m.version) + "\\"" + (m.current ? " data-current=\\"1\\"" : "") + "><td>" + esc(m.version) + (m.current ? " ★" : "") + "</td><td>" + esc(m.status) +
    "</td><td>" + fmt(m.metrics.recall ?? m.metrics["recall@20"], 4) + "</td><td>" + fmt(m.metrics.ndcg ?? m.metrics["ndcg@20"], 4) + "</td><td>" + new Date(m.createdAt).toLocaleTimeString() + "</td></tr>"));
  rows($("policies"), ["policy", "impressions", "clicks", "CTR", "lift", "coverage"], o.policies.map((p) =>
    "<tr><td>" + esc(p.policy) + "</td><td>" + fmt(p.impressions) + "</td><td>" + fmt(p.clicks) + "</td><td>" + fmt(p.ctr, 4) +
    "</td><td>" + fmt(p.lift, 2) + "</td><td>" + fmt(p.coverage * 100, 1) + "%</td></tr>"));
  $("chart-throughput").innerHTML = o.charts.throughput;
  $("chart-ctr").innerHTML = o.charts.ctr;
}
async function poll() {
  try { render(await api("/v1/admin/overview")); }
  catch (err) { $("status").textContent = String(err.message); }
}
async function connect() {
  key = $("key").value.trim() || key;
  try {
    render(await api("/v1/admin/overview"));
    sessionStorage.setItem("recfleet-key", key);
    $("login").hidden = true;
    $("panels").hidden = false;
    clearInterval(timer);
    timer = setInterval(poll, 2000);
  } catch (err) { $("login-error").textContent = String(err.message); }
}
$("connect").addEventListener("click", connect);
$("rollback").addEventListener("click", async () => {
  $("rollback-result").textContent = "rolling back…";
  try {
    const r = await api("/v1/admin/rollback", { method: "POST" });
    $("rollback-result").textContent = "rolled back " + r.rolledBack.from + " → " + r.rolledBack.to;
    await poll();
  } catch (err) { $("rollback-result").textContent = String(err.message); }
});
if (key) void connect();
</script>
</body>
</html>
`;

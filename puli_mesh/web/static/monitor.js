// The monitor's page: reads /api/ and /monitor-api/ as the logged-in caller, polls every
// poll_interval_s while the tab is visible, and offers only the actions the caller's role may make
// (/monitor-api/meta says which, from the mesh's permission table; the leader still decides).
import { drawCharts } from "/monitor/static/charts.js";

const PAGE_SIZE = 50;
const NODES_SHOWN = 200;
const CHARTS_EVERY_S = 30;
const state = { meta: null, view: "jobs", filters: {}, cursors: [null], page: 0, next: null,
                job: null, timer: null, chartsAt: 0, follow: null };

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function showError(message) { document.getElementById("error").textContent = message || ""; }

async function call(path, options = {}) {
  const answer = await fetch(path, { credentials: "same-origin", ...options });
  if (answer.status === 401) { location.href = "/login"; throw new Error("log in"); }
  const body = await answer.json();
  if (!answer.ok) throw new Error(`${body.code || answer.status}: ${body.message || answer.statusText}`);
  return body;
}

function post(path, body = {}) {
  return call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.append(k, v);
  return q.toString();
}

// A bar of used/total; `whenFull` is its class when full ("full": a warning, "done": progress).
function bar(used, total, text, whenFull = "full") {
  const share = total > 0 ? Math.min(1, used / total) : 0;
  return h("span", {}, h("span", { class: "bar" + (share >= 1 ? ` ${whenFull}` : "") },
                          h("span", { style: `width:${(share * 100).toFixed(1)}%` })), " ", text);
}

export function duration(seconds) {
  if (seconds === null || !isFinite(seconds)) return "";
  const s = Math.round(seconds), hours = Math.floor(s / 3600), minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}h${String(minutes).padStart(2, "0")}m` : minutes ? `${minutes}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

// Remaining commands x average time per frame / commands running now: none while nothing runs.
export function eta(job) {
  const left = job.commandCount - job.doneCommandCount;
  if (!job.running || !job.avg_time_per_frame_s || left <= 0) return null;
  return left * job.avg_time_per_frame_s / job.running;
}

// ------------------------------------------------------------------------------ jobs
function jobActions(job) {
  const offered = state.meta.offered[job.user === state.meta.me.name ? "own" : "others"];
  const act = (label, name, run) => offered.includes(name)
    ? h("button", { "data-action": label, title: label, onclick: () => run().then(refresh, e => showError(e.message)) }, label)
    : null;
  const path = `/api/jobs/${job.id}`;
  const ask = (what, current) => { const v = prompt(`${what} of job ${job.id}`, current); return v === null ? null : Number(v); };
  return h("td", { class: "actions" },
    act("pause", "pause", () => post(`${path}/pause`)),
    act("resume", "resume", () => post(`${path}/resume`)),
    act("cancel", "cancel", () => confirm(`Cancel job ${job.id} (${job.name})?`) ? post(`${path}/cancel`) : Promise.resolve()),
    act("restart errors", "restart", () => post(`${path}/restart`, { errors_only: true })),
    act("priority", "set", () => { const v = ask("priority", job.priority); return v === null ? Promise.resolve() : post(`${path}/set`, { priority: v }); }),
    act("maxRN", "set", () => { const v = ask("maxRN", job.maxRN); return v === null ? Promise.resolve() : post(`${path}/set`, { maxRN: v }); }));
}

function jobRow(job) {
  return h("tr", { "data-job": job.id },
    h("td", {}, job.id),
    h("td", { class: "name" }, h("a", { onclick: () => openJob(job.id) }, job.name)),
    h("td", {}, job.user), h("td", {}, job.pool),
    h("td", { class: `status status-${job.status_name}` }, job.status_name),
    h("td", { class: "progress" }, bar(job.doneCommandCount, job.commandCount, `${job.doneCommandCount}/${job.commandCount}`, "done")),
    h("td", { class: "eta" }, duration(eta(job))),
    h("td", {}, job.priority), h("td", {}, job.maxRN),
    jobActions(job));
}

function jobFilters() {
  const f = state.filters;
  return { user: f.user, status: f.status, pool: f.pool, name: f.name,
           since: f.age ? (Date.now() / 1000 - Number(f.age)).toFixed(0) : "" };
}

async function refreshJobs() {
  const [page, figures] = await Promise.all([
    call(`/api/jobs?${query({ ...jobFilters(), limit: PAGE_SIZE, reverse: true, cursor: state.cursors[state.page] })}`),
    call("/monitor-api/figures")]);
  state.next = page.cursor;
  offerShares(figures.shares);
  document.querySelector("#jobs tbody").replaceChildren(...page.items.map(jobRow));
  document.getElementById("job-counts").replaceChildren(
    ...Object.entries(figures.jobs_by_status).map(([name, n]) => h("span", { class: `status-${name}` }, `${name} ${n}`)),
    h("span", {}, `${figures.running} commands running, ${figures.ready} ready`));
  document.getElementById("page-no").textContent = `page ${state.page + 1}`;
  document.getElementById("prev").disabled = state.page === 0;
  document.getElementById("next").disabled = state.next === null;
  if (state.job !== null) await refreshJob();
}

// ------------------------------------------------------------------------ a job's tree
function commandRows(commands) {
  return h("table", {}, h("tr", {}, ["command", "status", "node", "attempt", "message", ""].map(t => h("th", {}, t))),
    commands.map(c => h("tr", { "data-command": c.id },
      h("td", {}, `${c.id} ${c.description || ""}`),
      h("td", { class: `status-${c.status_name}` }, c.status_name),
      h("td", {}, c.render_node || c.last_node || ""),
      h("td", {}, `${c.attempts}/${c.max_attempt}`),
      h("td", { class: "name" }, c.message || ""),
      h("td", {}, h("button", { "data-log": c.id, onclick: () => followLog(c.id) }, "log")))));
}

function treeNode(node) {
  const head = h("span", {}, `${node.type} ${node.name} `, h("span", { class: `status-${node.status_name}` }, node.status_name),
                 " ", bar(node.doneCommandCount, node.commandCount, `${node.doneCommandCount}/${node.commandCount}`, "done"));
  const omitted = node.children_omitted || node.commands_omitted;
  return h("li", {}, head,
    node.children ? h("ul", {}, node.children.map(treeNode)) : null,
    node.commands ? commandRows(node.commands) : null,
    omitted ? h("div", {}, `(${omitted} more not shown)`) : null);
}

async function refreshJob() {
  const tree = await call(`/api/jobs/${state.job}`);
  document.getElementById("job-title").textContent = `Job ${tree.id}: ${tree.name} (${tree.user})`;
  document.getElementById("job-tree").replaceChildren(h("ul", { class: "tree" }, treeNode(tree)));
}

function openJob(id) {
  state.job = id;
  document.getElementById("job-detail").hidden = false;
  refreshJob().catch(e => showError(e.message));
}

// Live follow over server-sent events; after a dropped connection, again from the last offset.
function followLog(commandId, offset = 0) {
  if (state.follow) state.follow.close();
  const pre = document.getElementById("log");
  if (offset === 0) pre.textContent = "";
  document.getElementById("log-viewer").hidden = false;
  document.getElementById("log-command").textContent = commandId;
  document.getElementById("log-state").textContent = "(following)";
  const source = new EventSource(`/api/commands/${commandId}/log/follow?offset=${offset}`);
  state.follow = source;
  let at = offset;
  const stop = (why) => { source.close(); document.getElementById("log-state").textContent = why; };
  source.onmessage = (e) => {
    const piece = JSON.parse(e.data);
    at = piece.offset;
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(piece.text);
    if (follow) pre.scrollTop = pre.scrollHeight;
  };
  source.addEventListener("end", () => stop("(ended)"));
  source.addEventListener("timeout", () => followLog(commandId, at));
  source.addEventListener("error", (e) => {
    if (e.data) { stop(`(${JSON.parse(e.data).message})`); return; }
    stop("(reconnecting)");
    setTimeout(() => { if (state.follow === source) followLog(commandId, at); }, 2000);
  });
}

// ------------------------------------------------------------------------------ nodes
function nodeRow(node) {
  const path = `/api/nodes/${encodeURIComponent(node.name)}`;
  const used = node.ram_mb - node.free_ram_mb;
  return h("tr", { "data-node": node.name },
    h("td", {}, node.name, node.leader ? " (leader)" : ""),
    h("td", {}, node.state, node.reason ? ` (${node.reason})` : ""),
    h("td", {}, bar(node.running, node.slots, `${node.running}/${node.slots}`)),
    h("td", {}, bar(node.cpu_percent, 100, `${Math.round(node.cpu_percent)}%`)),
    // the load average as its worker reports it (live: it goes to the leader as it changes)
    h("td", { class: "load" }, typeof node.load === "number" ? node.load.toFixed(2) : ""),
    h("td", {}, bar(used, node.ram_mb, `${Math.round(used / 1024)}/${Math.round(node.ram_mb / 1024)} GB`)),
    h("td", { class: "name" }, node.running_commands.join(" ")),
    h("td", { class: "actions" }, state.meta.offered.nodes.map(action =>
      h("button", { "data-action": action, onclick: () => post(`${path}/${action}`).then(refresh, e => showError(e.message)) }, action))));
}

async function refreshNodes() {
  const name = state.nodeName;
  let nodes, summary;
  if (name) {
    nodes = await call(`/api/nodes?${query({ name })}`);
  } else {
    const status = await call(`/api/status?nodes_limit=${NODES_SHOWN}`);
    nodes = status.nodes; summary = status.summary;
    offerShares(status.shares);
  }
  document.querySelector("#nodes tbody").replaceChildren(...nodes.map(nodeRow));
  document.getElementById("node-counts").replaceChildren(...(summary ? [
    h("span", {}, `${summary.nodes} nodes (${Math.min(nodes.length, summary.nodes)} shown)`),
    ...Object.entries(summary.states).map(([s, n]) => h("span", {}, `${s} ${n}`)),
    h("span", {}, `slots ${summary.running}/${summary.slots}`)] : [h("span", {}, `${nodes.length} nodes match`)]));
}

async function refreshLicences() {
  const licences = await call("/api/licences");
  document.querySelector("#licences tbody").replaceChildren(...licences.map(l =>
    h("tr", { "data-licence": l.name }, h("td", {}, l.name), h("td", {}, bar(l.used, l.total, `${l.used}/${l.total}`)))));
}

// ------------------------------------------------------------------------------ shares
// The words of `puli-mesh shares list`: at its cap (no slot until a command ends), below its
// guarantee while work of it waits (`ready`: an idle account below its guarantee is owed nothing).
export function shareState(s) {
  return s.max > 0 && s.use >= s.max ? "at cap" : s.use < s.min && s.ready > 0 ? "below guarantee" : "";
}

// An account's use as a bar on its pool's scale (the largest cap, guarantee or use of the pool's
// accounts), so the accounts of a pool compare at a glance; a mark at its guarantee, another at its
// cap. Fields the page does not read are ignored.
function shareBar(s, scale) {
  const at = (v) => `${(Math.min(1, v / scale) * 100).toFixed(1)}%`;
  const kind = { "at cap": " full", "below guarantee": " below" }[shareState(s)] || "";
  return h("span", { class: `bar share${kind}`, title: `${s.use} used, ${s.min} guaranteed, cap ${s.max || "none"}` },
    h("span", { style: `width:${at(s.use)}` }),
    s.min > 0 ? h("i", { class: "guarantee", style: `left:${at(s.min)}` }) : null,
    s.max > 0 ? h("i", { class: "cap", style: `left:${at(s.max)}` }) : null);
}

function shareRow(s, scale) {
  const name = `${s.pool}/${s.account}`;
  return h("tr", { "data-share": name },
    h("td", { class: "name" }, name, s.defined ? "" : " (implicit)"),
    h("td", {}, shareBar(s, scale)),
    h("td", { class: "use" }, s.use), h("td", { class: "ready" }, s.ready ?? ""),
    h("td", { class: "min" }, s.min), h("td", { class: "max" }, s.max || "-"),
    h("td", { class: "weight" }, s.weight),
    // its pool's preemption: borrowers' commands older than this are taken back for a guarantee
    h("td", { class: "preempt" }, s.preempt_after === null || s.preempt_after === undefined ? "-" : `after ${s.preempt_after} s`),
    h("td", { class: "state" }, shareState(s)));
}

// A quota across pools, as `puli-mesh shares list` shows it: at quota, no slot in any pool.
function quotaRow(q) {
  const name = `${q.kind}/${q.name}`;
  return h("tr", { "data-quota": name },
    h("td", { class: "name" }, name), h("td", {}, bar(q.use, q.max, "")),
    h("td", { class: "use" }, q.use), h("td", { class: "max" }, q.max),
    h("td", { class: "state" }, q.use >= q.max ? "at quota" : ""));
}

// The Shares tab is offered only while some pool has a share tree or a quota exists: the figures
// and the status the other views poll say so (`shares`), so no view asks for the shares to know.
function offerShares(some) {
  if (some !== undefined) document.querySelector("#tabs button[data-view=shares]").hidden = !some;
}

function showShares(shares, quotas) {
  offerShares(shares.length > 0 || quotas.length > 0);
  document.getElementById("shares-none").hidden = shares.length > 0;
  const scales = {};
  for (const s of shares) scales[s.pool] = Math.max(scales[s.pool] || 1, s.max, s.min, s.use);
  document.querySelector("#shares tbody").replaceChildren(...shares.map(s => shareRow(s, scales[s.pool])));
  document.getElementById("quotas").hidden = quotas.length === 0;
  document.querySelector("#quotas tbody").replaceChildren(...quotas.map(quotaRow));
}

async function refreshShares() {
  const [shares, quotas] = await Promise.all([call("/api/shares"), call("/api/quotas")]);
  showShares(shares, quotas);
}

async function refreshCharts() {
  const now = Date.now() / 1000;
  if (now - state.chartsAt < CHARTS_EVERY_S) return;
  const hours = Number(document.getElementById("chart-hours").value);
  const samples = await call(`/api/history?since=${(now - hours * 3600).toFixed(0)}`);
  state.chartsAt = now;
  drawCharts(document.getElementById("charts"), samples);
}

// ------------------------------------------------------------------------------ polling
const REFRESH = { jobs: refreshJobs, nodes: refreshNodes, licences: refreshLicences, shares: refreshShares,
                  charts: refreshCharts };

async function refresh() {
  try { await REFRESH[state.view](); showError(""); } catch (e) { showError(e.message); }
}

function schedule() {
  clearTimeout(state.timer);
  if (document.hidden) return;  // no requests from a tab nobody looks at
  state.timer = setTimeout(async () => { await refresh(); schedule(); }, state.meta.poll_interval_s * 1000);
}

function show(view) {
  state.view = view;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== `view-${view}`;
  state.chartsAt = 0;
  refresh().then(schedule);
}

async function start() {
  if (new URLSearchParams(location.search).get("wall")) document.body.classList.add("wall");
  state.meta = await call("/monitor-api/meta");
  const me = state.meta.me;
  document.getElementById("me").textContent = `${me.name} (${me.role})`;
  const statuses = document.querySelector("#job-filters select[name=status]");
  statuses.append(...state.meta.job_statuses.map(s => h("option", { value: s }, s)));
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => show(b.dataset.view);
  document.getElementById("job-filters").onsubmit = (e) => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(e.target));
    state.cursors = [null]; state.page = 0;
    refresh();
  };
  document.getElementById("node-filters").onsubmit = (e) => {
    e.preventDefault(); state.nodeName = new FormData(e.target).get("name"); refresh();
  };
  document.getElementById("next").onclick = () => {
    if (state.next === null) return;
    state.cursors[state.page + 1] = state.next; state.page += 1; refresh();
  };
  document.getElementById("prev").onclick = () => { if (state.page > 0) { state.page -= 1; refresh(); } };
  document.getElementById("close-job").onclick = () => {
    state.job = null; document.getElementById("job-detail").hidden = true;
    if (state.follow) state.follow.close();
  };
  document.getElementById("close-log").onclick = () => {
    if (state.follow) state.follow.close();
    state.follow = null; document.getElementById("log-viewer").hidden = true;
  };
  document.getElementById("chart-hours").onchange = () => { state.chartsAt = 0; refresh(); };
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh().then(schedule); else clearTimeout(state.timer); });
  show("jobs");
}

start().catch(e => showError(e.message));

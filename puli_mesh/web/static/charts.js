// The monitor's charts: hand-drawn SVG polylines over the farm's per-minute history
// (/api/history: Farm.history's samples). No chart library.
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2874a6", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#17a589", "#566573", "#e74c3c"];
const W = 600, H = 180, PAD = 30;

function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== null) el.textContent = text;
  return el;
}

// One chart: series is {label: [[t, value], ...]}; top is the y axis's end (at least the largest value).
function chart(title, series, top = 0) {
  const points = Object.values(series).flat();
  const times = points.map(p => p[0]);
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 60);
  const ymax = Math.max(top, ...points.map(p => p[1]), 1);
  const x = t => PAD + (t - t0) / (t1 - t0) * (W - 2 * PAD), y = v => H - PAD + 10 - v / ymax * (H - PAD);
  const picture = svg("svg", { viewBox: `0 0 ${W} ${H + 10}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  picture.append(svg("line", { x1: PAD, y1: y(0), x2: W - PAD, y2: y(0), stroke: "#999" }),
                 svg("text", { x: 2, y: 18, "font-size": 11 }, String(Math.round(ymax * 100) / 100)),
                 svg("text", { x: 2, y: y(0), "font-size": 11 }, "0"),
                 svg("text", { x: PAD, y: H + 8, "font-size": 11 }, new Date(t0 * 1000).toLocaleTimeString()),
                 svg("text", { x: W - PAD, y: H + 8, "font-size": 11, "text-anchor": "end" }, new Date(t1 * 1000).toLocaleTimeString()));
  const legend = document.createElement("div");
  legend.className = "legend";
  Object.entries(series).forEach(([label, values], i) => {
    const colour = COLOURS[i % COLOURS.length];
    picture.append(svg("polyline", { fill: "none", stroke: colour, "stroke-width": 2,
                                     points: values.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
    const key = document.createElement("span");
    key.style.color = colour;
    key.textContent = `\u25a0 ${label}`;
    legend.append(key);
  });
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, picture, legend);
  return figure;
}

function perKey(samples, pick) {
  const series = {};
  for (const s of samples) for (const [key, value] of Object.entries(pick(s))) (series[key] ||= []).push([s.end, value]);
  return series;
}

export function drawCharts(where, samples) {
  if (!samples.length) { where.replaceChildren("No history yet: the leader keeps a sample a minute."); return; }
  const licences = perKey(samples, s => Object.fromEntries(Object.entries(s.licences).map(([n, [used]]) => [n, used])));
  const licenceTop = Math.max(0, ...samples.flatMap(s => Object.values(s.licences).map(([, total]) => total)));
  where.replaceChildren(
    chart("Commands finished per minute", { done: samples.map(s => [s.end, s.done]), failed: samples.map(s => [s.end, s.failed]) }),
    chart("Queue depth per pool (ready commands)", perKey(samples, s => s.ready_by_pool)),
    chart("Node utilisation (busy slots / slots)", { utilisation: samples.map(s => [s.end, s.utilisation]) }, 1),
    chart("Licences in use", licences, licenceTop));
}

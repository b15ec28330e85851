// A line chart of one signal's buckets (mean as a line, min..max as a band) as inline SVG, with
// the finding's markers (times) and threshold (a level). No library: the shapes are few.
import { fmtClock, fmtNumber, h, s } from "./dom.js";

const W = 720;
const H = 220;
const PAD = { left: 52, right: 14, top: 14, bottom: 30 };

/** About `count` round tick values covering lo..hi (1, 2 or 5 times a power of ten apart). */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

const TIME_STEPS_S = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

function timeTicks(t0, t1) {
  const span = (t1 - t0) / 1000;
  const step = (TIME_STEPS_S.find((v) => span / v <= 7) || 86400) * 1000;
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return out;
}

/**
 * series: {signal, unit, buckets: [{t, mean, min, max}]}; start/end: ISO strings;
 * markers: [{t: ISO, label}]; threshold: number or null.
 */
export function lineChart({ series, start, end, markers = [], threshold = null }) {
  const t0 = Date.parse(start);
  const t1 = Date.parse(end);
  const points = series.buckets.filter((b) => b.mean !== null);
  const values = points.flatMap((b) => [b.min ?? b.mean, b.max ?? b.mean]);
  if (threshold !== null) values.push(threshold);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!values.length) [lo, hi] = [0, 1];
  if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
  const margin = (hi - lo) * 0.08;
  lo -= margin;
  hi += margin;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);

  const id = `chart-${series.signal}-${Math.random().toString(36).slice(2, 8)}`;
  const last = points.at(-1);
  const summary = points.length
    ? `${points.length} buckets from ${fmtClock(new Date(t0))} to ${fmtClock(new Date(t1))}; ` +
      `lowest ${fmtNumber(Math.min(...points.map((b) => b.min ?? b.mean)))}, ` +
      `highest ${fmtNumber(Math.max(...points.map((b) => b.max ?? b.mean)))}, ` +
      `last ${fmtNumber(last.mean)} ${series.unit}` +
      (threshold !== null ? `; threshold ${fmtNumber(threshold)}` : "")
    : "no readings of this signal in the window";

  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`, "data-signal": series.signal },
    s("title", { id: `${id}-t` }, `${series.signal} (${series.unit})`),
    s("desc", { id: `${id}-d` }, summary),
  );
  const grid = s("g", { class: "grid" });
  for (const v of ticks(lo, hi, 4)) {
    grid.append(
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, fmtNumber(v)),
    );
  }
  // Labels near the right edge are anchored at their end so they are not cut off.
  const anchor = (px) => (px > W - PAD.right - 30 ? "end" : "middle");
  for (const t of timeTicks(t0, t1)) {
    grid.append(
      s("line", { x1: x(t), x2: x(t), y1: PAD.top, y2: H - PAD.bottom }),
      s("text", { x: x(t), y: H - PAD.bottom + 16, "text-anchor": anchor(x(t)) }, fmtClock(new Date(t))),
    );
  }
  svg.append(grid);

  if (points.length) {
    const upper = points.map((b) => `${x(Date.parse(b.t)).toFixed(1)},${y(b.max ?? b.mean).toFixed(1)}`);
    const lower = points.map((b) => `${x(Date.parse(b.t)).toFixed(1)},${y(b.min ?? b.mean).toFixed(1)}`).reverse();
    svg.append(s("polygon", { class: "band", points: upper.concat(lower).join(" ") }));
    // A gap in reporting breaks the line rather than bridging it with a guess.
    const bucketMs = points.length > 1 ? Math.min(...points.slice(1).map((b, i) => Date.parse(b.t) - Date.parse(points[i].t))) : 0;
    let d = "";
    let prev = null;
    for (const b of points) {
      const t = Date.parse(b.t);
      const cmd = prev === null || t - prev > 1.5 * bucketMs ? "M" : "L";
      d += `${cmd}${x(t).toFixed(1)},${y(b.mean).toFixed(1)}`;
      prev = t;
    }
    svg.append(s("path", { class: "mean", d }));
  }
  if (threshold !== null) {
    svg.append(
      s("line", { class: "threshold", x1: PAD.left, x2: W - PAD.right, y1: y(threshold), y2: y(threshold) }),
      s("text", { x: W - PAD.right - 4, y: y(threshold) - 4, "text-anchor": "end", class: "marker-label" }, `threshold ${fmtNumber(threshold)}`),
    );
  }
  // Markers close together get their labels on successive lines, left of the line near the end.
  const shown = markers.map((m) => ({ ...m, ms: Date.parse(m.t) })).filter((m) => m.ms >= t0 && m.ms <= t1);
  shown.sort((a, b) => a.ms - b.ms);
  shown.forEach((m, i) => {
    const px = x(m.ms);
    const right = px > W * 0.7;
    svg.append(
      s("line", { class: "marker", x1: px, x2: px, y1: PAD.top, y2: H - PAD.bottom }),
      s(
        "text",
        { class: "marker-label", x: right ? px - 4 : px + 4, y: H - PAD.bottom - 8 - 13 * (shown.length - 1 - i), "text-anchor": right ? "end" : "start" },
        m.label,
      ),
    );
  });
  // The summary is the SVG's description already; shown for sighted users, hidden from readers.
  return h("figure", {}, h("figcaption", {}, `${series.signal} (${series.unit})`), svg, h("p", { class: "muted", "aria-hidden": "true" }, summary));
}

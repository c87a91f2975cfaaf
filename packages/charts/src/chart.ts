/**
 * The one chart module: line charts (with optional confidence bands) laid out once as drawing
 * primitives, then rendered to SVG (the console, out/demo) or PNG (places that do not show SVG)
 * from the same primitives. Legends sit below the plot, one full name per row (never cut);
 * ticks are round numbers (1, 2 or 5 × 10^k).
 */

export interface Series {
  name: string;
  /** [x, y] in data units, x increasing. */
  points: readonly (readonly [number, number])[];
  /** Optional band around the line: [x, low, high] (e.g. a 95% confidence interval). */
  band?: readonly (readonly [number, number, number])[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  /** Height of the plot area and axes; the legend adds a row per series below. */
  height?: number;
  /** Include this y in the axis range (e.g. 0). */
  yInclude?: number;
}

export type Primitive =
  | { kind: "rect"; x: number; y: number; w: number; h: number; fill: string }
  | { kind: "polyline"; points: [number, number][]; stroke: string; width: number }
  | { kind: "polygon"; points: [number, number][]; fill: string; opacity: number }
  | {
      kind: "text";
      x: number;
      y: number;
      text: string;
      size: number;
      anchor: "start" | "middle" | "end";
      fill: string;
      rotate?: boolean;
    };

export interface Chart {
  width: number;
  height: number;
  primitives: Primitive[];
}

/** Colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/** Round tick values covering [min, max]: steps of 1, 2 or 5 × 10^k, about `target` of them. */
export function niceTicks(min: number, max: number, target = 5): { ticks: number[]; step: number; decimals: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { ticks: [0, 1], step: 1, decimals: 0 };
  if (max <= min) {
    // A flat series: an axis from 0 up when it is 0, else ±10% around it.
    if (min === 0) max = 1;
    else {
      const pad = Math.abs(min) * 0.1;
      min -= pad;
      max += pad;
    }
  }
  const raw = (max - min) / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9 || ticks.length < 2; v += step) ticks.push(Number(v.toFixed(decimals)));
  if (ticks[ticks.length - 1]! < max - step * 1e-9)
    ticks.push(Number((ticks[ticks.length - 1]! + step).toFixed(decimals)));
  return { ticks, step, decimals };
}

/** A tick label: fixed decimals of the step, thousands grouped (3,840 not 3840). */
export function formatTick(v: number, decimals: number): string {
  return v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function lineChart(options: LineChartOptions): Chart {
  const width = options.width ?? 720;
  const plotHeight = options.height ?? 360;
  const series = options.series.filter((s) => s.points.length > 0);
  const legendRow = 18;
  const height = plotHeight + 16 + legendRow * Math.max(1, options.series.length);
  const margin = { left: 72, right: 20, top: 34, bottom: 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.band ?? []).flatMap((b) => [b[1], b[2]])]);
  if (options.yInclude !== undefined) ys.push(options.yInclude);
  const xt = niceTicks(Math.min(...xs, Infinity) === Infinity ? 0 : Math.min(...xs), xs.length ? Math.max(...xs) : 1);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const [x0, x1] = [xt.ticks[0]!, xt.ticks[xt.ticks.length - 1]!];
  const [y0, y1] = [yt.ticks[0]!, yt.ticks[yt.ticks.length - 1]!];
  const pw = width - margin.left - margin.right;
  const ph = plotHeight - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => margin.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const p: Primitive[] = [{ kind: "rect", x: 0, y: 0, w: width, h: height, fill: "#ffffff" }];
  p.push({ kind: "text", x: width / 2, y: 20, text: options.title, size: 14, anchor: "middle", fill: "#111111" });
  for (const t of yt.ticks) {
    p.push({
      kind: "polyline",
      points: [
        [margin.left, sy(t)],
        [margin.left + pw, sy(t)],
      ],
      stroke: "#e4e4e4",
      width: 1,
    });
    p.push({
      kind: "text",
      x: margin.left - 6,
      y: sy(t) + 4,
      text: formatTick(t, yt.decimals),
      size: 11,
      anchor: "end",
      fill: "#333333",
    });
  }
  for (const t of xt.ticks) {
    p.push({
      kind: "polyline",
      points: [
        [sx(t), margin.top + ph],
        [sx(t), margin.top + ph + 4],
      ],
      stroke: "#333333",
      width: 1,
    });
    p.push({
      kind: "text",
      x: sx(t),
      y: margin.top + ph + 17,
      text: formatTick(t, xt.decimals),
      size: 11,
      anchor: "middle",
      fill: "#333333",
    });
  }
  p.push({
    kind: "polyline",
    points: [
      [margin.left, margin.top],
      [margin.left, margin.top + ph],
      [margin.left + pw, margin.top + ph],
    ],
    stroke: "#333333",
    width: 1,
  });
  p.push({
    kind: "text",
    x: margin.left + pw / 2,
    y: margin.top + ph + 36,
    text: options.xLabel,
    size: 12,
    anchor: "middle",
    fill: "#111111",
  });
  p.push({
    kind: "text",
    x: 16,
    y: margin.top + ph / 2,
    text: options.yLabel,
    size: 12,
    anchor: "middle",
    fill: "#111111",
    rotate: true,
  });
  options.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    if (s.band && s.band.length > 1) {
      const upper = s.band.map((b): [number, number] => [sx(b[0]), sy(b[2])]);
      const lower = s.band.map((b): [number, number] => [sx(b[0]), sy(b[1])]).reverse();
      p.push({ kind: "polygon", points: [...upper, ...lower], fill: colour, opacity: 0.18 });
    }
    if (s.points.length > 0)
      p.push({
        kind: "polyline",
        points: s.points.map((pt): [number, number] => [sx(pt[0]), sy(pt[1])]),
        stroke: colour,
        width: 2,
      });
    const ly = plotHeight + 8 + legendRow * i;
    p.push({ kind: "rect", x: margin.left, y: ly + 5, w: 18, h: 4, fill: colour });
    p.push({ kind: "text", x: margin.left + 26, y: ly + 11, text: s.name, size: 12, anchor: "start", fill: "#111111" });
  });
  return { width, height, primitives: p };
}

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const f = (n: number) => (Math.round(n * 10) / 10).toString();

export function renderSvg(chart: Chart): string {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${chart.width}" height="${chart.height}" viewBox="0 0 ${chart.width} ${chart.height}" font-family="sans-serif">`,
  ];
  for (const p of chart.primitives) {
    switch (p.kind) {
      case "rect":
        out.push(`<rect x="${f(p.x)}" y="${f(p.y)}" width="${f(p.w)}" height="${f(p.h)}" fill="${p.fill}"/>`);
        break;
      case "polyline":
        out.push(
          `<polyline fill="none" stroke="${p.stroke}" stroke-width="${p.width}" points="${p.points.map(([x, y]) => `${f(x)},${f(y)}`).join(" ")}"/>`,
        );
        break;
      case "polygon":
        out.push(
          `<polygon fill="${p.fill}" fill-opacity="${p.opacity}" stroke="none" points="${p.points.map(([x, y]) => `${f(x)},${f(y)}`).join(" ")}"/>`,
        );
        break;
      case "text": {
        const rotate = p.rotate ? ` transform="rotate(-90 ${f(p.x)} ${f(p.y)})"` : "";
        out.push(
          `<text x="${f(p.x)}" y="${f(p.y)}" font-size="${p.size}" text-anchor="${p.anchor}" fill="${p.fill}"${rotate}>${escapeXml(p.text)}</text>`,
        );
        break;
      }
    }
  }
  out.push("</svg>");
  return out.join("\n");
}

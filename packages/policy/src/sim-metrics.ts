// Metrics over simulation runs, a CSV writer and an SVG line plot — all pure functions to strings
// or numbers, so scripts and the CLI can write the files wherever they like.

/** Σ numerators / Σ denominators per bucket of `bucketSize` consecutive steps. */
export function bucketRates(
  numerators: readonly number[],
  denominators: readonly number[],
  bucketSize: number,
): number[] {
  if (!(Number.isInteger(bucketSize) && bucketSize >= 1))
    throw new RangeError(`bucketSize must be an integer ≥ 1, got ${bucketSize}`);
  const rates: number[] = [];
  for (let start = 0; start < numerators.length; start += bucketSize) {
    let num = 0;
    let den = 0;
    for (let i = start; i < Math.min(numerators.length, start + bucketSize); i++) {
      num += numerators[i] ?? 0;
      den += denominators[i] ?? 0;
    }
    rates.push(den > 0 ? num / den : 0);
  }
  return rates;
}

export function cumulativeSum(values: readonly number[]): number[] {
  let total = 0;
  return values.map((v) => (total += v));
}

/** Cumulative regret: Σ (oracle expected clicks − the policy's expected clicks). */
export function cumulativeRegret(oracleExpected: readonly number[], policyExpected: readonly number[]): number[] {
  return cumulativeSum(oracleExpected.map((o, i) => o - (policyExpected[i] ?? 0)));
}

/** Share of the catalog (all items that were ever available) shown at least once. */
export function catalogCoverage(exposure: Readonly<Record<string, number>>, catalogSize: number): number {
  if (catalogSize <= 0) return 0;
  let shown = 0;
  for (const count of Object.values(exposure)) if (count > 0) shown++;
  return shown / catalogSize;
}

/**
 * Gini coefficient of exposure over the whole catalog (0: every item equally exposed, → 1: all
 * exposure on one item). Items never shown count as zeros: pass catalogSize to include them.
 */
export function exposureGini(
  exposure: Readonly<Record<string, number>>,
  catalogSize = Object.keys(exposure).length,
): number {
  const values = Object.values(exposure);
  while (values.length < catalogSize) values.push(0);
  return gini(values);
}

export function gini(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const total = sorted.reduce((a, b) => a + b, 0);
  if (n === 0 || total <= 0) return 0;
  let weighted = 0;
  sorted.forEach((v, i) => (weighted += (i + 1) * v));
  return (2 * weighted) / (n * total) - (n + 1) / n;
}

export function meanAndSpread(values: readonly number[]): { mean: number; sd: number; min: number; max: number } {
  const n = values.length;
  const mean = n > 0 ? values.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (n - 1)) : 0;
  return { mean, sd, min: Math.min(...values), max: Math.max(...values) };
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** RFC 4180 CSV text (header row first, \n line ends). */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

export interface PlotSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  width?: number;
  height?: number;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

function niceNumber(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(2);
}

/** A standalone SVG document: one polyline per series, axes with 5 ticks, a legend. */
export function linePlotSvg(options: LinePlotOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const margin = { left: 70, right: 160, top: 40, bottom: 50 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = options.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = xs.length > 0 ? Math.min(...xs) : 0;
  let xMax = xs.length > 0 ? Math.max(...xs) : 1;
  const yMin = Math.min(0, ...ys);
  let yMax = ys.length > 0 ? Math.max(...ys) : 1;
  if (xMax === xMin) xMax = xMin + 1;
  if (yMax === yMin) yMax = yMin + 1;
  const sx = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number): number => margin.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="black"/>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const x = xMin + ((xMax - xMin) * t) / 4;
    const y = yMin + ((yMax - yMin) * t) / 4;
    parts.push(
      `<text x="${sx(x).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${niceNumber(x)}</text>`,
    );
    parts.push(`<text x="${margin.left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${niceNumber(y)}</text>`);
    parts.push(
      `<line x1="${margin.left}" y1="${sy(y).toFixed(1)}" x2="${margin.left + plotW}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
  );
  parts.push(
    `<text x="16" y="${margin.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + plotH / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  options.series.forEach((series, i) => {
    const color = PALETTE[i % PALETTE.length] ?? "black";
    const points = series.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`);
    const ly = margin.top + 10 + i * 18;
    parts.push(
      `<line x1="${width - margin.right + 12}" y1="${ly}" x2="${width - margin.right + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${width - margin.right + 38}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

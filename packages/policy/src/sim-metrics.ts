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

// Shared fixtures for the policy tests (not exported from index.ts; `@recfleet/policy/testing` for other packages' tests).
import { createRng } from "@recfleet/numeric";
import type { Candidate, ItemStats, PolicyContext } from "./types.js";

export function candidatesFromScores(scores: readonly number[], dim = 4): Candidate[] {
  return scores.map((score, i) => ({
    itemId: `item${i}`,
    score,
    vector: Float32Array.from({ length: dim }, (_, j) => Math.cos((i + 1) * (j + 1))),
  }));
}

export function contextWith(
  seed: number,
  stats: Record<string, ItemStats> = {},
  extra: Partial<PolicyContext> = {},
): PolicyContext {
  return { rng: createRng(seed), itemStats: (id) => stats[id] ?? { impressions: 0, clicks: 0 }, ...extra };
}

/** Upper critical value of χ²(df) at probability p (Wilson–Hilferty approximation). */
export function chiSquareCritical(df: number, z: number): number {
  const a = 2 / (9 * df);
  return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
}

/**
 * Pearson χ² statistic of observed counts against expected counts; cells with expected < 5 are
 * pooled into one. Returns the statistic and the degrees of freedom.
 */
export function chiSquare(
  observed: ReadonlyMap<string, number>,
  expected: ReadonlyMap<string, number>,
): { statistic: number; df: number } {
  let statistic = 0;
  let cells = 0;
  let pooledObserved = 0;
  let pooledExpected = 0;
  const keys = new Set([...observed.keys(), ...expected.keys()]);
  for (const key of keys) {
    const e = expected.get(key) ?? 0;
    const o = observed.get(key) ?? 0;
    if (e < 5) {
      pooledObserved += o;
      pooledExpected += e;
      continue;
    }
    statistic += ((o - e) * (o - e)) / e;
    cells++;
  }
  if (pooledExpected > 0) {
    statistic += ((pooledObserved - pooledExpected) * (pooledObserved - pooledExpected)) / Math.max(pooledExpected, 1);
    cells++;
  }
  return { statistic, df: Math.max(1, cells - 1) };
}

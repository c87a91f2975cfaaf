// The impressions' share of the neural-linear bandit, kept the additive way several writers can
// share (see linear.ts): per model version A gets Σxxᵀ and b gets Σ(−p·x), p the model's click
// probability of the shown item. The clicks' share (+x per attributed click) is added by another
// writer, and the prior λI only when the sums are read, so no writer's increments depend on λ.
import { LinearStateError } from "./errors.js";
import { linearStateFromSums } from "./linear.js";
import type { LinearBanditState } from "./types.js";

/** Σxxᵀ (d×d, row-major), Σ(−p·x) and the number of impressions summed, without the prior. */
export interface LinearSums {
  d: number;
  a: Float64Array;
  b: Float64Array;
  count: number;
}

/**
 * Impressions summed in memory until the next `take()`. A flush then adds d² + d numbers to the
 * store however many impressions it covers, which keeps that work off the request path; what is
 * pending when the process dies is lost (the state is a learning signal, not a ledger).
 */
export class LinearImpressions {
  // Only A's upper triangle (j ≥ i) is summed per impression — A is symmetric, so this halves
  // the request path's d² work — and take() mirrors it into the lower one.
  private pending = new Map<string, LinearSums>();

  /** One shown item of `version`: its context x (user ⊙ item) and the model's click probability. */
  add(version: string, x: ArrayLike<number>, expected: number): void {
    const d = x.length;
    let sums = this.pending.get(version);
    if (!sums) this.pending.set(version, (sums = { d, a: new Float64Array(d * d), b: new Float64Array(d), count: 0 }));
    if (sums.d !== d) throw new LinearStateError(`context has length ${d}, version ${version} has d = ${sums.d}`);
    if (!Number.isFinite(expected)) {
      throw new LinearStateError(`click probability is ${expected}; expected a finite number`);
    }
    const { a, b } = sums;
    for (let i = 0; i < d; i++) {
      const xi = x[i]!;
      b[i]! -= expected * xi;
      const row = i * d;
      for (let j = i; j < d; j++) a[row + j]! += xi * x[j]!;
    }
    sums.count++;
  }

  /** Impressions added so far and not yet taken. */
  get size(): number {
    let n = 0;
    for (const sums of this.pending.values()) n += sums.count;
    return n;
  }

  /** Everything added since the last take, per model version; the buffer starts afresh. */
  take(): [version: string, sums: LinearSums][] {
    const taken = [...this.pending];
    this.pending = new Map();
    for (const [, { d, a }] of taken) {
      for (let i = 1; i < d; i++) for (let j = 0; j < i; j++) a[i * d + j] = a[j * d + i]!;
    }
    return taken;
  }
}

/** The bandit state from stored sums: A = λI + Σxxᵀ (the ridge prior is added here, on read). */
export function linearStateFromStoredSums(lambda: number, sums: LinearSums): LinearBanditState {
  const { d } = sums;
  if (sums.a.length !== d * d) throw new LinearStateError(`A must have ${d * d} entries; got ${sums.a.length}`);
  const a = Float64Array.from(sums.a);
  for (let i = 0; i < d; i++) a[i * d + i]! += lambda;
  return linearStateFromSums(d, lambda, sums.count, a, sums.b);
}

// Off-policy estimators of SLATE reward (clicks per slate) for rankings drawn without replacement,
// from the per-slot conditional propensities the scorer logs. ope.ts estimates clicks per slot;
// here the same logs estimate the target's expected clicks per slate:
//
//   sips        standard slate IPS: the whole slate's weight Π_r π(a_r|a_<r)/μ(a_r|a_<r) times
//               its clicks. Unbiased for any click model; weights explode with K.
//   rips        reward-interaction IPS: slot r weighted by its prefix weight w_r (the per-slot
//               IPS of ope.ts summed over slots). Unbiased when a click depends on slots ≤ r
//               (cascade, position-based).
//   iips        independent IPS: slot r weighted by the ratio of the position marginals
//               P_π(a_r at r)/P_μ(a_r at r). Unbiased when a click depends only on (item, slot),
//               e.g. the position-based model; the smallest weights.
//   pi          pseudoinverse estimator (Swaminathan et al. 2017), here for rankings without
//               replacement: with 1_s the slot×item indicator of slate s, Γ = E_μ[1_s 1_sᵀ] and
//               q = E_π[1_s], a record scores (qᵀ Γ⁺ 1_s)·(clicks of s). Unbiased when the slate
//               reward is additive over (slot, item) — the same assumption as iips, with weights
//               that account for the dependence between slots of a ranking without replacement.
//               The public libraries implement it only for product (independent-slot) logging.
//   cascade-dr  doubly robust under the cascade assumption (Kiyohara et al. 2022) = the per-decision
//               DR of ope.ts summed over slots, with its cross-fitted reward model.
//
// Γ and the marginals are exact: each record's slate distribution is enumerated by walking the
// policies' slot distributions (m·(m−1)·…·(m−K+1) ordered slates of m candidates), so pi and iips
// need small candidate lists (maxSlates); Γ⁺q is the minimum-norm solution of Γθ = q, found by
// conjugate gradients from 0 (which stays in Γ's range). Diagnostics per estimator: the Kish
// effective sample size (Σw)²/Σw² of its weights and the largest weight. Intervals: normal, and an
// anytime-valid confidence sequence (confidenceSequence) for monitoring an estimate as logs arrive.
import { createRng, hashString, mixSeeds, type Rng } from "@recfleet/numeric";
import { LoggedRecordError, PolicyConfigError } from "./errors.js";
import { defaultContext, offPolicyTerms, type LoggedRecord, type OffPolicyOptions } from "./ope.js";
import { normalQuantile } from "./random.js";
import type { Policy, PolicyContext } from "./types.js";

export const SLATE_ESTIMATORS = ["sips", "rips", "iips", "pi", "cascade-dr"] as const;
export type SlateEstimatorName = (typeof SLATE_ESTIMATORS)[number];

export interface SlateEstimate {
  /** Expected clicks per slate. */
  estimate: number;
  stdError: number;
  ciLow: number;
  ciHigh: number;
  /** Kish effective sample size of the estimator's weights, (Σw)²/Σw². */
  effectiveSampleSize: number;
  /** The largest weight |w| the estimator used. */
  maxWeight: number;
}

export interface SlateOffPolicyResult {
  n: number;
  estimates: Record<SlateEstimatorName, SlateEstimate>;
  /** The per-record values each estimate is the mean of (for confidence sequences). */
  values: Record<SlateEstimatorName, number[]>;
}

export interface SlateOffPolicyOptions extends OffPolicyOptions {
  /** The policy that logged a record (to enumerate its slate distribution). */
  loggingPolicy: (record: LoggedRecord) => Policy;
  /** Most ordered slates enumerated per record for pi and iips. Default 20 000. */
  maxSlates?: number;
}

/** Position marginals and (optionally) Γ of one policy's slate distribution for a record. */
interface SlateMoments {
  /** K × m, row-major: P(candidate i in slot r). */
  marginals: Float64Array;
  /** (K·m)², row-major: P(i in r and j in r'). */
  gram?: Float64Array;
}

const PLACEHOLDER = "\u0000next-slot";

/**
 * Enumerate every ordered slate of `k` of the candidates under `policy` (exact for exact
 * policies; Monte Carlo policies give their own estimates of each conditional).
 */
function slateMoments(
  record: LoggedRecord,
  policy: Policy,
  k: number,
  ctx: () => PolicyContext,
  withGram: boolean,
): SlateMoments {
  const m = record.candidates.length;
  const index = new Map(record.candidates.map((c, i) => [c.itemId, i]));
  const dim = k * m;
  const marginals = new Float64Array(dim);
  const gram = withGram ? new Float64Array(dim * dim) : undefined;
  const prefix: string[] = [];
  const cells: number[] = [];
  const visit = (probability: number): void => {
    const r = prefix.length;
    if (r === k) {
      for (const a of cells) {
        marginals[a]! += probability;
        if (gram) for (const b of cells) gram[a * dim + b]! += probability;
      }
      return;
    }
    const distributions = policy.slotDistributions(record.candidates, [...prefix, PLACEHOLDER], ctx());
    for (const [itemId, p] of distributions[r] ?? []) {
      const i = index.get(itemId);
      if (i === undefined || p <= 0) continue;
      prefix.push(itemId);
      cells.push(r * m + i);
      visit(probability * p);
      prefix.pop();
      cells.pop();
    }
  };
  visit(1);
  return gram ? { marginals, gram } : { marginals };
}

/** Minimum-norm solution of Γθ = q for symmetric PSD Γ: conjugate gradients started at 0. */
export function minNormSolve(gram: Float64Array, q: Float64Array, tolerance = 1e-12): Float64Array {
  const n = q.length;
  const x = new Float64Array(n);
  const r = Float64Array.from(q);
  const p = Float64Array.from(q);
  const ap = new Float64Array(n);
  let rr = r.reduce((s, v) => s + v * v, 0);
  const stop = tolerance * tolerance * Math.max(1e-300, rr);
  for (let iteration = 0; iteration < 4 * n && rr > stop; iteration++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += gram[i * n + j]! * p[j]!;
      ap[i] = s;
    }
    const pap = p.reduce((s, v, i) => s + v * ap[i]!, 0);
    if (!(pap > 0)) break;
    const alpha = rr / pap;
    for (let i = 0; i < n; i++) {
      x[i]! += alpha * p[i]!;
      r[i]! -= alpha * ap[i]!;
    }
    const next = r.reduce((s, v) => s + v * v, 0);
    const beta = next / rr;
    rr = next;
    for (let i = 0; i < n; i++) p[i] = r[i]! + beta * p[i]!;
  }
  return x;
}

function slatesOf(m: number, k: number): number {
  let count = 1;
  for (let r = 0; r < k; r++) count *= m - r;
  return count;
}

function meanAndStdError(values: readonly number[]): { mean: number; stdError: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  if (n < 2) return { mean, stdError: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, stdError: Math.sqrt(variance / n) };
}

function diagnostics(weights: readonly number[]): { effectiveSampleSize: number; maxWeight: number } {
  let sum = 0;
  let squares = 0;
  let max = 0;
  for (const w of weights) {
    sum += w;
    squares += w * w;
    max = Math.max(max, Math.abs(w));
  }
  return { effectiveSampleSize: squares > 0 ? (sum * sum) / squares : 0, maxWeight: max };
}

/**
 * Estimate the target's expected clicks per slate from logged slates (see the top of this file).
 * Every record must have the same slate length K.
 */
export function estimateSlateOffPolicy(
  logs: readonly LoggedRecord[],
  target: Policy,
  options: SlateOffPolicyOptions,
): SlateOffPolicyResult {
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new PolicyConfigError("confidence", confidence, "a number in (0,1)");
  const maxSlates = options.maxSlates ?? 20_000;
  const seed = options.seed ?? 1;
  const contextFor = options.contextFor ?? defaultContext;
  const terms = offPolicyTerms(logs, target, options);
  const values: Record<SlateEstimatorName, number[]> = { sips: [], rips: [], iips: [], pi: [], "cascade-dr": [] };
  const weights: Record<SlateEstimatorName, number[]> = { sips: [], rips: [], iips: [], pi: [], "cascade-dr": [] };
  logs.forEach((record, n) => {
    const t = terms[n]!;
    const clicks = record.slate.reduce((s, slot) => s + (slot.clicked ? 1 : 0), 0);
    values.sips.push(t.slateWeight * clicks);
    weights.sips.push(t.slateWeight);
    values.rips.push(t.ipsSum);
    weights.rips.push(...t.weights);
    values["cascade-dr"].push(t.drSum);
    weights["cascade-dr"].push(...t.weights);

    const k = record.slate.length;
    const m = record.candidates.length;
    if (slatesOf(m, k) > maxSlates) {
      throw new LoggedRecordError(
        record.recId,
        `${m} candidates × ${k} slots is ${slatesOf(m, k)} ordered slates, over maxSlates ${maxSlates}: pi and iips enumerate them (log fewer candidates or raise maxSlates)`,
      );
    }
    // Fresh seeded contexts per policy, so Monte Carlo policies are reproducible.
    const contextOf = (salt: number): (() => PolicyContext) => {
      const rng: Rng = createRng(mixSeeds(seed, hashString(record.recId), salt));
      return () => contextFor(record, rng);
    };
    const logger = slateMoments(record, options.loggingPolicy(record), k, contextOf(1), true);
    const targetMoments = slateMoments(record, target, k, contextOf(2), false);
    const index = new Map(record.candidates.map((c, i) => [c.itemId, i]));
    const cells = record.slate.map((slot, r) => r * m + (index.get(slot.itemId) ?? -1));
    if (cells.some((c, r) => c < r * m)) {
      throw new LoggedRecordError(record.recId, "a slate item is not among the record's candidates");
    }
    let iips = 0;
    record.slate.forEach((slot, r) => {
      const cell = cells[r]!;
      const mu = logger.marginals[cell]!;
      if (!(mu > 0)) throw new LoggedRecordError(record.recId, `slot ${r + 1}: the logging policy cannot place it`);
      const w = targetMoments.marginals[cell]! / mu;
      weights.iips.push(w);
      iips += w * (slot.clicked ? 1 : 0);
    });
    values.iips.push(iips);
    const theta = minNormSolve(logger.gram!, targetMoments.marginals);
    const piWeight = cells.reduce((s, c) => s + theta[c]!, 0);
    values.pi.push(piWeight * clicks);
    weights.pi.push(piWeight);
  });
  const z = normalQuantile(0.5 + confidence / 2);
  const estimates = {} as Record<SlateEstimatorName, SlateEstimate>;
  for (const name of SLATE_ESTIMATORS) {
    const { mean, stdError } = meanAndStdError(values[name]);
    estimates[name] = {
      estimate: mean,
      stdError,
      ciLow: mean - z * stdError,
      ciHigh: mean + z * stdError,
      ...diagnostics(weights[name]),
    };
  }
  return { n: logs.length, estimates, values };
}

export interface ConfidenceSequenceOptions {
  /** Error probability over all times at once. Default 0.05. */
  alpha?: number;
  /** The sample size the boundary is tightest at. Default: the number of values. */
  optimiseAt?: number;
}

export interface ConfidenceBound {
  n: number;
  estimate: number;
  low: number;
  high: number;
}

/**
 * Anytime-valid confidence sequence for a running mean (the asymptotic confidence sequence of
 * Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2021, "Time-uniform central limit theory"):
 *   mean_t ± σ̂_t · sqrt( 2(tρ²+1)/(t²ρ²) · ln( sqrt(tρ²+1)/α ) ),
 *   ρ² = (−2 ln α + ln(−2 ln α + 1)) / t*.
 * Unlike a fixed-n interval, it may be checked after every new record (continuous monitoring,
 * shadow policies) and still covers the truth at all times with probability ≈ 1 − α.
 * Returns the bound after each value (from the second one on).
 */
export function confidenceSequence(
  values: readonly number[],
  options: ConfidenceSequenceOptions = {},
): ConfidenceBound[] {
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new PolicyConfigError("alpha", alpha, "a number in (0,1)");
  const tStar = options.optimiseAt ?? Math.max(2, values.length);
  const rho2 = (-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / tStar;
  const out: ConfidenceBound[] = [];
  let mean = 0;
  let m2 = 0;
  values.forEach((v, i) => {
    const t = i + 1;
    const delta = v - mean;
    mean += delta / t;
    m2 += delta * (v - mean);
    if (t < 2) return;
    const sd = Math.sqrt(m2 / (t - 1));
    const radius = sd * Math.sqrt(((2 * (t * rho2 + 1)) / (t * t * rho2)) * Math.log(Math.sqrt(t * rho2 + 1) / alpha));
    out.push({ n: t, estimate: mean, low: mean - radius, high: mean + radius });
  });
  return out;
}

// Off-policy evaluation of a target policy's CTR from another policy's logs: IPS, SNIPS and
// doubly robust, with confidence intervals.
//
// Propensities are per-slot conditional probabilities (see types.ts), so the probability of the
// prefix a_1..a_r is the product of the first r propensities, and slot r is re-weighted by
//   w_r = Π_{j≤r} π(a_j | a_<j) / μ(a_j | a_<j)
// where μ is the logged propensity and π the target's, recomputed by re-running the target's
// slot distributions along the logged slate (an indicator for deterministic targets). This is
// unbiased when the click in slot r depends only on the context and the items in slots ≤ r
// (position-based and cascade click models both qualify); it needs π > 0 ⇒ μ > 0.
//
//   IPS   V = mean over records of (1/K) Σ_r w_r c_r
//   SNIPS per slot: Σ_i w_ir c_ir / Σ_i w_ir, averaged over slots (weighted by how many records
//         have that slot); biased but far lower variance when weights are large.
//   DR    per-decision doubly robust (Jiang & Li, 2016) with a reward model q̂(item, slot):
//         (1/K) Σ_r [ w_{r−1} Σ_a π(a | a_<r) q̂(a, r) + w_r (c_r − q̂(a_r, r)) ],  w_0 = 1.
//
// CTR here is clicks per slot shown. Intervals: normal approximation (per-record variance for IPS
// and DR, delta method for SNIPS) or a seeded percentile bootstrap over records.
import { createRng, hashString, mixSeeds, percentile, type Rng } from "@recfleet/numeric";
import type { AttributionResult } from "./attribution.js";
import { LoggedRecordError, PolicyConfigError } from "./errors.js";
import { normalQuantile } from "./random.js";
import type { Candidate, ItemStats, LinearBanditState, Policy, PolicyContext, SlateItem } from "./types.js";

/** What the logging side must keep to rebuild the target's view of a request. */
export interface LoggedContext {
  userVector?: Float32Array | number[];
  /** Item stats as they were when the request was served. */
  itemStats?: Record<string, ItemStats>;
  linear?: LinearBanditState;
  totalImpressions?: number;
}

export interface LoggedSlot {
  itemId: string;
  /** The logging policy's propensity, P(item in this slot | slots above). */
  propensity: number;
  clicked: boolean;
}

export interface LoggedRecord {
  recId: string;
  policyId: string;
  /** The candidates (with scores and vectors) the logging policy ranked. */
  candidates: Candidate[];
  context: LoggedContext;
  /** The slate shown, top first. */
  slate: LoggedSlot[];
  /** Shadow policies' conditional probabilities of the shown items, per policy id. */
  shadow?: Record<string, number[]>;
}

/** What the scorer logs per request; joined with attributed clicks by buildLoggedRecords. */
export interface LoggedRecommendation {
  recId: string;
  ts: number;
  policyId: string;
  candidates: Candidate[];
  context: LoggedContext;
  items: readonly SlateItem[];
  /** Shadow policies' conditional probabilities of the served items, per policy id (decision-log.ts). */
  shadow?: Record<string, number[]>;
}

/** Join recommendations with attributed clicks (attributeRewards) into records for the estimators. */
export function buildLoggedRecords(
  recommendations: readonly LoggedRecommendation[],
  attribution: AttributionResult,
): LoggedRecord[] {
  const clicked = new Set(
    attribution.slots.filter((slot) => slot.clicked).map((slot) => `${slot.recId}\u0000${slot.itemId}`),
  );
  return recommendations.map((rec) => ({
    recId: rec.recId,
    policyId: rec.policyId,
    candidates: rec.candidates,
    context: rec.context,
    slate: rec.items.map((item) => ({
      itemId: item.itemId,
      propensity: item.propensity,
      clicked: clicked.has(`${rec.recId}\u0000${item.itemId}`),
    })),
    ...(rec.shadow ? { shadow: rec.shadow } : {}),
  }));
}

/** q̂(click | record, item, 1-based rank) in [0,1]. */
export type RewardModel = (record: LoggedRecord, itemId: string, rank: number) => number;

export interface OffPolicyOptions {
  /** Two-sided confidence level. Default 0.95. */
  confidence?: number;
  /** Default "normal". */
  interval?: "normal" | "bootstrap";
  /** Default 1000. */
  bootstrapSamples?: number;
  /** Seeds the bootstrap and the target's Monte Carlo propensities. Default 1. */
  seed?: number;
  /** Reward model for DR. Default: rank CTR × smoothed item lift, cross-fitted on two halves of the logs. */
  rewardModel?: RewardModel;
  /** Clip each prefix weight at this value (biased, lower variance). Default: no clipping. */
  maxWeight?: number;
  /** Rebuild the target's context for a record. Default: from record.context with a seeded rng. */
  contextFor?: (record: LoggedRecord, rng: Rng) => PolicyContext;
}

export interface OffPolicyEstimate {
  estimate: number;
  ciLow: number;
  ciHigh: number;
  stdError: number;
}

export interface OffPolicyResult {
  ips: OffPolicyEstimate;
  snips: OffPolicyEstimate;
  dr: OffPolicyEstimate;
  /** Records used. */
  n: number;
  /** Kish effective sample size of the slot weights: (Σw)² / Σw² over all (record, slot). */
  effectiveSampleSize: number;
}

export function defaultContext(record: LoggedRecord, rng: Rng): PolicyContext {
  const { userVector, itemStats, linear, totalImpressions } = record.context;
  const ctx: PolicyContext = { rng };
  if (userVector !== undefined)
    ctx.userVector = userVector instanceof Float32Array ? userVector : Float32Array.from(userVector);
  if (itemStats !== undefined) ctx.itemStats = (itemId) => itemStats[itemId] ?? { impressions: 0, clicks: 0 };
  if (linear !== undefined) ctx.linear = linear;
  if (totalImpressions !== undefined) ctx.totalImpressions = totalImpressions;
  return ctx;
}

/** Rank CTR × item lift, fitted on `records` (lift smoothed toward 1 with `smoothing` pseudo-clicks). */
export function fitRankItemRewardModel(records: readonly LoggedRecord[], smoothing = 10): RewardModel {
  const rankClicks: number[] = [];
  const rankShown: number[] = [];
  let clicks = 0;
  let shown = 0;
  for (const record of records) {
    record.slate.forEach((slot, r) => {
      rankShown[r] = (rankShown[r] ?? 0) + 1;
      rankClicks[r] = (rankClicks[r] ?? 0) + (slot.clicked ? 1 : 0);
      shown++;
      clicks += slot.clicked ? 1 : 0;
    });
  }
  const overall = shown > 0 ? clicks / shown : 0;
  const rankCtr = (r: number): number => {
    const n = rankShown[r] ?? 0;
    return n > 0 ? (rankClicks[r] ?? 0) / n : overall;
  };
  const itemClicks = new Map<string, number>();
  const itemExpected = new Map<string, number>();
  for (const record of records) {
    record.slate.forEach((slot, r) => {
      itemClicks.set(slot.itemId, (itemClicks.get(slot.itemId) ?? 0) + (slot.clicked ? 1 : 0));
      itemExpected.set(slot.itemId, (itemExpected.get(slot.itemId) ?? 0) + rankCtr(r));
    });
  }
  const prior = smoothing * Math.max(overall, 1e-6);
  return (_record, itemId, rank) => {
    const lift = ((itemClicks.get(itemId) ?? 0) + prior) / ((itemExpected.get(itemId) ?? 0) + prior);
    return Math.min(1, Math.max(0, rankCtr(rank - 1) * lift));
  };
}

/** Per-record pieces every estimator (and the bootstrap) is computed from. */
export interface RecordTerms {
  slots: number;
  /** Σ_r w_r c_r / K */
  ips: number;
  /** DR value / K */
  dr: number;
  /** Σ_r w_r c_r: the per-slot IPS as clicks per slate (= RIPS, the cascade/prefix-weighted slate IPS). */
  ipsSum: number;
  /** The DR value as clicks per slate (= cascade doubly robust, Kiyohara et al. 2022). */
  drSum: number;
  /** Weight of the whole slate, Π_r π/μ over every slot (the standard slate IPS weight). */
  slateWeight: number;
  /** Per slot r: w_r and w_r·c_r (for SNIPS). */
  weights: number[];
  weightedClicks: number[];
}

function recordTerms(
  record: LoggedRecord,
  target: Policy,
  ctx: PolicyContext,
  rewardModel: RewardModel,
  maxWeight: number,
): RecordTerms {
  const slate = record.slate.map((slot) => slot.itemId);
  const distributions = target.slotDistributions(record.candidates, slate, ctx);
  const weights: number[] = [];
  const weightedClicks: number[] = [];
  let ips = 0;
  let dr = 0;
  let previousWeight = 1;
  record.slate.forEach((slot, r) => {
    if (!(slot.propensity > 0 && slot.propensity <= 1))
      throw new LoggedRecordError(record.recId, `slot ${r + 1} has propensity ${slot.propensity}; expected (0,1]`);
    const distribution = distributions[r] ?? new Map<string, number>();
    const targetProbability = distribution.get(slot.itemId) ?? 0;
    const weight = Math.min(maxWeight, (previousWeight * targetProbability) / slot.propensity);
    const click = slot.clicked ? 1 : 0;
    let direct = 0;
    for (const [itemId, probability] of distribution) direct += probability * rewardModel(record, itemId, r + 1);
    ips += weight * click;
    dr += previousWeight * direct + weight * (click - rewardModel(record, slot.itemId, r + 1));
    weights.push(weight);
    weightedClicks.push(weight * click);
    previousWeight = weight;
  });
  const k = Math.max(1, record.slate.length);
  return {
    slots: record.slate.length,
    ips: ips / k,
    dr: dr / k,
    ipsSum: ips,
    drSum: dr,
    slateWeight: previousWeight,
    weights,
    weightedClicks,
  };
}

interface PointEstimates {
  ips: number;
  dr: number;
  snips: number;
}

function pointEstimates(terms: readonly RecordTerms[]): PointEstimates {
  let ips = 0;
  let dr = 0;
  const numerator: number[] = [];
  const denominator: number[] = [];
  const perSlot: number[] = [];
  for (const t of terms) {
    ips += t.ips;
    dr += t.dr;
    t.weights.forEach((w, r) => {
      denominator[r] = (denominator[r] ?? 0) + w;
      numerator[r] = (numerator[r] ?? 0) + (t.weightedClicks[r] ?? 0);
      perSlot[r] = (perSlot[r] ?? 0) + 1;
    });
  }
  const totalSlots = perSlot.reduce((a, b) => a + b, 0);
  let snips = 0;
  perSlot.forEach((count, r) => {
    const den = denominator[r] ?? 0;
    if (den > 0) snips += (count / totalSlots) * ((numerator[r] ?? 0) / den);
  });
  const n = Math.max(1, terms.length);
  return { ips: ips / n, dr: dr / n, snips };
}

function meanStdError(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) * (v - mean), 0) / (n - 1);
  return Math.sqrt(variance / n);
}

/** Delta-method standard error of SNIPS = Σ_r α_r (Σ_i w_ir c_ir / Σ_i w_ir). */
function snipsStdError(terms: readonly RecordTerms[]): number {
  const perSlot: number[] = [];
  const weightSum: number[] = [];
  const clickSum: number[] = [];
  for (const t of terms) {
    t.weights.forEach((w, r) => {
      perSlot[r] = (perSlot[r] ?? 0) + 1;
      weightSum[r] = (weightSum[r] ?? 0) + w;
      clickSum[r] = (clickSum[r] ?? 0) + (t.weightedClicks[r] ?? 0);
    });
  }
  const totalSlots = perSlot.reduce((a, b) => a + b, 0);
  let variance = 0;
  for (const t of terms) {
    let influence = 0;
    t.weights.forEach((w, r) => {
      const den = weightSum[r] ?? 0;
      if (den <= 0) return;
      const ratio = (clickSum[r] ?? 0) / den;
      influence += (((perSlot[r] ?? 0) / totalSlots) * ((t.weightedClicks[r] ?? 0) - w * ratio)) / den;
    });
    variance += influence * influence;
  }
  return Math.sqrt(variance);
}

/**
 * Estimate the target policy's CTR (clicks per slot) from logged records of other policies.
 * See the top of this file for the estimators and their assumptions.
 */
export function estimateOffPolicy(
  logs: readonly LoggedRecord[],
  target: Policy,
  options: OffPolicyOptions = {},
): OffPolicyResult {
  const confidence = options.confidence ?? 0.95;
  const seed = options.seed ?? 1;
  const maxWeight = options.maxWeight ?? Infinity;
  const bootstrapSamples = options.bootstrapSamples ?? 1000;
  if (!(confidence > 0 && confidence < 1)) throw new PolicyConfigError("confidence", confidence, "a number in (0,1)");
  if (!(maxWeight > 0)) throw new PolicyConfigError("maxWeight", maxWeight, "a number > 0");
  if (!(Number.isInteger(bootstrapSamples) && bootstrapSamples >= 10))
    throw new PolicyConfigError("bootstrapSamples", bootstrapSamples, "an integer ≥ 10");

  const terms = offPolicyTerms(logs, target, options);
  const point = pointEstimates(terms);

  let allWeights = 0;
  let allSquares = 0;
  for (const t of terms)
    for (const w of t.weights) {
      allWeights += w;
      allSquares += w * w;
    }
  const effectiveSampleSize = allSquares > 0 ? (allWeights * allWeights) / allSquares : 0;

  const z = normalQuantile(0.5 + confidence / 2);
  const seIps = meanStdError(terms.map((t) => t.ips));
  const seDr = meanStdError(terms.map((t) => t.dr));
  const seSnips = snipsStdError(terms);
  const normal = (estimate: number, stdError: number): OffPolicyEstimate => ({
    estimate,
    stdError,
    ciLow: estimate - z * stdError,
    ciHigh: estimate + z * stdError,
  });

  if ((options.interval ?? "normal") === "normal" || terms.length === 0) {
    return {
      ips: normal(point.ips, seIps),
      snips: normal(point.snips, seSnips),
      dr: normal(point.dr, seDr),
      n: terms.length,
      effectiveSampleSize,
    };
  }

  // Percentile bootstrap over records (the reward model is kept fixed).
  const rng = createRng(mixSeeds(seed, 0xb007));
  const draws: PointEstimates[] = [];
  const sample: RecordTerms[] = new Array<RecordTerms>(terms.length);
  for (let b = 0; b < bootstrapSamples; b++) {
    for (let i = 0; i < terms.length; i++) sample[i] = terms[Math.floor(rng() * terms.length)] as RecordTerms;
    draws.push(pointEstimates(sample));
  }
  const tail = (1 - confidence) / 2;
  const interval = (estimate: number, stdError: number, pick: (p: PointEstimates) => number): OffPolicyEstimate => {
    const sorted = draws.map(pick).sort((a, b) => a - b);
    return { estimate, stdError, ciLow: percentile(sorted, tail), ciHigh: percentile(sorted, 1 - tail) };
  };
  return {
    ips: interval(point.ips, seIps, (p) => p.ips),
    snips: interval(point.snips, seSnips, (p) => p.snips),
    dr: interval(point.dr, seDr, (p) => p.dr),
    n: terms.length,
    effectiveSampleSize,
  };
}

/**
 * Each record's re-weighting terms under the target (prefix weights, IPS and DR values per slot
 * and per slate). The reward model for DR is cross-fitted: fitted on the other half of the logs,
 * so a record's own click does not leak into its DR baseline.
 */
export function offPolicyTerms(
  logs: readonly LoggedRecord[],
  target: Policy,
  options: OffPolicyOptions = {},
): RecordTerms[] {
  const seed = options.seed ?? 1;
  const maxWeight = options.maxWeight ?? Infinity;
  const rewardModelFor: (index: number) => RewardModel =
    options.rewardModel !== undefined
      ? () => options.rewardModel as RewardModel
      : (() => {
          const halves = [
            fitRankItemRewardModel(logs.filter((_, i) => i % 2 === 1)),
            fitRankItemRewardModel(logs.filter((_, i) => i % 2 === 0)),
          ];
          return (index: number) => halves[index % 2] as RewardModel;
        })();
  const contextFor = options.contextFor ?? defaultContext;
  return logs.map((record, i) => {
    const rng = createRng(mixSeeds(seed, hashString(record.recId)));
    return recordTerms(record, target, contextFor(record, rng), rewardModelFor(i), maxWeight);
  });
}

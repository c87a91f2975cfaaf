// Shadow (apprentice) policies: the scorer logs, for every served slate, each candidate policy's
// conditional probability of the served items (DecisionLogRecord.shadow) without changing what
// the user sees. From those, the candidate's CTR is estimated by IPS with prefix weights
// w_r = Π_{j≤r} π_shadow(a_j | a_<j) / μ(a_j | a_<j), exactly as logged — no re-run needed — with an
// anytime-valid confidence sequence, so the estimate may be checked as often as wanted.
//
// Support: IPS covers only slates the serving policy can show. With a deterministic serving
// policy (greedy) a candidate that explores puts mass on slates never shown, and IPS
// underestimates it by that mass; the mean full-slate weight (meanSlateWeight, 1 when the serving
// policy supports the shadow's slates) is reported beside the estimate so the gap is visible.
//
// estimateShadowDr covers that mass with a reward model (doubly robust with the direct method as
// baseline): per served slate,
//   V = (1/K) Σ_r [ E_π q̂(A_r, r) + w_r (c_r − q̂(a_r, r)) ],
// the first term over the shadow's own slates (sampled from it on the logged candidates), the
// second the importance-weighted correction on the served path. Its expectation is
//   V(π) − Σ_{prefixes the server never shows} π(prefix) · (q − q̂),
// so it is unbiased when the server supports the shadow (then it is ordinary DR) and otherwise off
// by the reward model's error on the unshown slates, weighted by how often the shadow takes them
// (unsupportedMass says how much of the shadow's slot mass rests on q̂ alone). With greedy
// serving and ε-greedy in shadow, w_r = Π_{j≤r} ((1−ε) + ε/n_j) on greedy's slate.
// The reward model q̂(item, rank) = σ(α_rank + β·score) is fitted on the served slots: per-rank
// position effects and the model score with β ≥ 0, so items greedy never shows to this user
// (lower scores) get no higher a click probability than the ones it shows — an extrapolation in
// score, which is the residual bias the interval does not cover. When the served slots cannot
// tell the slope (β fits at 0), the unshown items are rated like greedy's own at the same rank:
// an estimate at most optimistic by what exploring costs.
import { createRng, hashString, mixSeeds } from "@recfleet/numeric";
import { PolicyConfigError } from "./errors.js";
import { defaultContext, type LoggedRecord, type OffPolicyEstimate } from "./ope.js";
import { normalQuantile, sigmoid } from "./random.js";
import { confidenceSequence, minNormSolve, type ConfidenceBound } from "./slate-ope.js";
import type { Policy } from "./types.js";

export interface ShadowEstimate {
  shadowId: string;
  /** Records of the serving policy that carry this shadow's probabilities. */
  n: number;
  /** IPS estimate of the shadow's CTR (clicks per slot) with a normal interval. */
  ips: OffPolicyEstimate;
  /** The anytime-valid bound after the last record. */
  sequence: ConfidenceBound | undefined;
  effectiveSampleSize: number;
  maxWeight: number;
  /** Mean full-slate weight: near 1 when the serving policy supports the shadow's slates. */
  meanSlateWeight: number;
}

/** Estimate one shadow policy from the serving policy's records (those with shadow[shadowId]). */
export function estimateShadow(
  records: readonly LoggedRecord[],
  shadowId: string,
  options: { confidence?: number } = {},
): ShadowEstimate {
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new PolicyConfigError("confidence", confidence, "a number in (0,1)");
  const values: number[] = [];
  let weightSum = 0;
  let weightSquares = 0;
  let maxWeight = 0;
  let slateWeights = 0;
  for (const record of records) {
    const probabilities = record.shadow?.[shadowId];
    if (!probabilities || probabilities.length !== record.slate.length || record.slate.length === 0) continue;
    let w = 1;
    let value = 0;
    record.slate.forEach((slot, r) => {
      w *= (probabilities[r] ?? 0) / slot.propensity;
      value += w * (slot.clicked ? 1 : 0);
      weightSum += w;
      weightSquares += w * w;
      maxWeight = Math.max(maxWeight, w);
    });
    slateWeights += w;
    values.push(value / record.slate.length);
  }
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const stdError = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) / n) : 0;
  const z = normalQuantile(0.5 + confidence / 2);
  return {
    shadowId,
    n,
    ips: { estimate: mean, stdError, ciLow: mean - z * stdError, ciHigh: mean + z * stdError },
    sequence: confidenceSequence(values, { alpha: 1 - confidence }).at(-1),
    effectiveSampleSize: weightSquares > 0 ? (weightSum * weightSum) / weightSquares : 0,
    maxWeight,
    meanSlateWeight: slateWeights / Math.max(1, n),
  };
}

export interface PromotionDecision {
  promote: boolean;
  reason: string;
}

/**
 * The policy-level promotion gate: switch traffic to the candidate only when the lower end of its
 * anytime-valid bound is above the serving policy's own CTR estimate (the counterpart of the model
 * promotion gate's margin). Refuses while the bound is too wide or the shadow has too few records.
 */
export function promotionDecision(
  shadow: Pick<ShadowEstimate, "shadowId" | "n" | "sequence">,
  serving: { ctr: number; n: number },
  minRecords = 200,
): PromotionDecision {
  if (shadow.n < minRecords || !shadow.sequence)
    return {
      promote: false,
      reason: `only ${shadow.n} records carry ${shadow.shadowId}'s probabilities (need ${minRecords})`,
    };
  const { low, high } = shadow.sequence;
  if (low > serving.ctr)
    return {
      promote: true,
      reason: `${shadow.shadowId}'s lower bound ${low.toFixed(4)} is above the serving CTR ${serving.ctr.toFixed(4)}`,
    };
  return {
    promote: false,
    reason: `${shadow.shadowId}'s bound [${low.toFixed(4)}, ${high.toFixed(4)}] does not clear the serving CTR ${serving.ctr.toFixed(4)} (${shadow.n} records; width ${(high - low).toFixed(4)})`,
  };
}

/** q̂(click | item score, 1-based rank) = σ(α_rank + β·score). */
export interface ScoreRankRewardModel {
  /** Per-rank intercepts α_1…α_K. */
  intercepts: number[];
  slope: number;
  predict(score: number, rank: number): number;
}

/**
 * Logistic regression of the served slots' clicks on rank (one intercept per rank) and the
 * candidate's model score with a slope ≥ 0, by Newton's method (a small ridge keeps it defined
 * when a rank never got a click). Fitted on the serving policy's own slots: what the shadow's
 * unshown slates rest on.
 */
export function fitScoreRankRewardModel(records: readonly LoggedRecord[], iterations = 25): ScoreRankRewardModel {
  const slots = servedSlots(records);
  const k = Math.max(1, ...slots.map((s) => s.rank + 1));
  // The slope must not be negative. A deterministic server shows only its top-scored items, so
  // rank and score move together and the slope is identified only by differences between users
  // (model versions, score levels), which can tilt it below zero: extrapolated to the low-scored
  // items an explorer draws, a negative slope rates them above the server's own picks (DR 0.134
  // for ε-greedy beside greedy's 0.116 in one fleet run). The log-likelihood is concave, so the
  // best fit with slope ≥ 0 is the free fit when its slope is ≥ 0 and otherwise the fit at 0.
  const free = newtonFit(slots, k, iterations, true);
  return rewardModelOf(free[k]! < 0 ? newtonFit(slots, k, iterations, false) : free, k);
}

/** σ(α_rank): the score slope held at 0, the upper end of what the served slots allow (see bound). */
function fitRankOnlyRewardModel(records: readonly LoggedRecord[], iterations = 25): ScoreRankRewardModel {
  const slots = servedSlots(records);
  const k = Math.max(1, ...slots.map((s) => s.rank + 1));
  return rewardModelOf(newtonFit(slots, k, iterations, false), k);
}

/** The model of a fit: k intercepts, then the slope. */
function rewardModelOf(theta: Float64Array, k: number): ScoreRankRewardModel {
  const intercepts = Array.from(theta.subarray(0, k));
  const slope = theta[k]!;
  return {
    intercepts,
    slope,
    predict: (score, rank) => sigmoid(intercepts[Math.min(rank, k) - 1]! + slope * score),
  };
}

/** [IPS's lower end, rank-only DR's upper end], each anytime-valid at alpha/2. */
function supportBound(
  ipsValues: readonly number[],
  rankOnlyValues: readonly number[],
  alpha: number,
): ConfidenceBound | undefined {
  const low = confidenceSequence(ipsValues, { alpha: alpha / 2 }).at(-1);
  const high = confidenceSequence(rankOnlyValues, { alpha: alpha / 2 }).at(-1);
  if (!low || !high) return undefined;
  return { n: low.n, estimate: (low.estimate + high.estimate) / 2, low: low.low, high: Math.max(low.high, high.high) };
}

/** The served slots with the candidate's score (0-based rank). */
function servedSlots(records: readonly LoggedRecord[]): { rank: number; score: number; click: number }[] {
  const slots: { rank: number; score: number; click: number }[] = [];
  for (const record of records) {
    const scores = new Map(record.candidates.map((c) => [c.itemId, c.score]));
    record.slate.forEach((slot, r) => {
      const score = scores.get(slot.itemId);
      if (score !== undefined) slots.push({ rank: r, score, click: slot.clicked ? 1 : 0 });
    });
  }
  return slots;
}

/** Newton's method for σ(α_rank + β·score) with a small ridge; β stays 0 unless `fitSlope`. */
function newtonFit(
  slots: readonly { rank: number; score: number; click: number }[],
  k: number,
  iterations: number,
  fitSlope: boolean,
): Float64Array {
  const p = k + 1; // k intercepts, then the slope
  const theta = new Float64Array(p);
  const ridge = 1e-3;
  for (let it = 0; it < iterations; it++) {
    const gradient = new Float64Array(p);
    const hessian = new Float64Array(p * p);
    for (const s of slots) {
      const q = sigmoid(theta[s.rank]! + theta[k]! * s.score);
      const v = q * (1 - q);
      const residual = s.click - q;
      gradient[s.rank]! += residual;
      hessian[s.rank * p + s.rank]! += v;
      if (!fitSlope) continue;
      gradient[k]! += residual * s.score;
      hessian[s.rank * p + k]! += v * s.score;
      hessian[k * p + s.rank]! += v * s.score;
      hessian[k * p + k]! += v * s.score * s.score;
    }
    for (let i = 0; i < p; i++) {
      gradient[i]! -= ridge * theta[i]!;
      hessian[i * p + i]! += ridge;
    }
    const step = minNormSolve(hessian, gradient);
    let size = 0;
    for (let i = 0; i < p; i++) {
      theta[i]! += step[i]!;
      size = Math.max(size, Math.abs(step[i]!));
    }
    if (size < 1e-8) break;
  }
  return theta;
}

export interface ShadowDrEstimate {
  shadowId: string;
  n: number;
  /** DR estimate of the shadow's CTR (clicks per slot), normal interval over records. */
  dr: OffPolicyEstimate;
  /** The direct method alone (reward model over the shadow's own slates), for comparison. */
  direct: number;
  /** The anytime-valid bound of the DR values after the last record. */
  sequence: ConfidenceBound | undefined;
  /**
   * Share of the shadow's slot mass the served slates do not reach: 1 − mean prefix weight,
   * averaged over slots. 0 when the server supports the shadow; the part resting on q̂ alone.
   */
  unsupportedMass: number;
  rewardModel: ScoreRankRewardModel;
  /**
   * Where the shadow's CTR can be, with `confidence` (each end at half the error rate), also when
   * the serving policy never shows much of what the shadow would: low is IPS's anytime-valid lower
   * end (IPS counts the unshown slates as unclicked, so it can only be low: no assumption); high is
   * the upper end of DR with a rank-only reward model (the unshown items rated like the served ones
   * at the same rank: valid when items the model scores lower are not clicked more). The policy
   * promotion gate uses low. Near the DR bound when the serving policy supports the shadow.
   */
  bound: ConfidenceBound | undefined;
}

export interface ShadowDrOptions {
  confidence?: number;
  /** Shadow slates sampled per record for the direct term. Default 32. */
  samples?: number;
  seed?: number;
  /** Default: fitScoreRankRewardModel on the records. */
  rewardModel?: ScoreRankRewardModel;
}

/**
 * Doubly robust estimate of a shadow policy from the serving policy's records (see the top of
 * this file): covers the slates a deterministic server never shows with the reward model, and
 * corrects the model with the logged probabilities on the slates it does show.
 */
export function estimateShadowDr(
  records: readonly LoggedRecord[],
  shadow: Policy,
  options: ShadowDrOptions = {},
): ShadowDrEstimate {
  const confidence = options.confidence ?? 0.95;
  const samples = options.samples ?? 32;
  const seed = options.seed ?? 1;
  if (!(confidence > 0 && confidence < 1)) throw new PolicyConfigError("confidence", confidence, "a number in (0,1)");
  if (!(Number.isInteger(samples) && samples >= 1)) throw new PolicyConfigError("samples", samples, "an integer ≥ 1");
  const usable = records.filter((r) => r.slate.length > 0);
  const model = options.rewardModel ?? fitScoreRankRewardModel(usable);
  const values: number[] = [];
  const directValues: number[] = [];
  // The two ends of `bound`: IPS per slate, and DR with the rank-only model (its direct term is
  // Σ_r σ(α_r), the same for every slate, so it needs no sampling).
  const rankOnly = fitRankOnlyRewardModel(usable);
  const ipsValues: number[] = [];
  const rankOnlyValues: number[] = [];
  const weightSums: number[] = [];
  const slotCounts: number[] = [];
  for (const record of usable) {
    const k = record.slate.length;
    const rng = createRng(mixSeeds(seed, hashString(record.recId)));
    const ctx = defaultContext(record, rng);
    const scores = new Map(record.candidates.map((c) => [c.itemId, c.score]));
    const q = (itemId: string, rank: number) => model.predict(scores.get(itemId) ?? 0, rank);
    // The shadow's probabilities of the served items: as the scorer logged them, else recomputed.
    const logged = record.shadow?.[shadow.id];
    const probabilities =
      logged && logged.length === k
        ? logged
        : (() => {
            const distributions = shadow.slotDistributions(
              record.candidates,
              record.slate.map((s) => s.itemId),
              ctx,
            );
            return record.slate.map((s, r) => distributions[r]?.get(s.itemId) ?? 0);
          })();
    let direct = 0;
    for (let m = 0; m < samples; m++) {
      const drawn = shadow.select(record.candidates, k, ctx).items;
      for (const item of drawn) direct += q(item.itemId, item.rank);
    }
    direct /= samples;
    let correction = 0;
    let ips = 0;
    let rankOnlyValue = 0;
    let w = 1;
    record.slate.forEach((slot, r) => {
      w *= (probabilities[r] ?? 0) / slot.propensity;
      const click = slot.clicked ? 1 : 0;
      correction += w * (click - q(slot.itemId, r + 1));
      ips += w * click;
      const q0 = rankOnly.predict(0, r + 1);
      rankOnlyValue += q0 + w * (click - q0);
      weightSums[r] = (weightSums[r] ?? 0) + w;
      slotCounts[r] = (slotCounts[r] ?? 0) + 1;
    });
    values.push((direct + correction) / k);
    ipsValues.push(ips / k);
    rankOnlyValues.push(rankOnlyValue / k);
    directValues.push(direct / k);
  }
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const stdError = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) / n) : 0;
  const z = normalQuantile(0.5 + confidence / 2);
  const totalSlots = slotCounts.reduce((a, b) => a + b, 0);
  const supported = slotCounts.reduce(
    (a, count, r) => a + (count / Math.max(1, totalSlots)) * ((weightSums[r] ?? 0) / count),
    0,
  );
  return {
    shadowId: shadow.id,
    n,
    dr: { estimate: mean, stdError, ciLow: mean - z * stdError, ciHigh: mean + z * stdError },
    direct: directValues.reduce((a, b) => a + b, 0) / Math.max(1, n),
    sequence: confidenceSequence(values, { alpha: 1 - confidence }).at(-1),
    unsupportedMass: Math.max(0, 1 - supported),
    rewardModel: model,
    bound: supportBound(ipsValues, rankOnlyValues, 1 - confidence),
  };
}

// Shadow (apprentice) policies: the scorer logs, for every served slate, each candidate policy's
// conditional probability of the served items (DecisionLogRecord.shadow) without changing what
// the user sees. From those, the candidate's CTR is estimated by IPS with prefix weights
// w_r = Π_{j≤r} π_shadow(a_j | a_<j) / μ(a_j | a_<j), exactly as logged — no re-run needed — with an
// anytime-valid confidence sequence, so the estimate may be checked as often as wanted.
//
// Support: the estimate covers only slates the serving policy can show. With a deterministic
// serving policy (greedy) a candidate that explores puts mass on slates never shown, and IPS
// underestimates it by that mass; the mean full-slate weight (meanSlateWeight, 1 when the serving
// policy supports the shadow's slates) is reported beside the estimate so the gap is visible.
import { PolicyConfigError } from "./errors.js";
import type { LoggedRecord, OffPolicyEstimate } from "./ope.js";
import { normalQuantile } from "./random.js";
import { confidenceSequence, type ConfidenceBound } from "./slate-ope.js";

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
  shadow: ShadowEstimate,
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

// Context-free exploration policies: greedy, ε-greedy, softmax (Plackett–Luce), Bayesian UCB and
// Beta–Bernoulli Thompson sampling on item click-through, the last two with the model score as
// prior. Each is a SlotRule (see slate.ts): propensities are P(item in slot r | slots < r).
import { checkBound } from "./bounds.js";
import { PolicyConfigError } from "./errors.js";
import { createNormalSampler, sampleBeta, sampleGamma, sigmoid } from "./random.js";
import { argmaxRemaining, oneHot, SlatePolicy, type SlateOptions, type SlotRule, type SlotSampler } from "./slate.js";
import type { Candidate, ItemStats, PolicyContext } from "./types.js";

function scoresOf(candidates: readonly Candidate[]): Float64Array {
  const scores = new Float64Array(candidates.length);
  for (let i = 0; i < scores.length; i++) scores[i] = candidates[i]!.score;
  return scores;
}

function countRemaining(remaining: Uint8Array): number {
  let count = 0;
  for (const flag of remaining) count += flag;
  return count;
}

/** Deterministic sampler: always the argmax of utility + adjustment. */
function argmaxSampler(exploit: Float64Array, utility: Float64Array = exploit): SlotSampler {
  return {
    exploit,
    slotProbabilities: (remaining, adjustment, out) => oneHot(out, argmaxRemaining(utility, adjustment, remaining)),
  };
}

// ---------------------------------------------------------------------------------------------
// ε-greedy (greedy is ε = 0)

export interface EpsilonGreedyOptions {
  /** Per-slot probability of a uniform pick among the remaining candidates, in [0,1]. */
  epsilon: number;
}

/**
 * Per slot: with probability ε a uniform pick among the remaining candidates, otherwise the best
 * remaining by score. Propensity (exact): ε/|remaining| + (1−ε)·[item is the best remaining].
 */
export function epsilonGreedyRule(options: EpsilonGreedyOptions): SlotRule {
  const { epsilon } = options;
  checkBound("epsilon", epsilon);
  return {
    id: epsilon === 0 ? "greedy" : `epsilon:${epsilon}`,
    propensityMethod: "exact",
    prepare(candidates) {
      const exploit = scoresOf(candidates);
      return {
        exploit,
        slotProbabilities(remaining, adjustment, probs) {
          const best = argmaxRemaining(exploit, adjustment, remaining);
          probs.fill(0);
          const uniform = epsilon / countRemaining(remaining);
          for (let i = 0; i < probs.length; i++) if (remaining[i] === 1) probs[i] = uniform;
          if (best >= 0) probs[best] = (probs[best] ?? 0) + (1 - epsilon);
          return probs;
        },
      };
    },
  };
}

export function greedyPolicy(options: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(epsilonGreedyRule({ epsilon: 0 }), options);
}

export function epsilonGreedyPolicy(epsilon: number, options: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(epsilonGreedyRule({ epsilon }), options);
}

// ---------------------------------------------------------------------------------------------
// Softmax / Plackett–Luce

/**
 * Plackett–Luce sampling without replacement: slot r draws item i from the remaining ones with
 * probability exp(s_i/T) / Σ_remaining exp(s_j/T). The propensity is exactly that conditional
 * probability. T = 0 is greedy (the limit T → 0).
 */
export function softmaxRule(temperature: number): SlotRule {
  checkBound("temperature", temperature);
  return {
    id: `softmax:${temperature}`,
    propensityMethod: "exact",
    prepare(candidates) {
      const exploit = scoresOf(candidates);
      return {
        exploit,
        slotProbabilities(remaining, adjustment, probs) {
          const best = argmaxRemaining(exploit, adjustment, remaining);
          if (temperature === 0 || best < 0) return oneHot(probs, best);
          // Subtract the max before exp so that small temperatures do not overflow.
          const top = (exploit[best] ?? 0) + (adjustment[best] ?? 0);
          probs.fill(0);
          let total = 0;
          for (let i = 0; i < probs.length; i++) {
            if (remaining[i] === 0) continue;
            const w = Math.exp(((exploit[i] ?? 0) + (adjustment[i] ?? 0) - top) / temperature);
            probs[i] = w;
            total += w;
          }
          for (let i = 0; i < probs.length; i++) probs[i] = (probs[i] ?? 0) / total;
          return probs;
        },
      };
    },
  };
}

export function softmaxPolicy(temperature: number, options: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(softmaxRule(temperature), options);
}

// ---------------------------------------------------------------------------------------------
// Posterior on each candidate's click-through, with the model score as prior
//
// Two kinds of evidence (CtrPriorOptions.evidence):
// - "ctr" (default): Beta–Bernoulli on the item's CTR. Prior Beta(α0·m, α0·(1−m)) with
//   m = σ(score/τ), updated with the item's clicks and misses. Simple, but once an item has many
//   impressions its posterior is its average CTR over all users: the per-user model score is lost.
// - "lift": Gamma–Poisson on the item's lift over the model, ρ = clicks / expected clicks
//   (ItemStats.expectedClicks). Prior Gamma(α0·m, α0·m) (mean 1, worth α0 impressions), posterior
//   Gamma(α0·m + clicks, α0·m + expectedClicks); the CTR is m·ρ. The model keeps ranking items for
//   this user and the counts correct each item's calibration. Without expectedClicks, the
//   expected clicks are taken as impressions·m.

export interface CtrPriorOptions {
  /** Prior strength α0 (pseudo-impressions the model score is worth). Default 10. */
  priorStrength?: number;
  /** Prior mean = σ(score / scoreTemperature). Default 1 (scores are logits). */
  scoreTemperature?: number;
  /**
   * Counts beyond this many impressions are scaled down to it, so the posterior never becomes
   * sharper than maxEvidence observations and keeps following drift. Default 1000.
   */
  maxEvidence?: number;
  /** See above. Default "ctr". */
  evidence?: "ctr" | "lift";
}

/** Posterior of each candidate's click-through: mean, sd, and joint draws. */
interface CtrPosterior {
  mean: Float64Array;
  sd: Float64Array;
  draw(rng: () => number): Float64Array;
}

const NO_STATS: ItemStats = { impressions: 0, clicks: 0 };

function validatePrior(options: CtrPriorOptions): Required<CtrPriorOptions> {
  const priorStrength = options.priorStrength ?? 10;
  const scoreTemperature = options.scoreTemperature ?? 1;
  const maxEvidence = options.maxEvidence ?? 1000;
  const evidence = options.evidence ?? "ctr";
  checkBound("priorStrength", priorStrength);
  checkBound("scoreTemperature", scoreTemperature);
  checkBound("maxEvidence", maxEvidence);
  if (evidence !== "ctr" && evidence !== "lift") throw new PolicyConfigError("evidence", evidence, '"ctr" or "lift"');
  return { priorStrength, scoreTemperature, maxEvidence, evidence };
}

/** The non-default prior settings, as spec keys (so ids round-trip through createPolicy). */
function priorSuffix(prior: Required<CtrPriorOptions>): string {
  let suffix = "";
  if (prior.priorStrength !== 10) suffix += `,prior=${prior.priorStrength}`;
  if (prior.scoreTemperature !== 1) suffix += `,tau=${prior.scoreTemperature}`;
  if (prior.maxEvidence !== 1000) suffix += `,cap=${prior.maxEvidence}`;
  if (prior.evidence === "lift") suffix += ",lift=1";
  return suffix;
}

function ctrPosterior(
  candidates: readonly Candidate[],
  ctx: PolicyContext,
  prior: Required<CtrPriorOptions>,
): CtrPosterior {
  const n = candidates.length;
  const shape = new Float64Array(n); // Beta α, or Gamma shape
  const other = new Float64Array(n); // Beta β, or Gamma rate
  const modelMean = new Float64Array(n);
  candidates.forEach((candidate, i) => {
    const m = sigmoid(candidate.score / prior.scoreTemperature);
    const stats = ctx.itemStats?.(candidate.itemId) ?? NO_STATS;
    let impressions = Math.max(0, stats.impressions);
    let clicks = Math.min(Math.max(0, stats.clicks), impressions);
    let expected = Math.max(0, stats.expectedClicks ?? impressions * m);
    if (impressions > prior.maxEvidence) {
      const shrink = prior.maxEvidence / impressions;
      clicks *= shrink;
      expected *= shrink;
      impressions = prior.maxEvidence;
    }
    modelMean[i] = m;
    if (prior.evidence === "ctr") {
      shape[i] = prior.priorStrength * m + clicks;
      other[i] = prior.priorStrength * (1 - m) + (impressions - clicks);
    } else {
      shape[i] = prior.priorStrength * m + clicks;
      other[i] = prior.priorStrength * m + expected;
    }
  });
  if (prior.evidence === "ctr") {
    return {
      mean: shape.map((a, i) => a / (a + (other[i] ?? 0))),
      sd: shape.map((a, i) => {
        const b = other[i] ?? 0;
        return Math.sqrt((a * b) / ((a + b) * (a + b) * (a + b + 1)));
      }),
      draw: (rng) => {
        const normal = createNormalSampler(rng);
        return shape.map((a, i) => sampleBeta(rng, a, other[i] ?? 1, normal));
      },
    };
  }
  return {
    mean: shape.map((a, i) => ((modelMean[i] ?? 0) * a) / (other[i] ?? 1)),
    sd: shape.map((a, i) => ((modelMean[i] ?? 0) * Math.sqrt(a)) / (other[i] ?? 1)),
    draw: (rng) => {
      const normal = createNormalSampler(rng);
      return shape.map((a, i) => ((modelMean[i] ?? 0) * sampleGamma(rng, a, normal)) / (other[i] ?? 1));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Bayesian UCB

export interface UcbOptions extends CtrPriorOptions {
  /** Utility = posterior mean + width · posterior sd. Default 2. */
  width?: number;
}

/**
 * Bayesian UCB on CTR: rank by posterior mean + width·sd of the posterior whose prior mean is the
 * model's σ(score). Unseen items have a wide posterior and get a large bonus. It is
 * deterministic given the counts, so every propensity is 1 (exploration happens across requests
 * as the counts move). `explored` marks slots where the bonus changed the pick.
 */
export function ucbRule(options: UcbOptions = {}): SlotRule {
  const prior = validatePrior(options);
  const width = options.width ?? 2;
  checkBound("width", width);
  return {
    id: `ucb:${width}` + priorSuffix(prior),
    propensityMethod: "exact",
    prepare(candidates, ctx) {
      const posterior = ctrPosterior(candidates, ctx, prior);
      const utility = posterior.mean.map((mean, i) => mean + width * (posterior.sd[i] ?? 0));
      return argmaxSampler(posterior.mean, utility);
    },
  };
}

export function ucbPolicy(options: UcbOptions = {}, slate: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(ucbRule(options), slate);
}

// ---------------------------------------------------------------------------------------------
// Monte Carlo pool, shared by Thompson sampling and linear Thompson sampling

/**
 * A pool of S joint draws of every candidate's utility. Slot r picks one draw uniformly and places
 * its best remaining item, so given the pool the slot's probabilities are exactly
 * (#draws whose best remaining item is i) / S — that is the logged propensity. Over the pool's
 * randomness it is an unbiased Monte Carlo estimate of the Thompson probability of the slot, and
 * it is never 0 for the placed item.
 */
export function monteCarloSampler(exploit: Float64Array, draws: Float64Array[]): SlotSampler {
  return {
    exploit,
    slotProbabilities(remaining, adjustment, probs) {
      probs.fill(0);
      const share = 1 / draws.length;
      for (const draw of draws) {
        const best = argmaxRemaining(draw, adjustment, remaining);
        if (best >= 0) probs[best] = (probs[best] ?? 0) + share;
      }
      return probs;
    },
  };
}

export interface ThompsonOptions extends CtrPriorOptions {
  /** Monte Carlo draws per request (the pool size S). Default 100. */
  samples?: number;
}

export function validateSamples(samples: number): number {
  return checkBound("samples", samples);
}

/**
 * Thompson sampling on click-through: Beta–Bernoulli with prior Beta(α0·σ(s/τ), α0·(1−σ(s/τ)))
 * from the model score, updated with the item's clicks and impressions (or the Gamma lift
 * posterior with evidence "lift"). Each slot is filled from a fresh posterior
 * draw (from a pool of S draws, see monteCarloSampler); propensities are Monte Carlo.
 */
export function thompsonRule(options: ThompsonOptions = {}): SlotRule {
  const prior = validatePrior(options);
  const samples = validateSamples(options.samples ?? 100);
  return {
    id: `thompson:${samples}` + priorSuffix(prior),
    propensityMethod: "monte-carlo",
    monteCarloSamples: samples,
    prepare(candidates, ctx) {
      const posterior = ctrPosterior(candidates, ctx, prior);
      const draws: Float64Array[] = [];
      for (let s = 0; s < samples; s++) draws.push(posterior.draw(ctx.rng));
      return monteCarloSampler(posterior.mean, draws);
    },
  };
}

export function thompsonPolicy(options: ThompsonOptions = {}, slate: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(thompsonRule(options), slate);
}

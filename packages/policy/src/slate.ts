// The slot-by-slot slate builder every built-in policy shares.
//
// A policy is a `SlotRule`: once per request it prepares a `SlotSampler` (scores, posteriors,
// Monte Carlo draws), and the builder fills the slate top-down, asking the sampler for the
// distribution of the next slot over the items still free. Because every slot's distribution is
// an explicit vector, the logged propensity is exactly P(item in slot r | items in slots < r),
// and off-policy evaluation can re-score any logged slate under any policy (slotDistributions).
//
// The options below also act slot by slot, so they keep that property:
// - explorationBudget m: once m slots of this slate were explored, the remaining slots are the
//   exploit choice (probability 1). The budget state depends only on the prefix, so the
//   propensities stay exact conditional probabilities.
// - coldStart: adds a boost to the score of new / young items before the policy sees them; the
//   policy's propensities are those of the boosted scores (nothing else changes).
// - mmr: subtracts weight·max cosine similarity to the items already placed from every
//   candidate's utility before each slot (MMR re-ranking done inside the policy rather than
//   after it). The penalty is a function of the prefix, so exact policies stay exact and Monte
//   Carlo policies keep their per-slot Monte Carlo estimate; no re-ranking after sampling is
//   needed (that would make the slate a deterministic function of a random one and force a
//   Monte Carlo estimate of prefix probabilities, which is far noisier).
import { checkBound } from "./bounds.js";
import { CandidateError, PolicyConfigError } from "./errors.js";
import { sampleIndex } from "./random.js";
import type { Candidate, Policy, PolicyContext, PolicyDecision, SlateItem, SlotDistribution } from "./types.js";

/** What a policy computes once per request. */
export interface SlotSampler {
  /** Exploit utility per candidate: pure exploitation places argmax(exploit + adjustment). */
  readonly exploit: Float64Array;
  /**
   * Probability of each candidate for the next slot (zero where `remaining[i]` is 0), written into
   * `out` (one buffer per walk, reused slot after slot: a typed array of a hundred doubles costs
   * more to allocate than a greedy slot costs to compute), which is returned. `adjustment` is
   * added to every candidate's utility (the MMR penalty; zeros without MMR).
   */
  slotProbabilities(remaining: Uint8Array, adjustment: Float64Array, out: Float64Array): Float64Array;
}

export interface SlotRule {
  /** Canonical id, e.g. "epsilon:0.1". */
  readonly id: string;
  readonly propensityMethod: "exact" | "monte-carlo";
  readonly monteCarloSamples?: number;
  prepare(candidates: readonly Candidate[], ctx: PolicyContext): SlotSampler;
}

export interface ColdStartOptions {
  /** Added to the score (logit) of an item with isNew, or ageMs = 0. */
  boost: number;
  /** The boost decays linearly to 0 at this age (ms). Items with isNew get the full boost. */
  windowMs: number;
}

export interface MmrOptions {
  /** Utility penalty per unit of max cosine similarity to the items already placed (≥ 0). */
  weight: number;
}

export interface SlateOptions {
  /** At most this many explored slots per slate (undefined: no limit). */
  explorationBudget?: number;
  coldStart?: ColdStartOptions;
  mmr?: MmrOptions;
}

export function validateSlateOptions(options: SlateOptions): void {
  const { explorationBudget, coldStart, mmr } = options;
  if (explorationBudget !== undefined) checkBound("explorationBudget", explorationBudget);
  if (coldStart !== undefined) {
    checkBound("coldStart.boost", coldStart.boost);
    checkBound("coldStart.windowMs", coldStart.windowMs);
  }
  if (mmr !== undefined) checkBound("mmr.weight", mmr.weight);
}

/** Suffix appended to a rule id for the options, e.g. "+budget:2+mmr:0.3". */
export function slateOptionsSuffix(options: SlateOptions): string {
  let suffix = "";
  if (options.explorationBudget !== undefined) suffix += `+budget:${options.explorationBudget}`;
  if (options.coldStart !== undefined) suffix += `+cold:${options.coldStart.boost},${options.coldStart.windowMs}`;
  if (options.mmr !== undefined) suffix += `+mmr:${options.mmr.weight}`;
  return suffix;
}

export function coldStartBoost(candidate: Candidate, coldStart: ColdStartOptions): number {
  if (candidate.isNew === true) return coldStart.boost;
  if (candidate.ageMs === undefined || coldStart.windowMs <= 0) return 0;
  const fresh = 1 - candidate.ageMs / coldStart.windowMs;
  return fresh > 0 ? coldStart.boost * Math.min(1, fresh) : 0;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** argmax of exploit + adjustment over remaining; ties go to the lower index (stable). */
export function argmaxRemaining(exploit: Float64Array, adjustment: Float64Array, remaining: Uint8Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < exploit.length; i++) {
    if (remaining[i] === 0) continue;
    const value = (exploit[i] ?? 0) + (adjustment[i] ?? 0);
    if (best < 0 || value > bestValue) {
      best = i;
      bestValue = value;
    }
  }
  return best;
}

/** `out` zeroed, 1 at `index` (none if it is negative). */
export function oneHot(out: Float64Array, index: number): Float64Array {
  out.fill(0);
  if (index >= 0) out[index] = 1;
  return out;
}

interface SlotStep {
  index: number;
  probabilities: Float64Array;
  explored: boolean;
}

/**
 * A policy built from a SlotRule and slate options. All built-in policies are SlatePolicy, which
 * is what the budget and MMR wrappers need (they act inside the slot loop).
 */
export class SlatePolicy implements Policy {
  readonly id: string;
  readonly rule: SlotRule;
  readonly options: Readonly<SlateOptions>;

  constructor(rule: SlotRule, options: SlateOptions = {}) {
    validateSlateOptions(options);
    this.rule = rule;
    this.options = { ...options };
    this.id = rule.id + slateOptionsSuffix(options);
  }

  /** Same rule, with these options merged over the current ones. */
  withOptions(options: SlateOptions): SlatePolicy {
    return new SlatePolicy(this.rule, { ...this.options, ...options });
  }

  select(candidates: readonly Candidate[], k: number, ctx: PolicyContext): PolicyDecision {
    if (!(Number.isInteger(k) && k >= 0)) throw new PolicyConfigError("k", k, "an integer ≥ 0");
    const prepared = this.prepare(candidates, ctx);
    const items: SlateItem[] = [];
    this.walk(prepared, Math.min(k, candidates.length), ctx, undefined, (step) => {
      const candidate = prepared.candidates[step.index] as Candidate;
      items.push({
        itemId: candidate.itemId,
        score: candidate.score,
        rank: items.length + 1,
        propensity: step.probabilities[step.index] ?? 0,
        explored: step.explored,
      });
    });
    const decision: PolicyDecision = { policyId: this.id, items, propensityMethod: this.rule.propensityMethod };
    if (this.rule.monteCarloSamples !== undefined) decision.monteCarloSamples = this.rule.monteCarloSamples;
    return decision;
  }

  slotDistributions(
    candidates: readonly Candidate[],
    slate: readonly string[],
    ctx: PolicyContext,
  ): SlotDistribution[] {
    const prepared = this.prepare(candidates, ctx);
    const distributions: SlotDistribution[] = [];
    this.walk(prepared, Math.min(slate.length, candidates.length), ctx, slate, (step) => {
      const distribution = new Map<string, number>();
      step.probabilities.forEach((p, i) => {
        if (p > 0) distribution.set((prepared.candidates[i] as Candidate).itemId, p);
      });
      distributions.push(distribution);
    });
    // A logged slate longer than the candidate list: nothing could have been placed there.
    while (distributions.length < slate.length) distributions.push(new Map());
    return distributions;
  }

  private prepare(
    candidates: readonly Candidate[],
    ctx: PolicyContext,
  ): { candidates: Candidate[]; sampler: SlotSampler } {
    const seen = new Set<string>();
    for (const candidate of candidates) {
      if (seen.has(candidate.itemId)) throw new CandidateError(candidate.itemId, "appears twice in the candidate list");
      if (!Number.isFinite(candidate.score))
        throw new CandidateError(candidate.itemId, `score is ${candidate.score}; expected a finite number`);
      seen.add(candidate.itemId);
    }
    const coldStart = this.options.coldStart;
    const boosted =
      coldStart === undefined
        ? [...candidates]
        : candidates.map((c) => ({ ...c, score: c.score + coldStartBoost(c, coldStart) }));
    return { candidates: boosted, sampler: this.rule.prepare(boosted, ctx) };
  }

  /**
   * Fill `slots` slots. Without `forced`, each slot is drawn from its distribution with ctx.rng;
   * with `forced` (a logged slate), the logged item is placed instead, so the distributions are
   * those along the logged prefix.
   */
  private walk(
    prepared: { candidates: Candidate[]; sampler: SlotSampler },
    slots: number,
    ctx: PolicyContext,
    forced: readonly string[] | undefined,
    onSlot: (step: SlotStep) => void,
  ): void {
    const { candidates, sampler } = prepared;
    const n = candidates.length;
    const remaining = new Uint8Array(n).fill(1);
    const adjustment = new Float64Array(n);
    // Each slot's probabilities: the step hands them to onSlot, which reads them before the next.
    const probabilities = new Float64Array(n);
    const mmr = this.options.mmr;
    const maxSimilarity = mmr !== undefined && mmr.weight > 0 ? new Float64Array(n).fill(-Infinity) : undefined;
    const indexById = forced === undefined ? undefined : new Map(candidates.map((c, i) => [c.itemId, i]));
    const budget = this.options.explorationBudget;
    let explorations = 0;

    for (let slot = 0; slot < slots; slot++) {
      const greedy = argmaxRemaining(sampler.exploit, adjustment, remaining);
      const canExplore = budget === undefined || explorations < budget;
      const slotProbabilities = canExplore
        ? sampler.slotProbabilities(remaining, adjustment, probabilities)
        : oneHot(probabilities, greedy);
      let index: number;
      if (indexById === undefined) {
        index = sampleIndex(slotProbabilities, ctx.rng);
        if (index < 0) index = greedy; // defensive: a sampler returning all zeros
      } else {
        index = indexById.get(forced?.[slot] ?? "") ?? -1;
      }
      const explored = index !== greedy;
      onSlot({ index, probabilities: slotProbabilities, explored });
      if (index < 0 || remaining[index] === 0) continue; // logged item unknown or repeated: prefix cannot continue to match
      remaining[index] = 0;
      if (explored) explorations++;
      if (mmr !== undefined && maxSimilarity !== undefined) {
        const placed = candidates[index]?.vector;
        if (placed === undefined) continue;
        for (let i = 0; i < n; i++) {
          const vector = candidates[i]?.vector;
          if (remaining[i] === 0 || vector === undefined) continue;
          const similarity = cosine(vector, placed);
          if (similarity > (maxSimilarity[i] ?? -Infinity)) {
            maxSimilarity[i] = similarity;
            adjustment[i] = -mmr.weight * similarity;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Wrappers. They return a new policy with the option set; see the top of this file for what each
// does to propensities (they all stay exact conditional probabilities).

/** At most `maxExplored` explored slots per slate; later slots are the exploit choice. */
export function withExplorationBudget(policy: SlatePolicy, maxExplored: number): SlatePolicy {
  return policy.withOptions({ explorationBudget: maxExplored });
}

/** Boost the score of new / young items before the policy ranks them. */
export function withColdStartBoost(policy: SlatePolicy, coldStart: ColdStartOptions): SlatePolicy {
  return policy.withOptions({ coldStart });
}

/** MMR diversity inside the slot loop: utility − weight·max cosine similarity to placed items. */
export function withMmr(policy: SlatePolicy, mmr: MmrOptions): SlatePolicy {
  return policy.withOptions({ mmr });
}

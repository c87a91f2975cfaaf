// Shared types of the exploration policies. Everything here is plain data or a pure function
// so the workers can keep bandit state in Redis and pass it back in on the next request.

/** One item the scorer proposes, with the model's score (a logit: σ(score) ≈ click probability). */
export interface Candidate {
  itemId: string;
  score: number;
  /** The item's two-tower embedding (used by the neural-linear bandit and by MMR). */
  vector?: Float32Array;
  /** True while the item has no trained embedding (its score is only a prior). */
  isNew?: boolean;
  /** Time since the item entered the catalog, for the cold-start boost. */
  ageMs?: number;
}

/** Click counts for one item (or one item under one policy), read from Redis by the worker. */
export interface ItemStats {
  impressions: number;
  clicks: number;
  /**
   * Optional: Σ over the impressions of the model's predicted click probability σ(score) at the
   * time. When present, UCB and Thompson learn the item's lift over the model (clicks vs expected
   * clicks) instead of its raw CTR, which keeps the model's per-user personalisation (see
   * policies.ts). A worker keeps it with one HINCRBYFLOAT per impression.
   */
  expectedClicks?: number;
}

/**
 * Neural-linear bandit state: ridge regression on x = userVector ⊙ itemVector.
 * Plain JSON-friendly data (number[]), so it can be stored as is; see linear.ts.
 */
export interface LinearBanditState {
  /** Dimension of x. */
  d: number;
  /** Ridge strength: A starts as λI. */
  lambda: number;
  /** Number of updates folded in. */
  count: number;
  /** A⁻¹, row-major d×d, kept current by Sherman–Morrison. */
  aInverse: number[];
  /** b = Σ x·reward, length d. θ̂ = A⁻¹ b. */
  b: number[];
}

export interface PolicyContext {
  /** Seeded uniform [0,1). All randomness of a policy comes from here. */
  rng: () => number;
  userVector?: Float32Array;
  itemStats?: (itemId: string) => ItemStats;
  linear?: LinearBanditState;
  totalImpressions?: number;
}

/**
 * One placed item.
 *
 * `propensity` is the CONDITIONAL per-slot probability: P(this item in this slot | the items
 * placed in the slots above, the candidates and the context). The probability of the whole
 * ordered slate is the product of its propensities, and the product over slots 1..r is the
 * probability of the prefix — which is what the off-policy estimators in ope.ts use.
 */
export interface SlateItem {
  itemId: string;
  /** The score the policy ranked on before exploration (model score, plus any cold-start boost). */
  score: number;
  /** 1-based position in the slate. */
  rank: number;
  propensity: number;
  /** True when the item differs from what pure exploitation would have put in this slot. */
  explored: boolean;
}

export interface PolicyDecision {
  policyId: string;
  items: SlateItem[];
  propensityMethod: "exact" | "monte-carlo";
  monteCarloSamples?: number;
}

/**
 * The policy's distribution for each slot of a given (logged) slate: entry r maps every item the
 * policy could have placed in slot r, given that the logged items filled slots < r, to its
 * probability. Used by off-policy evaluation to re-score a slate under a target policy.
 */
export type SlotDistribution = ReadonlyMap<string, number>;

export interface Policy {
  readonly id: string;
  select(candidates: readonly Candidate[], k: number, ctx: PolicyContext): PolicyDecision;
  /** Per-slot distributions of this policy along a given slate (see SlotDistribution). */
  slotDistributions(candidates: readonly Candidate[], slate: readonly string[], ctx: PolicyContext): SlotDistribution[];
}

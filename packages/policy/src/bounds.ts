// Bounds of every policy parameter. A policy runs inside one scoring call of the scorer's
// consumer loop, so a spec must not be able to make one request slow or large: an unbounded
// Thompson pool (thompson:999999) took ~14 s and ~1 GB, past the consumer's session timeout, and
// the batch was re-scored forever. Parameters that do not cost work are bounded too, so that a
// typo (prior=1e300, tau=1e-300) is refused at start instead of producing NaN utilities.
import { PolicyConfigError } from "./errors.js";

export interface ParameterBound {
  min: number;
  max: number;
  /** The lower bound itself is excluded (a strictly positive parameter). */
  minExclusive?: boolean;
  integer?: boolean;
}

export const POLICY_BOUNDS = {
  // Monte Carlo pool per request (Thompson, linear TS). Work is samples × candidates per slot and
  // memory samples × candidates doubles: 1000 × 100 candidates (SCORER_CANDIDATES' default) is
  // 0.8 MB and ~2M comparisons for a 20-item slate. The propensity's Monte Carlo error is about
  // 1/√samples (3% at 1000), so larger pools buy little.
  samples: { min: 1, max: 1000, integer: true },
  epsilon: { min: 0, max: 1 },
  // Temperatures and widths: beyond these the policy is uniform (or all bonus) already.
  temperature: { min: 0, max: 100 },
  scoreTemperature: { min: 0, max: 100, minExclusive: true },
  width: { min: 0, max: 100 },
  alpha: { min: 0, max: 100 },
  scale: { min: 0, max: 100 },
  modelWeight: { min: 0, max: 100 },
  // Linear policies invert/factor a d×d matrix per request: O(d³), 16M multiply-adds at 256.
  d: { min: 1, max: 256, integer: true },
  // Pseudo-impressions: a prior worth more than a million impressions never moves.
  priorStrength: { min: 0, max: 1_000_000, minExclusive: true },
  maxEvidence: { min: 0, max: 1_000_000_000, minExclusive: true },
  lift: { min: 0, max: 1, integer: true },
  // Slate options. A budget beyond any slate size is the same as none.
  explorationBudget: { min: 0, max: 1000, integer: true },
  "coldStart.boost": { min: -100, max: 100 },
  "coldStart.windowMs": { min: 0, max: 365 * 24 * 3600 * 1000 },
  "mmr.weight": { min: 0, max: 100 },
} satisfies Record<string, ParameterBound>;

export type BoundedParameter = keyof typeof POLICY_BOUNDS;

export function describeBound(bound: ParameterBound): string {
  const low = bound.minExclusive ? `(${bound.min}` : `[${bound.min}`;
  return `${bound.integer ? "an integer" : "a number"} in ${low}, ${bound.max}]`;
}

/** Returns the value when it is inside the parameter's bound; else PolicyConfigError naming both. */
export function checkBound(option: BoundedParameter, value: number): number {
  const bound: ParameterBound = POLICY_BOUNDS[option];
  const inside =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (bound.minExclusive ? value > bound.min : value >= bound.min) &&
    value <= bound.max &&
    (!bound.integer || Number.isInteger(value));
  if (!inside) throw new PolicyConfigError(option, value, describeBound(bound));
  return value;
}

// Neural-linear contextual bandit: Bayesian ridge regression on top of the two-tower embeddings.
//
// Context: x = userVector ⊙ itemVector (elementwise product). The two-tower score is Σ x_j, so a
// linear model on x can represent the model itself (θ = 1) and re-weight each latent dimension,
// with only d parameters. Concatenation [u; v] would be linear in u and v separately and could not
// express the user–item interaction at all.
//
// What the regression learns: the residual of the click over the model's own estimate,
// y = click − modelWeight·σ(score/τ) (use `linearTarget`). The bandit's utility is then
// modelWeight·σ(score/τ) + θ̂ᵀx (+ exploration), so with no data it ranks exactly like the model,
// and the bandit only corrects it where the clicks disagree.
//
// State is plain data (A⁻¹ and b as number[]), updated by Sherman–Morrison in O(d²). A⁻¹ cannot
// be merged from several writers; a fleet with concurrent writers should keep A and b (additive,
// HINCRBYFLOAT) and invert on read — `linearStateFromSums` builds this state from them.
import { checkBound } from "./bounds.js";
import { LinearStateError, PolicyConfigError } from "./errors.js";
import { monteCarloSampler, validateSamples } from "./policies.js";
import { argmaxRemaining, oneHot, SlatePolicy, type SlateOptions, type SlotRule } from "./slate.js";
import { createNormalSampler, sigmoid } from "./random.js";
import type { Candidate, LinearBanditState, PolicyContext } from "./types.js";

export function createLinearState(d: number, lambda = 1): LinearBanditState {
  if (!(Number.isInteger(d) && d >= 1)) throw new PolicyConfigError("d", d, "an integer ≥ 1");
  if (!(lambda > 0)) throw new PolicyConfigError("lambda", lambda, "a number > 0");
  const aInverse = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) aInverse[i * d + i] = 1 / lambda;
  return { d, lambda, count: 0, aInverse, b: new Array<number>(d).fill(0) };
}

/** x = user ⊙ item (zeros where a vector is missing). */
export function linearContext(
  userVector: Float32Array | undefined,
  itemVector: Float32Array | undefined,
  d: number,
): Float64Array {
  const x = new Float64Array(d);
  if (userVector === undefined || itemVector === undefined) return x;
  for (let j = 0; j < d; j++) x[j] = (userVector[j] ?? 0) * (itemVector[j] ?? 0);
  return x;
}

/** The regression target for one shown item: the click minus the model's own estimate. */
export function linearTarget(
  clicked: boolean,
  score: number,
  options: { modelWeight?: number; scoreTemperature?: number } = {},
): number {
  return (clicked ? 1 : 0) - (options.modelWeight ?? 1) * sigmoid(score / (options.scoreTemperature ?? 1));
}

/**
 * Fold one observation in: A ← A + xxᵀ (A⁻¹ by Sherman–Morrison), b ← b + reward·x.
 * Returns a new state; the input is not modified.
 */
export function updateLinear(state: LinearBanditState, x: ArrayLike<number>, reward: number): LinearBanditState {
  const { d } = state;
  if (x.length !== d) throw new LinearStateError(`context has length ${x.length}, state has d = ${d}`);
  if (!Number.isFinite(reward)) throw new LinearStateError(`reward is ${reward}; expected a finite number`);
  const aInverse = state.aInverse.slice();
  const ax = new Float64Array(d); // A⁻¹x (A⁻¹ is symmetric, so xᵀA⁻¹ is the same vector)
  for (let i = 0; i < d; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += (aInverse[i * d + j] ?? 0) * (x[j] ?? 0);
    ax[i] = sum;
  }
  let denominator = 1;
  for (let i = 0; i < d; i++) denominator += (x[i] ?? 0) * (ax[i] ?? 0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++)
      aInverse[i * d + j] = (aInverse[i * d + j] ?? 0) - ((ax[i] ?? 0) * (ax[j] ?? 0)) / denominator;
  }
  const b = state.b.map((value, i) => value + reward * (x[i] ?? 0));
  return { d, lambda: state.lambda, count: state.count + 1, aInverse, b };
}

/** θ̂ = A⁻¹b. */
export function linearMean(state: LinearBanditState): Float64Array {
  const { d } = state;
  const theta = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += (state.aInverse[i * d + j] ?? 0) * (state.b[j] ?? 0);
    theta[i] = sum;
  }
  return theta;
}

/** xᵀA⁻¹x: the posterior variance of θᵀx in units of the noise variance. */
export function linearVariance(state: LinearBanditState, x: ArrayLike<number>): number {
  const { d } = state;
  let total = 0;
  for (let i = 0; i < d; i++) {
    let row = 0;
    for (let j = 0; j < d; j++) row += (state.aInverse[i * d + j] ?? 0) * (x[j] ?? 0);
    total += (x[i] ?? 0) * row;
  }
  return Math.max(0, total);
}

/** Build the state from A and b (the additive form a multi-writer store keeps). */
export function linearStateFromSums(
  d: number,
  lambda: number,
  count: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): LinearBanditState {
  if (a.length !== d * d || b.length !== d)
    throw new LinearStateError(`A must have ${d * d} entries and b ${d}; got ${a.length} and ${b.length}`);
  const l = cholesky(Array.from(a), d);
  // A⁻¹ from the Cholesky factor: solve L Lᵀ X = I column by column.
  const aInverse = new Array<number>(d * d).fill(0);
  for (let col = 0; col < d; col++) {
    const y = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let sum = i === col ? 1 : 0;
      for (let k = 0; k < i; k++) sum -= (l[i * d + k] ?? 0) * (y[k] ?? 0);
      y[i] = sum / (l[i * d + i] ?? 1);
    }
    for (let i = d - 1; i >= 0; i--) {
      let sum = y[i] ?? 0;
      for (let k = i + 1; k < d; k++) sum -= (l[k * d + i] ?? 0) * (aInverse[k * d + col] ?? 0);
      aInverse[i * d + col] = sum / (l[i * d + i] ?? 1);
    }
  }
  return { d, lambda, count, aInverse, b: Array.from(b) };
}

/** Lower-triangular L with M = LLᵀ (row-major). Throws LinearStateError if M is not positive definite. */
function cholesky(matrix: ArrayLike<number>, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      // Symmetrise: Sherman–Morrison round-off leaves A⁻¹ slightly asymmetric.
      let sum = 0.5 * ((matrix[i * d + j] ?? 0) + (matrix[j * d + i] ?? 0));
      for (let k = 0; k < j; k++) sum -= (l[i * d + k] ?? 0) * (l[j * d + k] ?? 0);
      if (i === j) {
        if (!(sum > 0)) throw new LinearStateError("matrix is not positive definite (state corrupted or λ too small)");
        l[i * d + i] = Math.sqrt(sum);
      } else {
        l[i * d + j] = sum / (l[j * d + j] ?? 1);
      }
    }
  }
  return l;
}

export function serializeLinearState(state: LinearBanditState): string {
  return JSON.stringify({ d: state.d, lambda: state.lambda, count: state.count, aInverse: state.aInverse, b: state.b });
}

export function deserializeLinearState(text: string): LinearBanditState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new LinearStateError("not valid JSON", { cause });
  }
  if (typeof parsed !== "object" || parsed === null) throw new LinearStateError("expected a JSON object");
  const record = parsed as Record<string, unknown>;
  const { d, lambda, count, aInverse, b } = record;
  if (typeof d !== "number" || !Number.isInteger(d) || d < 1)
    throw new LinearStateError(`d is ${JSON.stringify(d)}; expected an integer ≥ 1`);
  if (typeof lambda !== "number" || !(lambda > 0))
    throw new LinearStateError(`lambda is ${JSON.stringify(lambda)}; expected a number > 0`);
  if (typeof count !== "number" || !(count >= 0))
    throw new LinearStateError(`count is ${JSON.stringify(count)}; expected a number ≥ 0`);
  const isNumbers = (value: unknown, length: number): value is number[] =>
    Array.isArray(value) && value.length === length && value.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!isNumbers(aInverse, d * d)) throw new LinearStateError(`aInverse must be ${d * d} finite numbers`);
  if (!isNumbers(b, d)) throw new LinearStateError(`b must be ${d} finite numbers`);
  return { d, lambda, count, aInverse, b };
}

// ---------------------------------------------------------------------------------------------
// LinUCB and linear Thompson sampling

export interface LinearPolicyOptions {
  /** Weight of the model's σ(score/τ) in the utility (the regression learns the residual). Default 1. */
  modelWeight?: number;
  scoreTemperature?: number;
  /** Dimension; the state passed in ctx.linear must match. Default: the state's d. */
  d?: number;
}

function validateLinearOptions(options: LinearPolicyOptions): void {
  if (options.modelWeight !== undefined) checkBound("modelWeight", options.modelWeight);
  if (options.scoreTemperature !== undefined) checkBound("scoreTemperature", options.scoreTemperature);
  if (options.d !== undefined) checkBound("d", options.d);
}

interface LinearInputs {
  base: Float64Array;
  contexts: Float64Array[];
  state: LinearBanditState;
  theta: Float64Array;
}

function linearInputs(
  candidates: readonly Candidate[],
  ctx: PolicyContext,
  options: LinearPolicyOptions,
): LinearInputs {
  const d = options.d ?? ctx.linear?.d ?? ctx.userVector?.length ?? 1;
  const state = ctx.linear ?? createLinearState(d);
  if (state.d !== d) throw new LinearStateError(`ctx.linear has d = ${state.d}, the policy expects d = ${d}`);
  const modelWeight = options.modelWeight ?? 1;
  const temperature = options.scoreTemperature ?? 1;
  return {
    base: Float64Array.from(candidates, (c) => modelWeight * sigmoid(c.score / temperature)),
    contexts: candidates.map((c) => linearContext(ctx.userVector, c.vector, d)),
    state,
    theta: linearMean(state),
  };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] ?? 0) * (b[i] ?? 0);
  return sum;
}

/**
 * LinUCB: utility = modelWeight·σ(s/τ) + θ̂ᵀx + alpha·√(xᵀA⁻¹x). Deterministic, propensity 1.
 */
export function linUcbRule(alpha: number, options: LinearPolicyOptions = {}): SlotRule {
  checkBound("alpha", alpha);
  validateLinearOptions(options);
  return {
    id: `linucb:${alpha}`,
    propensityMethod: "exact",
    prepare(candidates, ctx) {
      const { base, contexts, state, theta } = linearInputs(candidates, ctx, options);
      const exploit = base.map((value, i) => value + dot(theta, contexts[i] as Float64Array));
      const utility = exploit.map(
        (value, i) => value + alpha * Math.sqrt(linearVariance(state, contexts[i] as Float64Array)),
      );
      return {
        exploit,
        slotProbabilities: (remaining, adjustment, out) => oneHot(out, argmaxRemaining(utility, adjustment, remaining)),
      };
    },
  };
}

export interface LinTsOptions extends LinearPolicyOptions {
  /** Posterior scale v: θ̃ ~ N(θ̂, v²A⁻¹). Default 0.25 (about the sd of a click residual). */
  scale?: number;
  /** Monte Carlo draws per request. Default 100. */
  samples?: number;
}

/**
 * Linear Thompson sampling: each slot is filled from a fresh θ̃ ~ N(θ̂, v²A⁻¹), utility
 * modelWeight·σ(s/τ) + θ̃ᵀx. Propensities are Monte Carlo over a pool of draws (see
 * monteCarloSampler).
 */
export function linTsRule(options: LinTsOptions = {}): SlotRule {
  const scale = options.scale ?? 0.25;
  checkBound("scale", scale);
  validateLinearOptions(options);
  const samples = validateSamples(options.samples ?? 100);
  return {
    id: `lints:${scale}`,
    propensityMethod: "monte-carlo",
    monteCarloSamples: samples,
    prepare(candidates, ctx) {
      const { base, contexts, state, theta } = linearInputs(candidates, ctx, options);
      const { d } = state;
      const l = cholesky(state.aInverse, d);
      const exploit = base.map((value, i) => value + dot(theta, contexts[i] as Float64Array));
      const draws: Float64Array[] = [];
      const z = new Float64Array(d);
      const sampled = new Float64Array(d);
      const normal = createNormalSampler(ctx.rng);
      for (let s = 0; s < samples; s++) {
        for (let j = 0; j < d; j++) z[j] = normal();
        for (let i = 0; i < d; i++) {
          let sum = 0;
          for (let j = 0; j <= i; j++) sum += (l[i * d + j] ?? 0) * (z[j] ?? 0);
          sampled[i] = (theta[i] ?? 0) + scale * sum;
        }
        draws.push(base.map((value, i) => value + dot(sampled, contexts[i] as Float64Array)));
      }
      return monteCarloSampler(exploit, draws);
    },
  };
}

/** Whether a policy (by canonical id) reads the neural-linear state: linucb and lints do. */
export function readsLinearState(policyId: string): boolean {
  return /^lin(ucb|ts)(?=$|[:+])/.test(policyId);
}

export function linUcbPolicy(alpha: number, options: LinearPolicyOptions = {}, slate: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(linUcbRule(alpha, options), slate);
}

export function linTsPolicy(options: LinTsOptions = {}, slate: SlateOptions = {}): SlatePolicy {
  return new SlatePolicy(linTsRule(options), slate);
}

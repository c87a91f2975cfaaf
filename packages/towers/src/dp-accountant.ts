/**
 * Privacy accountant for DP-SGD: Rényi DP of the Poisson-subsampled Gaussian mechanism
 * (Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 * 2019), composed over steps by adding RDP, converted to (ε, δ) with the bound of Canonne,
 * Kamath and Steinke (2020, Prop. 12; Balle et al. 2020), the conversion Google's
 * dp_accounting RdpAccountant uses. Neighbouring datasets differ by adding or removing one
 * privacy unit (here: one user with all of their events).
 *
 * Written from the papers' formulas; checked against published values of dp_accounting's own
 * test suite in dp-accountant.test.ts.
 */

/** Orders α searched for the best ε (fractional ones matter at small ε). */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 48, 64, 128, 256, 512,
];

function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  if (hi === -Infinity) return -Infinity;
  return hi + Math.log1p(Math.exp(Math.min(a, b) - hi));
}

/**
 * log erfc(x) without underflow: for x ≥ 0 the Chebyshev fit of Numerical Recipes (erfcc,
 * relative error < 1.2e-7) whose exp() is taken in log space; for x < 0, erfc(x) = 2 − erfc(−x).
 */
export function logErfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logPos = Math.log(t) + poly;
  return x >= 0 ? logPos : Math.log(2 - Math.exp(logPos));
}

function logBinomial(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** log A_α for integer α (Mironov et al. 2019, §3.3): a finite binomial sum. */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    const logCoef = logBinomial(alpha, i) + i * Math.log(q) + (alpha - i) * Math.log(1 - q);
    logA = logAdd(logA, logCoef + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/**
 * log A_α for fractional α (Mironov et al. 2019, §3.3): two series over i ≥ 0. Terms are summed
 * in absolute value, which bounds A_α from above (so ε only errs on the safe side) and is
 * what dp_accounting does today; stops once both series are decreasing and negligible.
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const log1mq = Math.log1p(-q);
  let logAbsCoef = 0; // log |binom(α, i)|, updated term by term
  let last0 = -Infinity;
  let last1 = -Infinity;
  for (let i = 0; i < 1000; i++) {
    if (i > 0) logAbsCoef += Math.log(Math.abs((alpha - (i - 1)) / i));
    const j = alpha - i;
    const logT0 = logAbsCoef + i * Math.log(q) + j * log1mq;
    const logT1 = logAbsCoef + j * Math.log(q) + i * log1mq;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    const total = logAdd(logA0, logA1);
    if (logS0 < last0 && logS1 < last1 && Math.max(logS0, logS1) < total - 30) break;
    last0 = logS0;
    last1 = logS1;
  }
  return logAdd(logA0, logA1);
}

/** RDP at order α of one step of the Poisson-subsampled Gaussian mechanism (sampling rate q, noise multiplier σ). */
export function rdpSubsampledGaussian(q: number, sigma: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
  if (!(sigma >= 0)) throw new RangeError(`noise multiplier must be ≥ 0, got ${sigma}`);
  if (q === 0) return 0;
  if (sigma === 0 || alpha === Infinity) return Infinity;
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  return logA / (alpha - 1);
}

/** RDP of `steps` compositions, per order. */
export function computeRdp(q: number, sigma: number, steps: number, orders: readonly number[] = DEFAULT_RDP_ORDERS) {
  return orders.map((a) => steps * rdpSubsampledGaussian(q, sigma, a));
}

/**
 * Smallest ε over the orders such that the RDP curve implies (ε, δ)-DP:
 * ε = rdp(α) + log1p(−1/α) − (log δ + log α)/(α − 1) (Canonne, Kamath, Steinke 2020, Prop. 12).
 */
export function epsilonFromRdp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  let best = { epsilon: Infinity, order: NaN };
  orders.forEach((a, i) => {
    const r = rdp[i]!;
    if (!(a > 1) || !Number.isFinite(r)) return;
    const eps = r + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), order: a };
  });
  return best;
}

export interface DpSgdAccounting {
  /** Poisson sampling rate of privacy units per step. */
  sampleRate: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
}

/** (ε, δ) of a DP-SGD run: T steps of the subsampled Gaussian mechanism. */
export function dpSgdEpsilon(run: DpSgdAccounting, orders: readonly number[] = DEFAULT_RDP_ORDERS) {
  return epsilonFromRdp(orders, computeRdp(run.sampleRate, run.noiseMultiplier, run.steps, orders), run.delta);
}

/** The smallest noise multiplier (to 0.1%) whose run stays within `targetEpsilon`. */
export function noiseMultiplierFor(
  targetEpsilon: number,
  run: Omit<DpSgdAccounting, "noiseMultiplier">,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number {
  if (!(targetEpsilon > 0)) throw new RangeError(`target epsilon must be > 0, got ${targetEpsilon}`);
  let lo = 0;
  let hi = 1;
  while (dpSgdEpsilon({ ...run, noiseMultiplier: hi }, orders).epsilon > targetEpsilon) {
    lo = hi;
    hi *= 2;
    if (hi > 1e6) throw new RangeError(`no noise multiplier reaches ε=${targetEpsilon} with these settings`);
  }
  while (hi - lo > hi * 1e-3) {
    const mid = (lo + hi) / 2;
    if (dpSgdEpsilon({ ...run, noiseMultiplier: mid }, orders).epsilon > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

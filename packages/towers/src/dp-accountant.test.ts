/**
 * The accountant against published reference values. Source: Google's dp_accounting library
 * (github.com/google/differential-privacy, python/dp_accounting/dp_accounting/rdp/
 * rdp_privacy_accountant_test.py): test_compute_rdp_poisson_sampled_gaussian,
 * test_compute_epsilon_delta_pure_dp and test_compute_epsilon_delta_gaussian, with the
 * tolerances those tests state (rtol 1e-4 for RDP values; 7 decimals for ε).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  computeRdp,
  dpSgdEpsilon,
  epsilonFromRdp,
  logErfc,
  noiseMultiplierFor,
  rdpSubsampledGaussian,
} from "./dp-accountant.js";

const close = (actual: number, expected: number, rtol: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= rtol * Math.abs(expected),
    `${what}: ${actual} vs ${expected} (rtol ${rtol})`,
  );

test("RDP of the Poisson-subsampled Gaussian (q=0.01, σ=2.5, 50 steps) matches dp_accounting's published values (rtol 1e-4)", () => {
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const expected = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2, Infinity];
  const rdp = computeRdp(0.01, 2.5, 50, orders);
  orders.forEach((a, i) => {
    if (expected[i] === Infinity) assert.equal(rdp[i], Infinity);
    else close(rdp[i]!, expected[i]!, 1e-4, `order ${a}`);
  });
});

test("RDP → (ε, δ): constant RDP 1.1 over orders 2..32 at δ=1e-5 gives ε=1.32783806176 at order 32 (dp_accounting)", () => {
  const orders = Array.from({ length: 31 }, (_, i) => i + 2);
  const { epsilon, order } = epsilonFromRdp(
    orders,
    orders.map(() => 1.1),
    1e-5,
  );
  assert.ok(Math.abs(epsilon - 1.32783806176) < 1e-7, `${epsilon}`);
  assert.equal(order, 32);
});

test("the Gaussian mechanism with σ=4.530877117 is (1, 1e-6)-DP (dp_accounting's calibration, 7 decimals)", () => {
  const orders = Array.from({ length: 99_000 }, (_, i) => 0.001 * (i + 1000));
  const rdp = orders.map((a) => rdpSubsampledGaussian(1, 4.530877117, a));
  assert.ok(Math.abs(epsilonFromRdp(orders, rdp, 1e-6).epsilon - 1) < 1e-7);
});

test("accountant sanity: ε grows with steps and sampling rate, shrinks with noise; calibration inverts it", () => {
  const base = { sampleRate: 0.05, noiseMultiplier: 1.2, steps: 500, delta: 1e-5 };
  const eps = dpSgdEpsilon(base).epsilon;
  assert.ok(eps > 0 && Number.isFinite(eps));
  assert.ok(dpSgdEpsilon({ ...base, steps: 1000 }).epsilon > eps);
  assert.ok(dpSgdEpsilon({ ...base, sampleRate: 0.1 }).epsilon > eps);
  assert.ok(dpSgdEpsilon({ ...base, noiseMultiplier: 2 }).epsilon < eps);
  assert.equal(rdpSubsampledGaussian(0, 1, 2), 0);
  for (const target of [1, 3, 8]) {
    const sigma = noiseMultiplierFor(target, { sampleRate: 0.1, steps: 400, delta: 1e-5 });
    const got = dpSgdEpsilon({ sampleRate: 0.1, steps: 400, delta: 1e-5, noiseMultiplier: sigma }).epsilon;
    assert.ok(got <= target && got > target * 0.98, `target ${target}: σ=${sigma} gives ε=${got}`);
  }
  // log erfc against values of erfc: erfc(0)=1, erfc(1)=0.157299207, erfc(−1)=1.842700793, erfc(10)=2.088487583e-45.
  close(Math.exp(logErfc(0)), 1, 1e-6, "erfc(0)");
  close(Math.exp(logErfc(1)), 0.157299207, 1e-6, "erfc(1)");
  close(Math.exp(logErfc(-1)), 1.842700793, 1e-6, "erfc(-1)");
  close(logErfc(10), Math.log(2.088487583e-45), 1e-6, "log erfc(10)");
});

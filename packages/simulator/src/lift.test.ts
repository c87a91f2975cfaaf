import { test } from "node:test";
import assert from "node:assert/strict";
import { liftWithInterval } from "./fleet-sim";

test("liftWithInterval: ratio of means minus 1, delta-method interval that narrows with n and covers the truth", () => {
  const small = liftWithInterval({ mean: 0.5, sd: 0.7, n: 400 }, { mean: 0.6, sd: 0.8, n: 400 });
  assert.ok(Math.abs(small.lift - 0.2) < 1e-12);
  assert.ok(small.low < 0.2 && small.high > 0.2);
  const large = liftWithInterval({ mean: 0.5, sd: 0.7, n: 40_000 }, { mean: 0.6, sd: 0.8, n: 40_000 });
  assert.ok(Math.abs(large.high - large.low - (small.high - small.low) / 10) < 1e-9, "width ∝ 1/√n");
  // Coverage by simulation: two arms with known means, Bernoulli-ish per-request clicks.
  let seed = 7;
  const uniform = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let covered = 0;
  for (let trial = 0; trial < 300; trial++) {
    const arm = (p: number) => {
      const xs = Array.from({ length: 500 }, () => (uniform() < p ? 1 : 0) + (uniform() < p ? 1 : 0));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1));
      return { mean, sd, n: xs.length };
    };
    const l = liftWithInterval(arm(0.2), arm(0.25));
    if (l.low <= 0.25 && 0.25 <= l.high) covered++;
  }
  assert.ok(covered / 300 >= 0.9, `coverage ${covered / 300}`);
});

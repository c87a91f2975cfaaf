// Logged propensities must be the policy's real selection probabilities: a χ² goodness-of-fit
// test (fixed seed) of empirical slate frequencies against them, for every policy, plus property
// tests of the slate invariants.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createRng } from "@recfleet/numeric";
import { createLinearState, linearContext, linearTarget, updateLinear } from "./linear.js";
import { createPolicy } from "./registry.js";
import { chiSquare, chiSquareCritical, contextWith } from "./test-helpers.js";
import type { Candidate, LinearBanditState, PolicyContext } from "./types.js";

const dim = 3;
const candidates: Candidate[] = [0.2, -0.4, 0.9, 0.0, 0.6, -1.0].map((score, i) => ({
  itemId: `c${i}`,
  score: score - 2,
  vector: Float32Array.from({ length: dim }, (_, j) => Math.sin((i + 2) * (j + 1))),
  ...(i === 3 ? { isNew: true } : {}),
}));
const stats = {
  c0: { impressions: 40, clicks: 6 },
  c1: { impressions: 10, clicks: 0 },
  c2: { impressions: 300, clicks: 40 },
  c4: { impressions: 5, clicks: 1 },
};
const userVector = Float32Array.from([0.8, -0.3, 0.5]);

function trainedLinear(): LinearBanditState {
  let state = createLinearState(dim, 1);
  const rng = createRng(11);
  for (let t = 0; t < 50; t++) {
    const c = candidates[Math.floor(rng() * candidates.length)] as Candidate;
    state = updateLinear(state, linearContext(userVector, c.vector, dim), linearTarget(rng() < 0.2, c.score));
  }
  return state;
}
const linear = trainedLinear();
const contextFor = (seed: number): PolicyContext => contextWith(seed, stats, { userVector, linear });

// z for the upper 0.1% tail: the test fails by chance once in a thousand seeds.
const Z_999 = 3.09;

describe("χ² goodness of fit: slate frequencies match the product of logged propensities", () => {
  const exactSpecs = [
    "greedy",
    "epsilon:0.3",
    "softmax:0.5",
    "ucb:2",
    "linucb:1",
    "epsilon:0.4+budget:1+mmr:0.3+cold:1,0",
    "softmax:0.4+mmr:0.5",
  ];
  for (const spec of exactSpecs) {
    it(spec, () => {
      const policy = createPolicy(spec);
      const draws = 4000;
      const k = 2;
      const observed = new Map<string, number>();
      const probability = new Map<string, number>();
      for (let seed = 0; seed < draws; seed++) {
        const decision = policy.select(candidates, k, contextFor(seed));
        const key = decision.items.map((i) => i.itemId).join(">");
        observed.set(key, (observed.get(key) ?? 0) + 1);
        const p = decision.items.reduce((a, i) => a * i.propensity, 1);
        const previous = probability.get(key);
        // Exact propensities: the same slate always logs the same probability.
        if (previous !== undefined) assert.ok(Math.abs(previous - p) < 1e-12, `${key}: ${previous} vs ${p}`);
        probability.set(key, p);
      }
      const total = [...probability.values()].reduce((a, b) => a + b, 0);
      assert.ok(total <= 1 + 1e-9);
      const expected = new Map([...probability].map(([key, p]) => [key, p * draws]));
      // Slates never drawn still count: their probability mass goes to the pooled cell.
      expected.set("(never drawn)", Math.max(0, 1 - total) * draws);
      const { statistic, df } = chiSquare(observed, expected);
      assert.ok(statistic < chiSquareCritical(df, Z_999), `${spec}: χ² = ${statistic.toFixed(1)} on ${df} df`);
    });
  }

  // Monte Carlo policies: each logged propensity is an estimate, so compare the first slot's
  // frequencies with the policy's slot distribution averaged over many pools.
  for (const spec of ["thompson:50", "thompson:50,lift=1", "lints:0.5,samples=50", "thompson:50+mmr:0.2+budget:1"]) {
    it(spec, () => {
      const policy = createPolicy(spec);
      const draws = 3000;
      const observed = new Map<string, number>();
      let meanLogged = 0;
      for (let seed = 0; seed < draws; seed++) {
        const first = policy.select(candidates, 2, contextFor(seed)).items[0];
        assert.ok(first !== undefined);
        observed.set(first.itemId, (observed.get(first.itemId) ?? 0) + 1);
        meanLogged += first.propensity / draws;
      }
      const expected = new Map<string, number>();
      const pools = 400;
      for (let seed = 0; seed < pools; seed++) {
        const [distribution] = policy.slotDistributions(candidates, ["c0"], contextFor(100_000 + seed));
        for (const [id, p] of distribution ?? []) expected.set(id, (expected.get(id) ?? 0) + (p * draws) / pools);
      }
      const { statistic, df } = chiSquare(observed, expected);
      assert.ok(statistic < chiSquareCritical(df, Z_999), `${spec}: χ² = ${statistic.toFixed(1)} on ${df} df`);
      assert.ok(meanLogged > 0 && meanLogged <= 1);
    });
  }
});

describe("slate invariants (property tests)", () => {
  const specArb = fc.constantFrom(
    "greedy",
    "epsilon:0.2",
    "softmax:0.3",
    "ucb:1",
    "thompson:8",
    "thompson:8,lift=1",
    "linucb:0.5",
    "lints:0.2,samples=8",
    "epsilon:0.5+budget:1+mmr:0.2",
    "softmax:1+cold:1,1000",
  );
  const candidatesArb = fc
    .uniqueArray(
      fc.record({
        itemId: fc.string({ minLength: 1, maxLength: 6 }),
        score: fc.double({ min: -8, max: 8, noNaN: true }),
        isNew: fc.boolean(),
        v: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: dim, maxLength: dim }),
      }),
      { minLength: 1, maxLength: 12, selector: (c) => c.itemId },
    )
    .map((list): Candidate[] =>
      list.map((c) => ({ itemId: c.itemId, score: c.score, isNew: c.isNew, vector: Float32Array.from(c.v) })),
    );

  it("propensities in (0,1], per-slot distributions sum to ≤ 1, no duplicate items, ranks 1..k", () => {
    fc.assert(
      fc.property(specArb, candidatesArb, fc.integer({ min: 0, max: 8 }), fc.integer(), (spec, list, k, seed) => {
        const policy = createPolicy(spec);
        const ctx = contextWith(seed, {}, { userVector, linear });
        const decision = policy.select(list, k, ctx);
        assert.equal(decision.items.length, Math.min(k, list.length));
        assert.equal(new Set(decision.items.map((i) => i.itemId)).size, decision.items.length);
        decision.items.forEach((item, r) => {
          assert.equal(item.rank, r + 1);
          assert.ok(item.propensity > 0 && item.propensity <= 1 + 1e-12, `propensity ${item.propensity}`);
        });
        const distributions = policy.slotDistributions(
          list,
          decision.items.map((i) => i.itemId),
          contextWith(seed, {}, { userVector, linear }),
        );
        for (const distribution of distributions) {
          const sum = [...distribution.values()].reduce((a, b) => a + b, 0);
          assert.ok(sum <= 1 + 1e-9, `slot distribution sums to ${sum}`);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it("re-scoring a slate with the same seed reproduces the logged propensities", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("epsilon:0.2", "softmax:0.3", "thompson:8", "lints:0.2,samples=8"),
        candidatesArb,
        fc.integer(),
        (spec, list, seed) => {
          const policy = createPolicy(spec);
          const decision = policy.select(list, 3, contextWith(seed, {}, { userVector, linear }));
          const distributions = policy.slotDistributions(
            list,
            decision.items.map((i) => i.itemId),
            contextWith(seed, {}, { userVector, linear }),
          );
          decision.items.forEach((item, r) => {
            const p = distributions[r]?.get(item.itemId) ?? 0;
            assert.ok(Math.abs(p - item.propensity) < 1e-12, `${spec} slot ${r + 1}: ${p} vs ${item.propensity}`);
          });
        },
      ),
      { numRuns: 100, seed: 7 },
    );
  });
});

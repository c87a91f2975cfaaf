import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createPolicy } from "./registry.js";
import { simulateInProcess } from "./sim-harness.js";
import {
  bucketRates,
  catalogCoverage,
  cumulativeRegret,
  cumulativeSum,
  exposureGini,
  gini,
  toCsv,
} from "./sim-metrics.js";
import { advanceWorld, clickProbability, createWorld, oracleSlate } from "./sim-world.js";

describe("simulated world", () => {
  it("is deterministic for a seed and changes with it", () => {
    const a = createWorld({ seed: 1 });
    const b = createWorld({ seed: 1 });
    const c = createWorld({ seed: 2 });
    for (let t = 0; t < 10; t++) [a, b, c].forEach(advanceWorld);
    assert.deepEqual(Array.from(a.users[3]!), Array.from(b.users[3]!));
    assert.notDeepEqual(Array.from(a.users[3]!), Array.from(c.users[3]!));
    assert.equal(a.items.length, 110); // 100 initial + 1 per step
  });

  it("retires items, drifts tastes, and the oracle slate is sorted by click probability", () => {
    const world = createWorld({ seed: 4, itemLifetimeSteps: 5, driftRate: 0.1 });
    const before = Array.from(world.users[0]!);
    for (let t = 0; t < 6; t++) advanceWorld(world);
    assert.ok(world.active.every((item) => world.step - item.bornStep < 5));
    assert.notDeepEqual(Array.from(world.users[0]!), before);
    const { items, expectedClicks } = oracleSlate(world, 0, 3);
    const p = items.map((item) => clickProbability(world, 0, item, 1));
    assert.ok(p[0]! >= p[1]! && p[1]! >= p[2]!);
    assert.ok(
      Math.abs(expectedClicks - items.reduce((s, item, r) => s + clickProbability(world, 0, item, r + 1), 0)) < 1e-12,
    );
  });
});

describe("metrics", () => {
  it("bucketed CTR, cumulative sums and regret", () => {
    assert.deepEqual(bucketRates([1, 2, 3, 0], [10, 10, 10, 10], 2), [0.15, 0.15]);
    assert.deepEqual(cumulativeSum([1, 2, 3]), [1, 3, 6]);
    assert.deepEqual(cumulativeRegret([2, 2], [1, 1.5]), [1, 1.5]);
  });

  it("coverage and Gini", () => {
    assert.equal(catalogCoverage({ a: 3, b: 0, c: 1 }, 4), 0.5);
    assert.equal(gini([1, 1, 1, 1]), 0);
    assert.ok(Math.abs(gini([0, 0, 0, 10]) - 0.75) < 1e-12);
    assert.ok(Math.abs(exposureGini({ a: 10 }, 4) - 0.75) < 1e-12);
  });

  it("CSV escapes fields", () => {
    assert.equal(
      toCsv(
        ["policy", "ctr"],
        [
          ["a,b", 0.5],
          ['say "hi"', 1],
        ],
      ),
      'policy,ctr\n"a,b",0.5\n"say ""hi""",1\n',
    );
  });
});

describe("closed loop with new items arriving", () => {
  it("an exploring policy beats greedy on clicks and covers more of the catalog", () => {
    const lifts: number[] = [];
    for (const seed of [1, 2]) {
      const [greedy, thompson] = simulateInProcess(
        { seed: 300 + seed, itemLifetimeSteps: 80 },
        [createPolicy("greedy"), createPolicy("thompson:8,lift=1")],
        { steps: 200, k: 5, seed, requestsPerStep: 10 },
      );
      lifts.push(thompson!.totalClicks / greedy!.totalClicks - 1);
      const coverage = [greedy!, thompson!].map((run) => catalogCoverage(run.exposure, run.catalogSize));
      assert.ok(coverage[1]! > coverage[0]!, `coverage greedy ${coverage[0]} vs thompson ${coverage[1]}`);
    }
    assert.ok(
      lifts.every((lift) => lift > 0.05),
      `lifts ${lifts.map((l) => (100 * l).toFixed(1)).join(", ")}%`,
    );
  });

  it("runs are reproducible for a seed", () => {
    const run = (): number =>
      simulateInProcess({ seed: 9 }, [createPolicy("epsilon:0.1")], { steps: 20, k: 3, seed: 4 })[0]!.totalClicks;
    assert.equal(run(), run());
  });
});

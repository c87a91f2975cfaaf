import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng, sampleNormal } from "./index.js";
import { createPolicy } from "./registry.js";
import { simulateInProcess, modelScorer, type Scorer } from "./sim-harness.js";
import { confidenceSequence, estimateSlateOffPolicy, minNormSolve, SLATE_ESTIMATORS } from "./slate-ope.js";
import type { WorldConfig } from "./sim-world.js";

describe("minNormSolve", () => {
  it("gives the pseudoinverse solution of a singular PSD system", () => {
    // Γ = [[1,1],[1,1]] has Γ⁺ = Γ/4, so Γ⁺[2,2] = [1,1] (not any other solution such as [2,0]).
    const x = minNormSolve(Float64Array.from([1, 1, 1, 1]), Float64Array.from([2, 2]));
    assert.ok(Math.abs(x[0]! - 1) < 1e-9 && Math.abs(x[1]! - 1) < 1e-9, `${x}`);
  });
});

const world: WorldConfig = {
  seed: 77,
  initialItems: 20,
  arrivalsPerStep: 0,
  itemLifetimeSteps: Infinity,
  driftRate: 0,
  noveltyBoost: 0,
};
const base = modelScorer();
/** The model's top 6 candidates: pi and iips enumerate 6·5·4 = 120 ordered slates per record. */
const top6: Scorer = (view) =>
  base(view)
    .sort((a, b) => b.score - a.score)
    .slice(0, 6);

describe("slate estimators", () => {
  it("with the target equal to the logger every weight is 1 and each estimate is the logged clicks per slate", () => {
    const [run] = simulateInProcess(world, [createPolicy("softmax:1")], {
      steps: 5,
      k: 3,
      seed: 3,
      learn: false,
      recordLogs: true,
      scorer: top6,
    });
    const logs = run!.logs!;
    const naive = logs.reduce((s, r) => s + r.slate.filter((x) => x.clicked).length, 0) / logs.length;
    const result = estimateSlateOffPolicy(logs, createPolicy("softmax:1"), {
      loggingPolicy: () => createPolicy("softmax:1"),
    });
    for (const name of ["sips", "rips", "iips", "pi"] as const) {
      assert.ok(
        Math.abs(result.estimates[name].estimate - naive) < 1e-9,
        `${name} ${result.estimates[name].estimate} vs ${naive}`,
      );
      assert.ok(
        Math.abs(result.estimates[name].maxWeight - 1) < 1e-9,
        `${name} max weight ${result.estimates[name].maxWeight}`,
      );
    }
    assert.deepEqual(Object.keys(result.estimates).sort(), [...SLATE_ESTIMATORS].sort());
  });

  it("pi and iips recover greedy's clicks per slate from softmax logs within their intervals", () => {
    const [logged] = simulateInProcess(world, [createPolicy("softmax:1")], {
      steps: 40,
      k: 3,
      seed: 11,
      learn: false,
      recordLogs: true,
      scorer: top6,
    });
    const [truthRun] = simulateInProcess(world, [createPolicy("greedy")], {
      steps: 300,
      k: 3,
      seed: 12,
      learn: false,
      scorer: top6,
    });
    const truth = truthRun!.expectedClicksPerStep.reduce((a, b) => a + b, 0) / (300 * 20);
    const result = estimateSlateOffPolicy(logged!.logs!, createPolicy("greedy"), {
      loggingPolicy: () => createPolicy("softmax:1"),
    });
    for (const name of ["pi", "iips"] as const) {
      const e = result.estimates[name];
      assert.ok(e.ciLow <= truth && truth <= e.ciHigh, `${name}: truth ${truth} outside [${e.ciLow}, ${e.ciHigh}]`);
    }
  });
});

describe("confidenceSequence", () => {
  it("covers the mean at every time in at least 1 − α of the sequences, and narrows", () => {
    const rng = createRng(5);
    let misses = 0;
    const sequences = 200;
    let first = 0;
    let last = 0;
    for (let s = 0; s < sequences; s++) {
      const values = Array.from({ length: 400 }, () => 1 + 2 * sampleNormal(rng));
      const bounds = confidenceSequence(values, { alpha: 0.05 });
      if (bounds.some((b) => b.low > 1 || b.high < 1)) misses++;
      first += bounds[9]!.high - bounds[9]!.low;
      last += bounds.at(-1)!.high - bounds.at(-1)!.low;
    }
    assert.ok(misses / sequences <= 0.08, `${misses} of ${sequences} sequences missed the mean at some time`);
    assert.ok(last < first / 3, `width ${first / sequences} → ${last / sequences}`);
  });
});

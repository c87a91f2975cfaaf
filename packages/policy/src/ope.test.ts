import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attributeRewards } from "./attribution.js";
import { LoggedRecordError } from "./errors.js";
import { buildLoggedRecords, estimateOffPolicy, type LoggedRecord } from "./ope.js";
import { createPolicy } from "./registry.js";
import { simulateInProcess } from "./sim-harness.js";
import type { WorldConfig } from "./sim-world.js";

const candidates = [
  { itemId: "a", score: 2 },
  { itemId: "b", score: 1 },
  { itemId: "c", score: 0 },
];
const handLogs: LoggedRecord[] = [
  {
    recId: "r1",
    policyId: "logger",
    candidates,
    context: {},
    slate: [
      { itemId: "a", propensity: 0.5, clicked: true },
      { itemId: "b", propensity: 0.5, clicked: false },
    ],
  },
  {
    recId: "r2",
    policyId: "logger",
    candidates,
    context: {},
    slate: [
      { itemId: "b", propensity: 0.25, clicked: false },
      { itemId: "a", propensity: 0.5, clicked: true },
    ],
  },
];

describe("estimators on hand-computed logs (target: greedy)", () => {
  // Greedy places a then b. Record 1 matches: w = 1/0.5 = 2, then 2·1/0.5 = 4. Record 2 does not.
  const result = estimateOffPolicy(handLogs, createPolicy("greedy"), { rewardModel: () => 0.3 });

  it("IPS = mean over records of (1/K) Σ w_r c_r = ((2·1 + 4·0)/2 + 0)/2", () => {
    assert.ok(Math.abs(result.ips.estimate - 0.5) < 1e-12);
    // Per-record values 1 and 0: standard error 0.5.
    assert.ok(Math.abs(result.ips.stdError - 0.5) < 1e-12);
    assert.ok(Math.abs(result.ips.ciHigh - (0.5 + 1.959964 * 0.5)) < 1e-5);
  });

  it("SNIPS = mean over slots of Σ w c / Σ w = (2/2 + 0/4)/2", () => {
    assert.ok(Math.abs(result.snips.estimate - 0.5) < 1e-12);
  });

  it("DR with q̂ = 0.3 = ((0.3 + 1.4 + 0.6 − 1.2)/2 + (0.3 + 0)/2)/2 = 0.35", () => {
    assert.ok(Math.abs(result.dr.estimate - 0.35) < 1e-12);
    assert.equal(result.n, 2);
  });

  it("weight clipping and bootstrap intervals", () => {
    const clipped = estimateOffPolicy(handLogs, createPolicy("greedy"), { maxWeight: 3 });
    assert.ok(Math.abs(clipped.ips.estimate - 0.5) < 1e-12); // the clipped slot had no click
    const boot = estimateOffPolicy(handLogs, createPolicy("greedy"), {
      interval: "bootstrap",
      bootstrapSamples: 200,
      seed: 3,
    });
    assert.ok(boot.ips.ciLow <= boot.ips.estimate && boot.ips.estimate <= boot.ips.ciHigh);
    assert.ok(boot.ips.ciLow >= 0 && boot.ips.ciHigh <= 1);
  });

  it("a zero logged propensity is a LoggedRecordError", () => {
    const bad: LoggedRecord = { ...handLogs[0]!, recId: "bad", slate: [{ itemId: "a", propensity: 0, clicked: true }] };
    assert.throws(() => estimateOffPolicy([bad], createPolicy("greedy")), LoggedRecordError);
  });

  it("buildLoggedRecords joins recommendations with attributed clicks", () => {
    const recommendations = [
      {
        recId: "r1",
        ts: 0,
        policyId: "epsilon:0.5",
        candidates,
        context: {},
        items: [{ itemId: "a", score: 2, rank: 1, propensity: 0.5, explored: false }],
      },
    ];
    const attribution = attributeRewards(recommendations, [{ eventId: "e", recId: "r1", itemId: "a", ts: 10 }], {
      windowMs: 100,
    });
    assert.deepEqual(buildLoggedRecords(recommendations, attribution)[0]?.slate, [
      { itemId: "a", propensity: 0.5, clicked: true },
    ]);
  });
});

describe("OPE recovers the on-policy CTR in the simulator", () => {
  // A stationary world (no arrivals, drift or learning), so the target's CTR is one number.
  const world: WorldConfig = {
    seed: 77,
    initialItems: 20,
    arrivalsPerStep: 0,
    itemLifetimeSteps: Infinity,
    driftRate: 0,
    noveltyBoost: 0,
  };
  const k = 3;
  const onPolicyCtr = (spec: string): { ctr: number; stdError: number } => {
    const [run] = simulateInProcess(world, [createPolicy(spec)], { steps: 150, k, seed: 901, learn: false });
    // Expected clicks (true probabilities) rather than sampled clicks: less noise in the truth.
    const perStep = run!.expectedClicksPerStep.map((e, i) => e / (run!.impressionsPerStep[i] ?? 1));
    const mean = perStep.reduce((a, b) => a + b, 0) / perStep.length;
    const sd = Math.sqrt(perStep.reduce((a, v) => a + (v - mean) ** 2, 0) / (perStep.length - 1));
    return { ctr: mean, stdError: sd / Math.sqrt(perStep.length) };
  };

  const pairs: [string, string][] = [
    ["epsilon:0.3", "greedy"],
    ["softmax:1", "softmax:0.5"],
    ["epsilon:0.5", "epsilon:0.1"],
    ["softmax:1", "thompson:50"],
  ];
  for (const [logging, target] of pairs) {
    it(`${logging} logs → ${target}`, () => {
      const [run] = simulateInProcess(world, [createPolicy(logging)], {
        steps: 150,
        k,
        seed: 17,
        learn: false,
        recordLogs: true,
      });
      const logs = run!.logs!;
      const truth = onPolicyCtr(target);
      const result = estimateOffPolicy(logs, createPolicy(target), { seed: 5 });
      const slack = 3 * truth.stdError; // the on-policy figure has its own (small) error
      for (const name of ["ips", "snips", "dr"] as const) {
        const estimate = result[name];
        assert.ok(
          estimate.ciLow - slack <= truth.ctr && truth.ctr <= estimate.ciHigh + slack,
          `${name}: truth ${truth.ctr.toFixed(4)} outside [${estimate.ciLow.toFixed(4)}, ${estimate.ciHigh.toFixed(4)}] (estimate ${estimate.estimate.toFixed(4)})`,
        );
      }
      // DR should be at least as tight as IPS with a reasonable reward model.
      assert.ok(
        result.dr.stdError <= result.ips.stdError * 1.05,
        `DR se ${result.dr.stdError} vs IPS se ${result.ips.stdError}`,
      );
    });
  }
});

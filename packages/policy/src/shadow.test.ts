import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "@recfleet/numeric";
import type { LoggedRecord } from "./ope.js";
import { createPolicy } from "./registry.js";
import { estimateShadow, estimateShadowDr, fitScoreRankRewardModel, promotionDecision } from "./shadow.js";
import { simulateInProcess } from "./sim-harness.js";
import type { WorldConfig } from "./sim-world.js";
import type { Policy } from "./types.js";

const world: WorldConfig = {
  seed: 31,
  initialItems: 30,
  arrivalsPerStep: 0,
  itemLifetimeSteps: Infinity,
  driftRate: 0,
  noveltyBoost: 0,
};
const k = 3;

/** What the scorer does per served slate: the shadow's conditional probability of each served item. */
function withShadow(logs: readonly LoggedRecord[], shadow: Policy): LoggedRecord[] {
  const rng = createRng(9);
  return logs.map((record) => {
    const slate = record.slate.map((s) => s.itemId);
    const distributions = shadow.slotDistributions(record.candidates, slate, { rng });
    return { ...record, shadow: { [shadow.id]: slate.map((id, r) => distributions[r]?.get(id) ?? 0) } };
  });
}

function truthCtr(spec: string): number {
  const [run] = simulateInProcess(world, [createPolicy(spec)], { steps: 400, k, seed: 5, learn: false });
  const expected = run!.expectedClicksPerStep.reduce((a, b) => a + b, 0);
  const shown = run!.impressionsPerStep.reduce((a, b) => a + b, 0);
  return expected / shown;
}

function servedLogs(spec: string, steps: number): LoggedRecord[] {
  const [run] = simulateInProcess(world, [createPolicy(spec)], { steps, k, seed: 6, learn: false, recordLogs: true });
  return run!.logs!;
}

describe("shadow policy estimates from logged probabilities", () => {
  it("with an exploring serving policy, the shadow's anytime-valid bound covers its on-policy CTR", () => {
    const shadow = createPolicy("greedy");
    const estimate = estimateShadow(withShadow(servedLogs("epsilon:0.5", 150), shadow), shadow.id);
    const truth = truthCtr("greedy");
    assert.equal(estimate.n, 150 * 20);
    assert.ok(
      estimate.sequence!.low <= truth && truth <= estimate.sequence!.high,
      `truth ${truth} outside [${estimate.sequence!.low}, ${estimate.sequence!.high}]`,
    );
    // Where the serving policy supports the shadow, the support bound is about as narrow as IPS's.
    const support = estimateShadowDr(withShadow(servedLogs("epsilon:0.5", 150), shadow), shadow).bound!;
    assert.ok(support.low <= truth && truth <= support.high, `truth ${truth} outside the support bound`);
    assert.ok(
      support.high - support.low < 1.5 * (estimate.sequence!.high - estimate.sequence!.low),
      `support bound [${support.low}, ${support.high}] vs IPS [${estimate.sequence!.low}, ${estimate.sequence!.high}]`,
    );
  });

  it("with greedy serving, IPS misses an exploring shadow's unshown slates; DR with the score/rank reward model covers its CTR", () => {
    const shadow = createPolicy("epsilon:0.3");
    const logs = withShadow(servedLogs("greedy", 150), shadow);
    const truth = truthCtr("epsilon:0.3");
    const ips = estimateShadow(logs, shadow.id);
    assert.ok(ips.meanSlateWeight < 0.75, `mean slate weight ${ips.meanSlateWeight}`);
    assert.ok(ips.ips.estimate < truth, "IPS cannot see slates greedy never shows");
    const dr = estimateShadowDr(logs, shadow);
    assert.ok(dr.unsupportedMass > 0.2, `unsupported mass ${dr.unsupportedMass}`);
    const bound = dr.sequence!;
    console.log(
      `# greedy serving, epsilon:0.3 shadow: truth ${truth.toFixed(4)}, IPS ${ips.ips.estimate.toFixed(4)}, DR ${dr.dr.estimate.toFixed(4)} ` +
        `[${bound.low.toFixed(4)}, ${bound.high.toFixed(4)}], direct ${dr.direct.toFixed(4)}, unsupported mass ${dr.unsupportedMass.toFixed(3)}`,
    );
    assert.ok(bound.low <= truth && truth <= bound.high, `truth ${truth} outside [${bound.low}, ${bound.high}]`);
    // The support bound: IPS's lower end (no model) to DR's upper end with a rank-only model.
    const support = dr.bound!;
    console.log(`# support bound [${support.low.toFixed(4)}, ${support.high.toFixed(4)}]`);
    assert.ok(support.low <= truth && truth <= support.high, `truth ${truth} outside the support bound`);
    assert.ok(support.low < ips.ips.estimate && support.high > dr.dr.estimate);
    // Greedy's own CTR is clearly different, so covering ε-greedy's is not covering anything.
    const greedyTruth = truthCtr("greedy");
    assert.ok(
      greedyTruth < bound.low || greedyTruth > bound.high,
      `greedy's CTR ${greedyTruth} is inside the bound too`,
    );
  });

  it("promotion: refused on few records or a bound that does not clear the serving CTR, granted when it does", () => {
    const shadow = createPolicy("greedy");
    const logs = withShadow(servedLogs("epsilon:0.5", 150), shadow);
    const servingCtr = truthCtr("epsilon:0.5");
    const few = estimateShadow(logs.slice(0, 50), shadow.id);
    assert.equal(promotionDecision(few, { ctr: servingCtr, n: 50 }).promote, false);
    const all = estimateShadow(logs, shadow.id);
    const granted = promotionDecision(all, { ctr: servingCtr, n: logs.length });
    assert.equal(granted.promote, all.sequence!.low > servingCtr, granted.reason);
    // A serving CTR above the candidate's upper bound can never be beaten.
    assert.equal(promotionDecision(all, { ctr: all.sequence!.high + 0.01, n: logs.length }).promote, false);
    assert.equal(promotionDecision(all, { ctr: all.sequence!.low - 0.01, n: logs.length }).promote, true);
  });

  it("the reward model never rates lower-scored items above higher-scored ones: a negative slope fits at 0", () => {
    // Greedy's logs where the users with high scores click less (score level and click rate move
    // apart between users): the free fit's slope is negative, which would rate an explorer's
    // low-scored items above greedy's own.
    const record = (i: number, score: number, clicked: boolean): LoggedRecord => ({
      recId: `r${i}`,
      policyId: "greedy",
      candidates: [{ itemId: "a", score }],
      context: {},
      slate: [{ itemId: "a", propensity: 1, clicked }],
    });
    const logs = Array.from({ length: 400 }, (_, i) =>
      i % 2 === 0 ? record(i, 2, i % 20 === 0) : record(i, 0, i % 6 === 1),
    );
    const clickRate = logs.filter((r) => r.slate[0]!.clicked).length / logs.length;
    const model = fitScoreRankRewardModel(logs);
    assert.equal(model.slope, 0);
    for (const score of [-5, 0, 2]) assert.ok(Math.abs(model.predict(score, 1) - clickRate) < 1e-3, `at ${score}`);
    // With the slope free to fit, the same data would give a negative one: the constraint is what holds it.
    const agreeing = logs.map((r) => ({ ...r, candidates: [{ itemId: "a", score: -r.candidates[0]!.score }] }));
    assert.ok(fitScoreRankRewardModel(agreeing).slope > 0.5);
  });
});

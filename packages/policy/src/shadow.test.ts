import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "@recfleet/numeric";
import type { LoggedRecord } from "./ope.js";
import { createPolicy } from "./registry.js";
import { estimateShadow, promotionDecision } from "./shadow.js";
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
  });

  it("with greedy serving, an exploring shadow is underestimated and the mean slate weight shows the missing support", () => {
    const shadow = createPolicy("epsilon:0.3");
    const estimate = estimateShadow(withShadow(servedLogs("greedy", 60), shadow), shadow.id);
    assert.ok(estimate.meanSlateWeight < 0.75, `mean slate weight ${estimate.meanSlateWeight}`);
    assert.ok(estimate.ips.estimate < truthCtr("epsilon:0.3"), "IPS cannot see slates greedy never shows");
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
});

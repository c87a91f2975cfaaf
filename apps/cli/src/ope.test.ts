import { test } from "node:test";
import assert from "node:assert/strict";
import { createPolicy, createRng, toDecisionLog } from "@recfleet/policy";
import { offPolicyReport, type Logs } from "./ope";
import { promotionFor, shadowReport } from "./shadow";

test("offPolicyReport finds a policy's records by canonical id, whatever order its spec's keys were typed in", () => {
  const spec = "thompson:16,lift=1,prior=3";
  const reordered = "thompson:16,prior=3,lift=1";
  const policy = createPolicy(spec);
  assert.equal(createPolicy(reordered).id, policy.id);
  const candidates = [
    { itemId: "a", score: 2 },
    { itemId: "b", score: 1 },
    { itemId: "c", score: 0 },
  ];
  const rng = createRng(3);
  const stats = () => ({ impressions: 3, clicks: 1 });
  const decisions = Array.from({ length: 20 }, (_, i) => {
    const decision = policy.select(candidates, 2, { rng, itemStats: stats });
    return toDecisionLog({
      recId: `r${i}`,
      requestId: `q${i}`,
      ts: 1000 + i,
      policyId: decision.policyId,
      modelVersion: "v1",
      propensityMethod: decision.propensityMethod,
      candidates,
      itemStats: stats,
      items: decision.items,
    });
  });
  const logs: Logs = {
    decisions,
    clicks: [{ eventId: "e1", recId: "r0", itemId: decisions[0]!.items[0]!.itemId, ts: 1001 }],
  };
  for (const logged of [spec, reordered, policy.id]) {
    const report = offPolicyReport(logs, logged, "greedy", 60_000);
    assert.ok(report, `records of ${logged} not found`);
    assert.equal(report.result.n, 20);
    assert.equal(report.logged, policy.id);
  }
  assert.equal(offPolicyReport(logs, "epsilon:0.1", "greedy", 60_000), undefined);
});

test("shadowReport reads the shadow probabilities the scorer logged; promotionFor refuses a candidate with too few records", () => {
  const serving = createPolicy("epsilon:0.5");
  const candidates = ["a", "b", "c", "d"].map((itemId, i) => ({ itemId, score: 3 - i }));
  const rng = createRng(5);
  const decisions = Array.from({ length: 40 }, (_, i) => {
    const decision = serving.select(candidates, 2, { rng });
    const slate = decision.items.map((it) => it.itemId);
    const greedy = createPolicy("greedy").slotDistributions(candidates, slate, { rng });
    return toDecisionLog({
      recId: `s${i}`,
      requestId: `q${i}`,
      ts: 1000 + i,
      policyId: decision.policyId,
      modelVersion: "v1",
      propensityMethod: decision.propensityMethod,
      candidates,
      itemStats: () => ({ impressions: 0, clicks: 0 }),
      items: decision.items,
      shadow: { greedy: slate.map((id, r) => greedy[r]?.get(id) ?? 0) },
    });
  });
  const clicks = decisions.map((d, i) => ({
    eventId: `e${i}`,
    recId: d.recId,
    itemId: d.items[0]!.itemId,
    ts: d.ts + 1,
  }));
  const rows = shadowReport({ decisions, clicks }, 60_000);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.serving, serving.id);
  assert.equal(rows[0]!.shadow.shadowId, "greedy");
  assert.equal(rows[0]!.shadow.n, 40);
  // Every first slot was clicked: the serving CTR per slot is 0.5.
  assert.ok(Math.abs(rows[0]!.servingCtr.ctr - 0.5) < 1e-12);
  const refused = promotionFor(rows, "greedy", 200);
  assert.equal(refused.promote, false);
  assert.match(refused.reason, /only 40 records/);
  assert.equal(promotionFor(rows, "softmax:1", 1).promote, false);
});

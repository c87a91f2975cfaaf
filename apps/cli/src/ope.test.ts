import { test } from "node:test";
import assert from "node:assert/strict";
import { createPolicy, createRng, toDecisionLog } from "@recfleet/policy";
import { offPolicyReport, type Logs } from "./ope";

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

import assert from "node:assert/strict";
import { it } from "node:test";
import { decodeMessage, decisionLogSpec, type DecisionLogRecord } from "@recfleet/contracts";
import { createRng } from "@recfleet/numeric";
import { fromDecisionLog, toDecisionLog } from "./decision-log.js";
import { createPolicy } from "./registry.js";

it("what toDecisionLog writes passes the rec.log spec and reads back to the same slate", () => {
  const vector = (x: number) => new Float32Array([x, 1 - x, 0.5]);
  const candidates = [
    { itemId: "a", score: 2, vector: vector(0.1) },
    { itemId: "b", score: 1, vector: vector(0.2) },
    { itemId: "c", score: 0, vector: vector(0.3), isNew: true },
  ];
  const itemStats = (itemId: string) => ({ impressions: itemId.length * 10, clicks: 1, expectedClicks: 0.5 });
  const decision = createPolicy("epsilon:0.2").select(candidates, 2, { rng: createRng(7), itemStats });
  const record = toDecisionLog({
    recId: "r1",
    requestId: "q1",
    ts: Date.now(),
    policyId: decision.policyId,
    modelVersion: "v1",
    propensityMethod: decision.propensityMethod,
    candidates,
    userVector: vector(0.9),
    itemStats,
    items: decision.items,
    includeVectors: true,
  });
  const decoded = decodeMessage<DecisionLogRecord>(decisionLogSpec, JSON.stringify(record));
  assert.ok(decoded.ok, decoded.ok ? "" : decoded.detail);
  assert.deepEqual(fromDecisionLog(decoded.value).items, decision.items);
  assert.deepEqual(fromDecisionLog(decoded.value).candidates[2]!.vector, vector(0.3));
});

import assert from "node:assert/strict";
import { it } from "node:test";
import { decodeMessage, decisionLogSpec, type DecisionLogRecord } from "@recfleet/contracts";
import { createRng } from "@recfleet/numeric";
import { encodeVector, fromDecisionLog, toDecisionLog } from "./decision-log.js";
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

it("format 2 writes columns, reads back every candidate and statistic, and still reads format 1 rows", () => {
  const candidates = [
    { itemId: "a", score: 2.25, vector: new Float32Array([1, 2]) },
    { itemId: "b", score: -1e-7 },
    { itemId: "c", score: 0.1, isNew: true, vector: new Float32Array([3, 4]) },
  ];
  const stats: Record<string, { impressions: number; clicks: number; expectedClicks?: number }> = {
    a: { impressions: 12, clicks: 3, expectedClicks: 2.5 },
    b: { impressions: 0, clicks: 0 },
    c: { impressions: 7, clicks: 1, expectedClicks: 0.75 },
  };
  const items = [{ itemId: "a", score: 2.25, rank: 1, propensity: 0.9, explored: false }];
  const input = {
    recId: "r2",
    requestId: "q2",
    ts: 5,
    policyId: "greedy",
    modelVersion: "v1",
    propensityMethod: "exact" as const,
    candidates,
    itemStats: (id: string) => stats[id]!,
    items,
  };
  const record = toDecisionLog(input);
  assert.equal(record.format, 2);
  assert.equal(record.candidates, undefined, "format 2 has no rows");
  const decoded = decodeMessage<DecisionLogRecord>(decisionLogSpec, JSON.stringify(record));
  assert.ok(decoded.ok, decoded.ok ? "" : decoded.detail);
  const read = fromDecisionLog(decoded.value);
  assert.deepEqual(read.candidates, [
    { itemId: "a", score: 2.25, vector: new Float32Array([1, 2]) },
    { itemId: "b", score: -1e-7 },
    { itemId: "c", score: 0.1, isNew: true, vector: new Float32Array([3, 4]) },
  ]);
  assert.deepEqual(read.context.itemStats, stats);
  // Without vectors the column is absent.
  assert.equal(toDecisionLog({ ...input, includeVectors: false }).columns!.vectors, undefined);

  // A format-1 record (as written before the upgrade) reads to the same thing.
  const rows: DecisionLogRecord = {
    ...record,
    format: undefined,
    columns: undefined,
    candidates: [
      { itemId: "a", score: 2.25, vector: encodeVector(new Float32Array([1, 2])) },
      { itemId: "b", score: -1e-7 },
      { itemId: "c", score: 0.1, isNew: true, vector: encodeVector(new Float32Array([3, 4])) },
    ],
    itemStats: stats,
  };
  const old = decodeMessage<DecisionLogRecord>(decisionLogSpec, JSON.stringify(rows));
  assert.ok(old.ok, old.ok ? "" : old.detail);
  assert.deepEqual(fromDecisionLog(old.value), read);

  // A column of the wrong length is refused with the record's id.
  const short = { ...record, columns: { ...record.columns!, clicks: Buffer.alloc(16).toString("base64") } };
  assert.throws(() => fromDecisionLog(short), /r2.*clicks has 16 bytes, not 8 for each of 3/);
  assert.throws(() => fromDecisionLog({ ...record, columns: undefined }), /needs columns, or candidates and itemStats/);
  assert.throws(() => fromDecisionLog({ ...rows, itemStats: undefined }), /needs columns, or candidates and itemStats/);
});

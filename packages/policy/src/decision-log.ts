// The scorer's decision log: per served recommendation, what the policy saw (candidates with
// scores and vectors, the item statistics it read, the user vector) and what it chose, with
// propensities. Off-policy evaluation replays a target policy on exactly these inputs.
// JSON on the wire; float vectors as base64 little-endian float32 to keep records small.
// The record type and its spec (decisionLogSpec) are part of the topic contracts.
import type { DecisionLogRecord } from "@recfleet/contracts";
import { LoggedRecordError } from "./errors.js";
import type { LoggedRecommendation } from "./ope.js";
import type { Candidate, ItemStats, SlateItem } from "./types.js";

export type { DecisionLogRecord };

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export function decodeVector(text: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  if (bytes.byteLength % 4 !== 0)
    throw new LoggedRecordError("?", `a logged vector has ${bytes.byteLength} bytes, not a multiple of 4`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function toDecisionLog(input: {
  recId: string;
  requestId: string;
  ts: number;
  policyId: string;
  modelVersion: string;
  propensityMethod: "exact" | "monte-carlo";
  candidates: readonly Candidate[];
  userVector?: Float32Array;
  itemStats: (itemId: string) => ItemStats;
  items: readonly SlateItem[];
  /** Candidate vectors make records ~20× larger; only linear-bandit targets need them. */
  includeVectors?: boolean;
  /** Shadow policies' probabilities of the served items (see DecisionLogRecord.shadow). */
  shadow?: Record<string, number[]>;
}): DecisionLogRecord {
  const itemStats: Record<string, ItemStats> = {};
  for (const c of input.candidates) itemStats[c.itemId] = input.itemStats(c.itemId);
  return {
    recId: input.recId,
    requestId: input.requestId,
    ts: input.ts,
    policyId: input.policyId,
    modelVersion: input.modelVersion,
    propensityMethod: input.propensityMethod,
    candidates: input.candidates.map((c) => ({
      itemId: c.itemId,
      score: c.score,
      ...(c.vector && input.includeVectors !== false ? { vector: encodeVector(c.vector) } : {}),
      ...(c.isNew ? { isNew: true } : {}),
    })),
    ...(input.userVector ? { userVector: encodeVector(input.userVector) } : {}),
    itemStats,
    items: [...input.items],
    ...(input.shadow && Object.keys(input.shadow).length > 0 ? { shadow: input.shadow } : {}),
  };
}

/** Back to the estimators' input type; throws LoggedRecordError on a malformed record. */
export function fromDecisionLog(record: DecisionLogRecord): LoggedRecommendation {
  if (
    !record ||
    typeof record.recId !== "string" ||
    !Array.isArray(record.candidates) ||
    !Array.isArray(record.items)
  ) {
    throw new LoggedRecordError(
      typeof record?.recId === "string" ? record.recId : "?",
      "a decision log record needs recId, candidates and items",
    );
  }
  return {
    recId: record.recId,
    ts: record.ts,
    policyId: record.policyId,
    candidates: record.candidates.map((c) => ({
      itemId: c.itemId,
      score: c.score,
      ...(c.vector ? { vector: decodeVector(c.vector) } : {}),
      ...(c.isNew ? { isNew: true } : {}),
    })),
    context: {
      ...(record.userVector ? { userVector: decodeVector(record.userVector) } : {}),
      itemStats: record.itemStats,
    },
    items: record.items,
    ...(record.shadow ? { shadow: record.shadow } : {}),
  };
}

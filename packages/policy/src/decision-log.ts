// The scorer's decision log: per served recommendation, what the policy saw (candidates with
// scores and vectors, the item statistics it read, the user vector) and what it chose, with
// propensities. Off-policy evaluation replays a target policy on exactly these inputs.
// JSON on the wire. Format 2 (what toDecisionLog writes) holds the candidates as columns: item ids
// as a list, every number column as base64 little-endian float64, so a record is half the bytes of
// format 1's rows and encodes in half the time (docs/benchmarks.md). fromDecisionLog reads both,
// so logs written before an upgrade stay readable.
// The record type and its spec (decisionLogSpec) are part of the topic contracts.
import type { DecisionLogColumns, DecisionLogRecord } from "@recfleet/contracts";
import { LoggedRecordError } from "./errors.js";
import type { LoggedRecommendation } from "./ope.js";
import type { Candidate, ItemStats, SlateItem } from "./types.js";

export type { DecisionLogRecord };

/** A float array's bytes (little-endian, as x86 and ARM hold them) as base64. */
function base64Of(values: Float32Array | Float64Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64");
}

export function encodeVector(v: Float32Array): string {
  return base64Of(v);
}

export function decodeVector(text: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  if (bytes.byteLength % 4 !== 0)
    throw new LoggedRecordError("?", `a logged vector has ${bytes.byteLength} bytes, not a multiple of 4`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function decodeFloat64s(recId: string, name: string, text: string, n: number): Float64Array {
  const bytes = Buffer.from(text, "base64");
  if (bytes.byteLength !== n * 8)
    throw new LoggedRecordError(
      recId,
      `column ${name} has ${bytes.byteLength} bytes, not 8 for each of ${n} candidates`,
    );
  const out = new Float64Array(n);
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
  const { candidates } = input;
  const n = candidates.length;
  // One allocation for the four columns (typed arrays this size cost more to allocate than to fill).
  const block = new Float64Array(4 * n);
  const scores = block.subarray(0, n);
  const impressions = block.subarray(n, 2 * n);
  const clicks = block.subarray(2 * n, 3 * n);
  const expectedClicks = block.subarray(3 * n, 4 * n);
  const newItems: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = candidates[i]!;
    const stats = input.itemStats(c.itemId);
    scores[i] = c.score;
    impressions[i] = stats.impressions;
    clicks[i] = stats.clicks;
    expectedClicks[i] = stats.expectedClicks ?? NaN;
    if (c.isNew) newItems.push(i);
  }
  const columns: DecisionLogColumns = {
    itemIds: candidates.map((c) => c.itemId),
    scores: base64Of(scores),
    impressions: base64Of(impressions),
    clicks: base64Of(clicks),
    expectedClicks: base64Of(expectedClicks),
    ...(newItems.length > 0 ? { newItems } : {}),
    ...(input.includeVectors !== false ? vectorsColumn(candidates) : {}),
  };
  return {
    recId: input.recId,
    requestId: input.requestId,
    ts: input.ts,
    policyId: input.policyId,
    modelVersion: input.modelVersion,
    propensityMethod: input.propensityMethod,
    format: 2,
    columns,
    ...(input.userVector ? { userVector: encodeVector(input.userVector) } : {}),
    items: [...input.items],
    ...(input.shadow && Object.keys(input.shadow).length > 0 ? { shadow: input.shadow } : {}),
  };
}

/** The candidates' vectors as one n × dim float32 column (a NaN row for a candidate without one). */
function vectorsColumn(candidates: readonly Candidate[]): { vectors?: string } {
  const dim = candidates.find((c) => c.vector)?.vector?.length;
  if (dim === undefined) return {};
  const all = new Float32Array(candidates.length * dim).fill(NaN);
  candidates.forEach((c, i) => {
    if (c.vector?.length === dim) all.set(c.vector, i * dim);
  });
  return { vectors: encodeVector(all) };
}

/** Back to the estimators' input type; throws LoggedRecordError on a malformed record. */
export function fromDecisionLog(record: DecisionLogRecord): LoggedRecommendation {
  const recId = typeof record?.recId === "string" ? record.recId : "?";
  if (!record || typeof record.recId !== "string" || !Array.isArray(record.items)) {
    throw new LoggedRecordError(recId, "a decision log record needs recId and items");
  }
  const read =
    record.columns !== undefined
      ? fromColumns(recId, record.columns)
      : Array.isArray(record.candidates) && record.itemStats !== undefined
        ? {
            candidates: record.candidates.map((c) => ({
              itemId: c.itemId,
              score: c.score,
              ...(c.vector ? { vector: decodeVector(c.vector) } : {}),
              ...(c.isNew ? { isNew: true } : {}),
            })),
            itemStats: record.itemStats,
          }
        : undefined;
  if (read === undefined)
    throw new LoggedRecordError(recId, "a decision log record needs columns, or candidates and itemStats");
  return {
    recId: record.recId,
    ts: record.ts,
    policyId: record.policyId,
    candidates: read.candidates,
    context: {
      ...(record.userVector ? { userVector: decodeVector(record.userVector) } : {}),
      itemStats: read.itemStats,
    },
    items: record.items,
    ...(record.shadow ? { shadow: record.shadow } : {}),
  };
}

function fromColumns(
  recId: string,
  columns: DecisionLogColumns,
): { candidates: Candidate[]; itemStats: Record<string, ItemStats> } {
  const ids = columns.itemIds;
  const n = ids.length;
  const scores = decodeFloat64s(recId, "scores", columns.scores, n);
  const impressions = decodeFloat64s(recId, "impressions", columns.impressions, n);
  const clicks = decodeFloat64s(recId, "clicks", columns.clicks, n);
  const expectedClicks = decodeFloat64s(recId, "expectedClicks", columns.expectedClicks, n);
  const isNew = new Set(columns.newItems ?? []);
  let vectors: Float32Array | undefined;
  let dim = 0;
  if (columns.vectors !== undefined) {
    vectors = decodeVector(columns.vectors);
    dim = n > 0 ? vectors.length / n : 0;
    if (!Number.isInteger(dim))
      throw new LoggedRecordError(recId, `column vectors has ${vectors.length} floats, not a multiple of ${n}`);
  }
  const candidates: Candidate[] = [];
  const itemStats: Record<string, ItemStats> = {};
  for (let i = 0; i < n; i++) {
    const vector = vectors?.subarray(i * dim, (i + 1) * dim);
    candidates.push({
      itemId: ids[i]!,
      score: scores[i]!,
      ...(vector && !Number.isNaN(vector[0]) ? { vector } : {}),
      ...(isNew.has(i) ? { isNew: true } : {}),
    });
    itemStats[ids[i]!] = {
      impressions: impressions[i]!,
      clicks: clicks[i]!,
      ...(Number.isNaN(expectedClicks[i]) ? {} : { expectedClicks: expectedClicks[i]! }),
    };
  }
  return { candidates, itemStats };
}

/**
 * DECISION-LOG: what one decision-log record costs the scorer to put on the wire, format 2
 * (toDecisionLog: candidates and statistics as columns) against format 1 (the rows the scorer
 * wrote before, built here as the baseline), same records, same run, alternating round by round.
 *
 * Per record: JSON encoding (toDecisionLog + JSON.stringify; format 1 = rows + itemStats map),
 * sealing with a user's data key (sealBytes, as with a master key), and GZIP level 1 (the
 * producer's codec) of batches of 8 records, plain and sealed. Bytes are per record.
 *
 *   node --import tsx bench/decision-log.ts [--candidates 100] [--rounds 20]
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { createRng, encodeVector, toDecisionLog, type DecisionLogRecord } from "@recfleet/policy";
import { sealBytes } from "@recfleet/store";
import { flag, round, summarize } from "./lib";

const CANDIDATES = Number(flag("candidates", "BENCH_CANDIDATES", "100"));
const ROUNDS = Number(flag("rounds", "BENCH_ROUNDS", "20"));
const PER_ROUND = 200;
const BATCH = 8;

const rng = createRng(7);
const dataKey = { kid: "0".repeat(32), key: randomBytes(32) };

interface Input {
  candidates: { itemId: string; score: number }[];
  stats: Map<string, { impressions: number; clicks: number; expectedClicks: number }>;
  userVector: Float32Array;
}

function makeInput(): Input {
  const candidates = Array.from({ length: CANDIDATES }, () => ({
    itemId: `item-${Math.floor(rng() * 100_000)}`,
    score: rng() * 10 - 5,
  }));
  const stats = new Map(
    candidates.map((c) => {
      const impressions = Math.floor(rng() * 5000);
      return [
        c.itemId,
        { impressions, clicks: Math.floor(impressions * rng() * 0.1), expectedClicks: impressions * rng() * 0.1 },
      ];
    }),
  );
  return { candidates, stats, userVector: Float32Array.from({ length: 64 }, () => rng() - 0.5) };
}

const common = (i: number) => ({
  recId: `rec-${i.toString(16).padStart(16, "0")}`,
  requestId: `req-${i.toString(16).padStart(16, "0")}`,
  ts: 1_780_000_000_000 + i,
  policyId: "thompson:16,prior=3,lift=1",
  modelVersion: "v-20261203-063000",
  propensityMethod: "exact" as const,
});

const slate = (input: Input) =>
  input.candidates
    .slice(0, 10)
    .map((c, r) => ({ itemId: c.itemId, score: c.score, rank: r + 1, propensity: 0.5, explored: false }));

/** Format 1, as the scorer wrote it before: a row per candidate and the statistics by item id. */
function formatOne(input: Input, i: number): DecisionLogRecord {
  return {
    ...common(i),
    candidates: input.candidates.map((c) => ({ itemId: c.itemId, score: c.score })),
    userVector: encodeVector(input.userVector),
    itemStats: Object.fromEntries(input.candidates.map((c) => [c.itemId, input.stats.get(c.itemId)!])),
    items: slate(input),
  };
}

function formatTwo(input: Input, i: number): DecisionLogRecord {
  return toDecisionLog({
    ...common(i),
    candidates: input.candidates,
    userVector: input.userVector,
    itemStats: (id) => input.stats.get(id)!,
    items: slate(input),
    includeVectors: false,
  });
}

const inputs = Array.from({ length: PER_ROUND }, makeInput);
const formats = { format1: formatOne, format2: formatTwo } as const;
type Name = keyof typeof formats;
const usPerRecord: Record<Name, Record<"encode" | "seal" | "gzip_plain" | "gzip_sealed", number[]>> = {
  format1: { encode: [], seal: [], gzip_plain: [], gzip_sealed: [] },
  format2: { encode: [], seal: [], gzip_plain: [], gzip_sealed: [] },
};
const bytes = {} as Record<Name, { json: number; sealed: number; gzip_plain: number; gzip_sealed: number }>;

const timed = (f: () => void) => {
  const t = performance.now();
  f();
  return ((performance.now() - t) * 1000) / PER_ROUND;
};
const gzipBatches = (values: string[]) => {
  let out = 0;
  for (let b = 0; b < values.length; b += BATCH)
    out += gzipSync(values.slice(b, b + BATCH).join(""), { level: 1 }).byteLength;
  return out;
};

for (let round = 0; round < ROUNDS; round++) {
  for (const name of (round % 2 === 0 ? ["format1", "format2"] : ["format2", "format1"]) as Name[]) {
    let json: string[] = [];
    let sealed: string[] = [];
    usPerRecord[name].encode.push(
      timed(() => (json = inputs.map((input, i) => JSON.stringify(formats[name](input, i))))),
    );
    usPerRecord[name].seal.push(timed(() => (sealed = json.map((j) => JSON.stringify(sealBytes(dataKey, j))))));
    let gzPlain = 0;
    let gzSealed = 0;
    usPerRecord[name].gzip_plain.push(timed(() => (gzPlain = gzipBatches(json))));
    usPerRecord[name].gzip_sealed.push(timed(() => (gzSealed = gzipBatches(sealed))));
    const mean = (xs: string[]) => Math.round(xs.reduce((s, x) => s + Buffer.byteLength(x), 0) / xs.length);
    bytes[name] = {
      json: mean(json),
      sealed: mean(sealed),
      gzip_plain: Math.round(gzPlain / PER_ROUND),
      gzip_sealed: Math.round(gzSealed / PER_ROUND),
    };
  }
}

const p50 = (xs: number[]) => round(summarize(xs).p50, 1);
const summaryOf = (name: Name) => ({
  us_per_record: Object.fromEntries(Object.entries(usPerRecord[name]).map(([k, xs]) => [k, p50(xs)])),
  bytes_per_record: bytes[name],
});
const result = { format1: summaryOf("format1"), format2: summaryOf("format2") };
for (const name of Object.keys(result) as Name[]) {
  const r = result[name];
  console.log(
    `${name}: encode ${r.us_per_record.encode} µs, seal ${r.us_per_record.seal} µs, gzip plain ${r.us_per_record.gzip_plain} µs / sealed ${r.us_per_record.gzip_sealed} µs; ` +
      `bytes json ${r.bytes_per_record.json}, sealed ${r.bytes_per_record.sealed}, gzip plain ${r.bytes_per_record.gzip_plain}, gzip sealed ${r.bytes_per_record.gzip_sealed}`,
  );
}
const ratio = (k: string) => round(result.format2.us_per_record[k]! / result.format1.us_per_record[k]!);
console.log(
  JSON.stringify({
    bench: "DECISION-LOG",
    candidates: CANDIDATES,
    rounds: ROUNDS,
    ...result,
    ratio_format2_to_format1: {
      encode: ratio("encode"),
      seal: ratio("seal"),
      bytes: round(result.format2.bytes_per_record.json! / result.format1.bytes_per_record.json!),
    },
  }),
);

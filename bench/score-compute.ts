/**
 * SCORE-COMPUTE (docs: BENCHMARKS.md): the scorer's per-request compute at catalogue sizes
 * 1,682 / 100,000 / 1,000,000 items, d=64, top-100 candidates then the policy, on CPU with a
 * fixed thread budget (onnxruntime intraOpNumThreads=1, one JS thread).
 *
 * "ours" = `scoreRequests` (services/scorer handler) with `createServingModel` and an in-memory
 * ScoringStore that answers at once: user tower (ONNX) + MatMul+TopK over the item matrix
 * (ONNX, matrix as an input) + seen filtering + the policy + explanations + the records the
 * worker writes. Every user has 20 history items, all seen, so the scorer asks for top-120.
 * Baseline, same run, same thread budget: a bare onnxruntime session of `exportTopKOnnx(64)`
 * fed a unit user vector and the same item matrix, k=100. Variants are measured in
 * rounds, alternating call by call so machine noise hits them alike; ratio = ours / baseline.
 *
 * With the catalog (issue 12), same run: "greedy+catalog" serves through the catalog's item space
 * with no request filter (one shared item_bias row: availability), "greedy+filter" sends every
 * request with a category filter that keeps a quarter of the items (one item_bias row per
 * request, built in JS, applied inside the ONNX retrieval before TopK); filter_overhead = its
 * time / plain greedy's (BENCH_FILTER=0 skips both).
 *
 * int8 item matrices (issue 13), same run: "bare_int8" is the bare graph over the item matrix
 * quantized per item (towers' item-scores.ts, onnxruntime's integer MatMul), "bare_int8_dequant"
 * the same codes through DequantizeLinear → Gemm (dequantize-on-the-fly), and "greedy+int8" ours
 * serving an int8 version (serving-int8.onnx); every ratio is to the FLOAT bare baseline
 * (BENCH_INT8=0 skips them).
 *
 * Then the hot-swap memory at the largest size, in a fresh child process per format (float32,
 * int8): RSS with one version loaded, with two loaded (a batch still holds the old version while
 * the new one swaps in through ModelHolder) and after the old one is released, against the float
 * item matrix size N × d × 4 bytes.
 *
 *   node --import tsx bench/score-compute.ts
 *   --sizes 1682,100000,1000000 (BENCH_SIZES)  --seconds 3 per variant and batch size (BENCH_SECONDS)
 *   --policies "greedy|thompson:16,lift=1" (BENCH_POLICIES)  --swap-items 1000000 (0 = skip; BENCH_SWAP_ITEMS)
 *   the hot-swap part alone: node --expose-gc --import tsx bench/score-compute.ts --swap-child 1000000 [--int8]
 */
import { spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { createLogger } from "@recfleet/runtime";
import { createPolicy, createRng, readsLinearState, type Policy } from "@recfleet/policy";
import type { HistoryEntry, ItemStats, StoredCatalogItem } from "@recfleet/store";
import { createInferenceSession, exportServingOnnx, exportTopKOnnx, quantizeItemMatrix } from "@recfleet/towers";
import type { RecRequest } from "@recfleet/contracts";
import {
  CatalogView,
  ItemSpace,
  ModelHolder,
  createServingModel,
  scoreRequests,
  type ScoringCatalog,
  type ScoringStore,
  type ServingModel,
} from "@recfleet/scorer";
import type { RecFilters } from "@recfleet/contracts";
import {
  MB,
  flag,
  fmtMs,
  itemIdOf,
  listFlag,
  log,
  numFlag,
  randomItemMatrix,
  randomModel,
  round,
  rssOf,
  summarize,
  type Summary,
} from "./lib";

const DIM = 64;
const CANDIDATES = 100;
const K = 10;
const HISTORY = 20;
const USERS = 512;
const BATCH = 64;
const THREADS = 1;
const logger = createLogger("bench", { level: "error" });
const sessionOptions = { executionProviders: ["cpu" as const], logger, intraOpNumThreads: THREADS };

// ---------------------------------------------------------------- hot-swap child
if (process.argv.includes("--swap-child")) {
  const n = Number(flag("swap-child", "", "1000000"));
  const int8 = process.argv.includes("--int8");
  const gc = globalThis.gc ?? (() => {});
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(50);
    }
  };
  // What loadServingModel does, minus Redis: the vocabulary (serving.json), the serving graph
  // (serving.onnx: user tower → TopK with the item matrix as input) and the item matrix.
  const load = async (version: string): Promise<ServingModel> => {
    const seed = version === "v1" ? 1 : 2;
    let generated: Awaited<ReturnType<typeof randomModel>> | undefined = await randomModel(n, { seed });
    const vocabulary = { config: generated.config, itemIds: generated.itemIds };
    const graph = exportServingOnnx(generated, { modelVersion: version }, { itemMatrix: int8 ? "int8" : "float32" });
    generated = undefined; // the training weights are not part of a serving version
    // As loadServingModel: an int8 version quantizes the registry's float matrix and drops it.
    const matrix = int8 ? quantizeItemMatrix(randomItemMatrix(n, DIM, seed), DIM) : randomItemMatrix(n, DIM, seed);
    return createServingModel(version, vocabulary, graph, matrix, sessionOptions);
  };
  const touch = async (m: ServingModel | undefined) => void (await m?.retrieve([[1, 2, 3]], CANDIDATES));
  await settle();
  const start = rssOf();
  const holder = new ModelHolder(load, logger);
  await holder.swapTo("v1");
  const lease1 = holder.acquire();
  await touch(lease1.model);
  await settle();
  const one = rssOf();
  // A batch still holds v1 while v2 swaps in: both versions are alive.
  await holder.swapTo("v2");
  const lease2 = holder.acquire();
  await touch(lease2.model);
  await settle();
  const two = rssOf();
  lease1.release();
  lease2.release();
  await sleep(200);
  await settle();
  const after = rssOf();
  await holder.close();
  console.log(
    JSON.stringify({
      swap: {
        items: n,
        format: int8 ? "int8" : "float32",
        startMb: start.rssMb,
        oneVersionMb: one.rssMb,
        twoVersionsMb: two.rssMb,
        afterReleaseMb: after.rssMb,
        peakMb: rssOf().peakMb,
      },
    }),
  );
  process.exit(0);
}

// ---------------------------------------------------------------- compute
const SIZES = listFlag("sizes", "BENCH_SIZES", "1682,100000,1000000");
const SECONDS = numFlag("seconds", "BENCH_SECONDS", 3);
const POLICIES = flag("policies", "BENCH_POLICIES", "greedy|thompson:16,lift=1").split("|");
const SWAP_ITEMS = numFlag("swap-items", "BENCH_SWAP_ITEMS", Math.max(...SIZES));
const ROUNDS = 3;
const FILTER = flag("filter", "BENCH_FILTER", "1") !== "0";
const INT8 = flag("int8", "BENCH_INT8", "1") !== "0";
const CATEGORIES = 20;

/** A catalog describing every item: category c<i mod 20>, available. */
async function benchCatalog(n: number): Promise<ScoringCatalog> {
  const items = new Map<string, StoredCatalogItem>();
  for (let i = 0; i < n; i++)
    items.set(itemIdOf(i), { itemId: itemIdOf(i), ts: 1, categories: [`c${i % CATEGORIES}`] });
  const view = new CatalogView({
    readAll: async () => ({ items, cursor: "0-0" }),
    readChanges: async (cursor) => ({ cursor, items: new Map(), gap: false }),
  });
  await view.reload();
  const rules = { excludeUnavailable: true, maxPerProvider: 0 };
  return { space: new ItemSpace(view, rules), rules, item: (id) => view.get(id) };
}
const QUARTER: RecFilters = { includeCategories: ["c0", "c1", "c2", "c3", "c4"] };

function memoryStore(histories: Map<string, string[]>): ScoringStore {
  return {
    readUsers: async (users, n) =>
      users.map((u) => ({
        history: (n > 0 ? (histories.get(u) ?? []).slice(-n) : []).map((itemId, i): HistoryEntry => ({
          itemId,
          type: "click",
          ts: 1000 + i,
        })),
        seen: histories.get(u) ?? [],
      })),
    readPopularItems: async (n) => Array.from({ length: n }, (_, i) => ({ itemId: itemIdOf(i), score: n - i })),
    readItemStats: async (ids): Promise<ItemStats[]> =>
      ids.map((itemId, i) => ({ itemId, impressions: 50 + (i % 7) * 10, clicks: i % 5, expectedClicks: 2 })),
  };
}

interface Variant {
  name: string;
  /** Runs one call for `requests` requests (consecutive users from `offset`). */
  run(offset: number, requests: number): Promise<void>;
  batch1: number[];
  batchRequests: number;
  batchSeconds: number;
}

/** Variants alternate call by call, so bursts of machine noise hit them alike. */
async function measure(variants: Variant[], seconds: number, counter: { next: number }): Promise<void> {
  let deadline = performance.now() + seconds * 1000 * variants.length;
  for (let n = 0; n < 5 || performance.now() < deadline; n++) {
    const offset = counter.next++ % USERS;
    for (const v of variants) {
      const t = performance.now();
      await v.run(offset, 1);
      v.batch1.push(performance.now() - t);
    }
  }
  deadline = performance.now() + seconds * 1000 * variants.length;
  for (let m = 0; m < 2 || performance.now() < deadline; m++) {
    const offset = (counter.next += BATCH) % USERS;
    for (const v of variants) {
      const t = performance.now();
      await v.run(offset, BATCH);
      v.batchSeconds += (performance.now() - t) / 1000;
      v.batchRequests += BATCH;
    }
  }
}

const results: Record<string, unknown>[] = [];
log(
  `thread budget: onnxruntime intraOpNumThreads=${THREADS} (CPU EP), one JS thread; ${SECONDS} s per variant and batch size in ${ROUNDS} rounds, variants alternating call by call`,
);
for (const n of SIZES) {
  const setup = performance.now();
  log(`--- ${n} items × d=${DIM}: building a random model, item matrix and sessions …`);
  const model = await randomModel(n, { epochs: n <= 2000 ? 1 : 0 });
  const matrix = randomItemMatrix(n, DIM, 11);
  const serving = await createServingModel(
    `bench-${n}`,
    model,
    exportServingOnnx(model, { modelVersion: `bench-${n}` }),
    matrix,
    sessionOptions,
  );
  const bare = await createInferenceSession(exportTopKOnnx(DIM), sessionOptions);
  const quantized = quantizeItemMatrix(matrix, DIM);
  const int8Feeds = {
    item_codes: new ort.Tensor("int8", quantized.codes, [DIM, n]),
    item_scales: new ort.Tensor("float32", quantized.scales, [n]),
  };
  const int8Bare = INT8
    ? {
        integer: await createInferenceSession(exportTopKOnnx(DIM, { itemMatrix: "int8" }), sessionOptions),
        dequantize: await createInferenceSession(
          exportTopKOnnx(DIM, { itemMatrix: "int8", kernel: "dequantize" }),
          sessionOptions,
        ),
      }
    : undefined;
  const servingInt8 = INT8
    ? await createServingModel(
        `bench-${n}-int8`,
        model,
        exportServingOnnx(model, { modelVersion: `bench-${n}-int8` }, { itemMatrix: "int8" }),
        quantized,
        sessionOptions,
      )
    : undefined;
  log(`setup ${((performance.now() - setup) / 1000).toFixed(1)} s, process RSS ${rssOf().rssMb} MiB`);

  const users = Array.from({ length: USERS }, (_, u) => `user${u}`);
  const histories = new Map(
    users.map((u, i) => [u, Array.from({ length: HISTORY }, (_, j) => itemIdOf((i * 7919 + j * 104_729) % n))]),
  );
  const store = memoryStore(histories);
  const catalogDeps = await benchCatalog(n);
  const userVecs = randomItemMatrix(USERS + BATCH, DIM, 5);
  const itemTensor = new ort.Tensor("float32", matrix, [n, DIM]);
  const kTensor = new ort.Tensor("int64", BigInt64Array.from([BigInt(Math.min(CANDIDATES, n))]), [1]);
  const variants: Variant[] = [
    {
      name: "baseline",
      run: async (offset, b) => {
        const out = await bare.session.run({
          user_vector: new ort.Tensor("float32", userVecs.subarray(offset * DIM, (offset + b) * DIM), [b, DIM]),
          item_matrix: itemTensor,
          k: kTensor,
        });
        if (!out.indices) throw new Error("no indices");
      },
      batch1: [],
      batchRequests: 0,
      batchSeconds: 0,
    },
    ...Object.entries(int8Bare ?? {}).map(([kernel, bare8]): Variant => ({
      name: kernel === "integer" ? "bare_int8" : "bare_int8_dequant",
      run: async (offset, b) => {
        const out = await bare8.session.run({
          user_vector: new ort.Tensor("float32", userVecs.subarray(offset * DIM, (offset + b) * DIM), [b, DIM]),
          ...int8Feeds,
          k: kTensor,
        });
        if (!out.indices) throw new Error("no indices");
      },
      batch1: [],
      batchRequests: 0,
      batchSeconds: 0,
    })),
    ...[
      ...POLICIES.map((spec) => ({ spec, name: spec, catalog: false, filters: undefined, int8: false })),
      ...(INT8 ? [{ spec: "greedy", name: "greedy+int8", catalog: false, filters: undefined, int8: true }] : []),
      ...(FILTER
        ? [
            { spec: "greedy", name: "greedy+catalog", catalog: true, filters: undefined, int8: false },
            { spec: "greedy", name: "greedy+filter", catalog: true, filters: QUARTER, int8: false },
          ]
        : []),
    ].map(({ spec, name, catalog, filters, int8 }): Variant => {
      const policy: Policy = createPolicy(spec);
      const rng = createRng(3);
      let seq = 0;
      return {
        name,
        run: async (offset, b) => {
          const requests: RecRequest[] = Array.from({ length: b }, (_, i) => ({
            requestId: `q${seq++}`,
            user: users[(offset + i) % USERS]!,
            ts: Date.now(),
            k: K,
            ...(filters ? { filters } : {}),
          }));
          const out = await scoreRequests(requests, {
            store,
            model: int8 ? servingInt8! : serving,
            pseudonymise: (r) => r,
            policyFor: () => policy,
            rng,
            now: Date.now,
            defaultK: K,
            candidates: CANDIDATES,
            scoreToLogit: (c) => (c - 0.5) * 8,
            explanations: 2,
            // As the worker serving only this policy does.
            linearContexts: readsLinearState(policy.id),
            ...(catalog ? { catalog: catalogDeps } : {}),
          });
          if (out.recommendations.length !== b || out.coldStarts !== 0) throw new Error("unexpected cold start");
          if (
            filters &&
            out.recommendations.some((r) => r.items.some((it) => Number(it.itemId.slice(4)) % CATEGORIES >= 5))
          )
            throw new Error("a filtered request got an item outside its categories");
        },
        batch1: [],
        batchRequests: 0,
        batchSeconds: 0,
      };
    }),
  ];
  const counter = { next: 0 };
  for (const v of variants) for (let i = 0; i < 3; i++) await v.run(i, 1); // warm-up
  for (let round_ = 1; round_ <= ROUNDS; round_++) {
    await measure(variants, SECONDS / ROUNDS, counter);
    log(`round ${round_}/${ROUNDS} done`);
  }
  const floorBytes = n * DIM * 4;
  const base = variants[0]!;
  const baseSummary = summarize(base.batch1);
  const baseRps = base.batchRequests / base.batchSeconds;
  log(
    `memory-bandwidth floor: ${(floorBytes / MB).toFixed(1)} MiB read per unbatched query; baseline p50 moves ${(floorBytes / (baseSummary.p50 / 1000) / 1e9).toFixed(1)} GB/s`,
  );
  log(
    `baseline  (bare MatMul+TopK, k=${Math.min(CANDIDATES, n)}): batch 1 ${fmtMs(baseSummary)}; batch ${BATCH}: ${Math.round(baseRps)} req/s`,
  );
  const row: Record<string, unknown> = {
    items: n,
    floor_mb_per_query: round(floorBytes / MB, 2),
    baseline_p50_ms: round(baseSummary.p50),
    baseline_p99_ms: round(baseSummary.p99),
    baseline_rps_b64: Math.round(baseRps),
  };
  for (const v of variants.slice(1)) {
    const s: Summary = summarize(v.batch1);
    const rps = v.batchRequests / v.batchSeconds;
    log(
      `ours ${v.name.padEnd(18)}: batch 1 ${fmtMs(s)}; batch ${BATCH}: ${Math.round(rps)} req/s — ratio p50 ${(s.p50 / baseSummary.p50).toFixed(2)}×, p99 ${(s.p99 / baseSummary.p99).toFixed(2)}×, throughput ${(baseRps / rps).toFixed(2)}× (ours/baseline time)`,
    );
    const key = v.name.split(/[:,]/)[0]!.replace("+", "_");
    Object.assign(row, {
      [`${key}_p50_ms`]: round(s.p50),
      [`${key}_p99_ms`]: round(s.p99),
      [`${key}_rps_b64`]: Math.round(rps),
      [`${key}_ratio_p50`]: round(s.p50 / baseSummary.p50),
      [`${key}_ratio_p99`]: round(s.p99 / baseSummary.p99),
      [`${key}_ratio_b64`]: round(baseRps / rps),
    });
  }
  if (row["greedy_filter_p50_ms"] !== undefined) {
    row["filter_overhead_p50"] = round(Number(row["greedy_filter_p50_ms"]) / Number(row["greedy_p50_ms"]));
    row["filter_overhead_b64"] = round(Number(row["greedy_rps_b64"]) / Number(row["greedy_filter_rps_b64"]));
    row["catalog_overhead_p50"] = round(Number(row["greedy_catalog_p50_ms"]) / Number(row["greedy_p50_ms"]));
    log(
      `filter mask overhead vs unfiltered greedy (same run): p50 ${row["filter_overhead_p50"]}×, batch ${BATCH} ${row["filter_overhead_b64"]}×; catalog without filter p50 ${row["catalog_overhead_p50"]}×`,
    );
  }
  results.push(row);
  await serving.release();
  await servingInt8?.release();
  await bare.session.release();
  for (const b of Object.values(int8Bare ?? {})) await b.session.release();
}

// ---------------------------------------------------------------- hot-swap memory
const swaps: Record<string, Record<string, number | string>> = {};
if (SWAP_ITEMS > 0) {
  for (const format of INT8 ? ["float32", "int8"] : ["float32"]) {
    log(`--- hot swap at ${SWAP_ITEMS} items, ${format}, in a fresh process (two random versions, ModelHolder) …`);
    const child = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--swap-child",
        String(SWAP_ITEMS),
        ...(format === "int8" ? ["--int8"] : []),
      ],
      { encoding: "utf8", maxBuffer: 1 << 24 },
    );
    const line = child.stdout.split("\n").find((l) => l.startsWith('{"swap"'));
    if (child.status !== 0 || !line) {
      log(`hot-swap child failed (exit ${child.status}): ${child.stderr.trim().split("\n").slice(-5).join(" | ")}`);
      continue;
    }
    const swap = (JSON.parse(line) as { swap: Record<string, number> }).swap;
    const matrixMb = (SWAP_ITEMS * DIM * 4) / MB;
    const perVersion = swap.oneVersionMb! - swap.startMb!;
    const extra = swap.twoVersionsMb! - swap.oneVersionMb!;
    log(
      `${format}: float item matrix ${matrixMb.toFixed(0)} MiB; RSS: start ${swap.startMb} MiB, one version ${swap.oneVersionMb} MiB (+${perVersion.toFixed(0)} = ${(perVersion / matrixMb).toFixed(2)} float matrices), two versions ${swap.twoVersionsMb} MiB (+${extra.toFixed(0)} = ${(extra / matrixMb).toFixed(2)} float matrices), after release ${swap.afterReleaseMb} MiB; peak (VmHWM, incl. load transients) ${swap.peakMb} MiB`,
    );
    swaps[format] = {
      ...swap,
      matrixMb: round(matrixMb, 1),
      perVersionMb: round(perVersion, 1),
      extraDuringSwapMb: round(extra, 1),
      perVersionMatrices: round(perVersion / matrixMb, 2),
      extraDuringSwapMatrices: round(extra / matrixMb, 2),
    };
  }
  if (swaps.float32 && swaps.int8)
    log(
      `hot swap int8 / float32: memory per version ${(Number(swaps.int8.perVersionMb) / Number(swaps.float32.perVersionMb)).toFixed(2)}×, extra while two are loaded ${(Number(swaps.int8.extraDuringSwapMb) / Number(swaps.float32.extraDuringSwapMb)).toFixed(2)}×`,
    );
}

const at = (n: number) => results.find((r) => r.items === n);
const mid = at(100_000);
console.log(
  JSON.stringify({
    bench: "SCORE-COMPUTE",
    threads: THREADS,
    candidates: CANDIDATES,
    k: K,
    dim: DIM,
    policies: POLICIES,
    sizes: results,
    p99_100k_greedy_ms: mid?.greedy_p99_ms ?? null,
    goal_p99_100k_under_5ms: mid ? Number(mid.greedy_p99_ms) < 5 : null,
    ratio_p50_100k_greedy: mid?.greedy_ratio_p50 ?? null,
    filter_overhead_p50_100k: mid?.filter_overhead_p50 ?? null,
    filter_overhead_b64_100k: mid?.filter_overhead_b64 ?? null,
    goal_within_1_2x: results.every((r) => Number(r.greedy_ratio_p50) <= 1.2),
    goal_100k_p50_within_1_2x: mid ? Number(mid.greedy_ratio_p50) <= 1.2 : null,
    int8: INT8
      ? Object.fromEntries(
          results.map((r) => [
            r.items,
            {
              bare_int8_ratio_p50: r.bare_int8_ratio_p50,
              bare_int8_dequant_ratio_p50: r.bare_int8_dequant_ratio_p50,
              greedy_int8_ratio_p50: r.greedy_int8_ratio_p50,
              greedy_int8_ratio_b64: r.greedy_int8_ratio_b64,
            },
          ]),
        )
      : null,
    hot_swap: swaps.float32 ?? null,
    hot_swap_int8: swaps.int8 ?? null,
    peak_rss_mb: rssOf().peakMb,
  }),
);

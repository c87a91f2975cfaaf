// CUDA-CHECK (docs/cuda.md): CPU vs CUDA parity and latency of the scorer's retrieval graph, run
// through the same session factory the fleet uses (createInferenceSession, packages/towers).
//
// Two shapes of the graph are measured, at each item count and batch size:
//   serving   what the scorer runs today: the user tower (history → user vector), then
//             exportTopKOnnx(d) with the item matrix passed as an *input* on every run
//             (on CUDA that input is copied host → device on every call);
//   resident  exportRetrievalOnnx: user tower → Gemm → TopK in one graph, the item matrix an
//             initializer, so it is uploaded once and stays in device memory.
// The model is a small random two-tower (untrained: parity and latency do not depend on the
// weights); the item matrix is random unit vectors of the requested size.
//
// usage: node --import tsx bench/cuda-check.ts [--items 100000,1000000] [--batch 1,64] [--k 100]
//          [--dim 64] [--vocab 5000] [--variants serving,resident] [--iters 200] [--budget 10s]
//          [--cpu-baseline]
// Without CUDA it prints why (the same reason the scorer logs when it falls back) and exits 0
// with {"bench":"CUDA-CHECK","cuda":false,"reason":…}; --cpu-baseline then still measures CPU.
// With CUDA it ends with {"bench":"CUDA-CHECK","cuda":true,"rows":[…]}.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import {
  createInferenceSession,
  cudaProviderLibraryPath,
  encodeHistories,
  exportRetrievalOnnx,
  exportTopKOnnx,
  exportUserTowerOnnx,
  InferenceSessionError,
  trainTwoTower,
  type ExecutionProviderName,
  type TwoTowerModel,
} from "@recfleet/towers";
import { createRng, percentile } from "@recfleet/numeric";
import { parseDuration } from "@recfleet/runtime";

const { values } = parseArgs({
  options: {
    items: { type: "string", default: "100000,1000000" },
    batch: { type: "string", default: "1,64" },
    k: { type: "string", default: "100" },
    dim: { type: "string", default: "64" },
    vocab: { type: "string", default: "5000" },
    variants: { type: "string", default: "serving,resident" },
    iters: { type: "string", default: "200" },
    budget: { type: "string", default: "10s" },
    "cpu-baseline": { type: "boolean", default: false },
  },
});
const ints = (raw: string, name: string): number[] => {
  const out = raw.split(",").map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1))
    throw new RangeError(`--${name}: expected positive integers separated by commas, got ${JSON.stringify(raw)}`);
  return out;
};
const itemCounts = ints(values.items!, "items");
const batches = ints(values.batch!, "batch");
const [k] = ints(values.k!, "k");
const [dim] = ints(values.dim!, "dim");
const [vocab] = ints(values.vocab!, "vocab");
const [maxIters] = ints(values.iters!, "iters");
const budgetMs = parseDuration(values.budget!);
if (budgetMs === undefined)
  throw new RangeError(`--budget: expected a duration such as 10s, got ${JSON.stringify(values.budget)}`);
type Variant = "serving" | "resident";
const variants = values.variants!.split(",").map((s) => s.trim()) as Variant[];
if (variants.some((v) => v !== "serving" && v !== "resident"))
  throw new RangeError(`--variants: expected serving and/or resident, got ${JSON.stringify(values.variants)}`);

// ---------------------------------------------------------------- environment and the CUDA probe

function firstLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim().split("\n")[0] : undefined;
}

/** Whether the dynamic loader can find a library (ldconfig's cache or LD_LIBRARY_PATH). */
function findLibrary(name: string): string | undefined {
  for (const dir of (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean))
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  const cache = spawnSync("ldconfig", ["-p"], { encoding: "utf8" });
  const line = cache.status === 0 ? cache.stdout.split("\n").find((l) => l.trim().startsWith(name + " ")) : undefined;
  return line?.split("=>")[1]?.trim();
}

const providerLibrary = cudaProviderLibraryPath();
const environment = {
  onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
  backends: ort.listSupportedBackends().map((b) => `${b.name}${b.bundled ? "" : " (not bundled)"}`),
  providerLibrary,
  providerLibraryPresent: existsSync(providerLibrary),
  gpu:
    firstLine("nvidia-smi", ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]) ??
    "none (nvidia-smi not found or failed)",
  // What libonnxruntime_providers_cuda.so of the CUDA 12 build links against (docs/cuda.md).
  libraries: Object.fromEntries(
    [
      "libcudart.so.12",
      "libcublas.so.12",
      "libcublasLt.so.12",
      "libcufft.so.11",
      "libcurand.so.10",
      "libcudnn.so.9",
    ].map((l) => [l, findLibrary(l) ?? "not found"]),
  ),
};
console.log(`onnxruntime-node ${environment.onnxruntime}; backends: ${environment.backends.join(", ")}`);
console.log(`GPU: ${environment.gpu}`);
console.log(`CUDA provider library: ${providerLibrary} (${environment.providerLibraryPresent ? "present" : "absent"})`);
for (const [lib, at] of Object.entries(environment.libraries)) console.log(`  ${lib.padEnd(18)} ${at}`);

const warnings: string[] = [];
const quiet = {
  warn: (message: string, context?: Record<string, unknown>) =>
    void warnings.push(`${message} ${JSON.stringify(context ?? {})}`),
};

/** A small random two-tower model: untrained weights are enough for parity and latency. */
async function randomModel(): Promise<TwoTowerModel> {
  const itemIds = Array.from({ length: vocab! }, (_, i) => `item-${i}`);
  return trainTwoTower(
    { itemIds, itemFeatures: new Float32Array(0), examples: [] },
    { dim: dim!, hidden: 2 * dim!, historyLength: 50, epochs: 0, seed: 1 },
  );
}
const model = await randomModel();
const userTowerBytes = exportUserTowerOnnx(model, { modelVersion: "cuda-check" });

// What the fleet does with EXECUTION_PROVIDERS=cuda,cpu: falls back with a reason.
const fleetChoice = await createInferenceSession(userTowerBytes, {
  executionProviders: ["cuda", "cpu"],
  logger: quiet,
});
await fleetChoice.session.release();
console.log(
  `EXECUTION_PROVIDERS=cuda,cpu → ${fleetChoice.provider}${fleetChoice.fallbackReasons.length ? ` (fallback: ${fleetChoice.fallbackReasons.join("; ")})` : ""}`,
);

// Insist on CUDA: no CPU in the list, so a failure is an error with the reason, not a fallback.
let cudaReason: string | undefined;
try {
  const probe = await createInferenceSession(userTowerBytes, { executionProviders: ["cuda"], logger: quiet });
  await probe.session.release();
} catch (err) {
  if (!(err instanceof InferenceSessionError)) throw err;
  cudaReason = err.reasons.join("; ");
}
const providers: ExecutionProviderName[] = cudaReason === undefined ? ["cpu", "cuda"] : ["cpu"];
if (cudaReason !== undefined) {
  console.log(`CUDA unavailable: ${cudaReason}`);
  if (!values["cpu-baseline"]) {
    console.log(
      JSON.stringify({
        bench: "CUDA-CHECK",
        cuda: false,
        reason: cudaReason,
        fleetProvider: fleetChoice.provider,
        ...environment,
      }),
    );
    process.exit(0);
  }
  console.log("--cpu-baseline: measuring the CPU side only");
}

// ---------------------------------------------------------------- the graphs and the runs

function randomUnitRows(n: number, d: number, rand: () => number): Float32Array {
  const m = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      // Sum of uniforms: cheap, roughly Gaussian, isotropic enough for a benchmark.
      const x = rand() + rand() + rand() - 1.5;
      m[i * d + j] = x;
      norm += x * x;
    }
    const s = 1 / Math.sqrt(norm || 1);
    for (let j = 0; j < d; j++) m[i * d + j]! *= s;
  }
  return m;
}

interface Output {
  scores: Float32Array;
  indices: BigInt64Array;
}
type Runner = (history: BigInt64Array, mask: Float32Array, b: number) => Promise<Output>;
interface Built {
  run: Runner;
  release(): Promise<void>;
}

async function build(
  variant: Variant,
  provider: ExecutionProviderName,
  itemMatrix: Float32Array,
  n: number,
  kk: number,
): Promise<Built> {
  const options = { executionProviders: [provider], logger: quiet };
  const L = model.config.historyLength;
  if (variant === "serving") {
    const user = await createInferenceSession(userTowerBytes, options);
    const topk = await createInferenceSession(exportTopKOnnx(dim!), options);
    const items = new ort.Tensor("float32", itemMatrix, [n, dim!]);
    const kTensor = new ort.Tensor("int64", BigInt64Array.from([BigInt(kk)]), [1]);
    return {
      async run(history, mask, b) {
        const u = await user.session.run({
          history: new ort.Tensor("int64", history, [b, L]),
          history_mask: new ort.Tensor("float32", mask, [b, L]),
        });
        const out = await topk.session.run({ user_vector: u.user_vector!, item_matrix: items, k: kTensor });
        return { scores: out.scores!.data as Float32Array, indices: out.indices!.data as BigInt64Array };
      },
      release: async () => {
        await user.session.release();
        await topk.session.release();
      },
    };
  }
  const graph = exportRetrievalOnnx(model, itemMatrix, n, kk, { modelVersion: "cuda-check" });
  const s = await createInferenceSession(graph, options);
  return {
    async run(history, mask, b) {
      const out = await s.session.run({
        history: new ort.Tensor("int64", history, [b, L]),
        history_mask: new ort.Tensor("float32", mask, [b, L]),
      });
      return { scores: out.scores!.data as Float32Array, indices: out.indices!.data as BigInt64Array };
    },
    release: () => s.session.release(),
  };
}

async function time(run: () => Promise<Output>): Promise<{ p50: number; p99: number; iters: number; last: Output }> {
  let last = await run();
  for (let i = 0; i < 3; i++) last = await run(); // warm-up: first runs allocate and (CUDA) upload
  const times: number[] = [];
  const started = performance.now();
  while (times.length < maxIters! && (times.length < 5 || performance.now() - started < budgetMs!)) {
    const t = performance.now();
    last = await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), iters: times.length, last };
}

/** Max |Δ| over the k best scores (both sorted best first) and the mean share of top-k rows both return. */
function parity(a: Output, b: Output, rows: number, kk: number): { maxAbsScoreDiff: number; topKOverlap: number } {
  let maxAbs = 0;
  for (let i = 0; i < a.scores.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a.scores[i]! - b.scores[i]!));
  let overlap = 0;
  for (let r = 0; r < rows; r++) {
    const set = new Set(Array.from(a.indices.subarray(r * kk, (r + 1) * kk), Number));
    let both = 0;
    for (const x of b.indices.subarray(r * kk, (r + 1) * kk)) if (set.has(Number(x))) both++;
    overlap += both / kk;
  }
  return { maxAbsScoreDiff: maxAbs, topKOverlap: overlap / rows };
}

const ms = (x: number) => x.toFixed(x < 10 ? 3 : 1).padStart(9);
const rows: Record<string, number | string>[] = [];
const rand = createRng(7); // seeded, so every run uses the same matrix
console.log(
  `\nretrieval: d=${dim}, k=${k}, user tower over ${vocab} history items (L=${model.config.historyLength}); latency per run() in ms`,
);
console.log(
  `${"variant".padEnd(9)} ${"items".padStart(8)} ${"batch".padStart(5)} ${"cpu p50".padStart(9)} ${"cpu p99".padStart(9)}${providers.includes("cuda") ? ` ${"cuda p50".padStart(9)} ${"cuda p99".padStart(9)} ${"speed-up".padStart(8)} ${"max|Δs|".padStart(9)} ${"top-k ∩".padStart(7)}` : ""}`,
);
for (const n of itemCounts) {
  const itemMatrix = randomUnitRows(n, dim!, rand);
  const kk = Math.min(k!, n);
  for (const variant of variants) {
    const built = new Map<ExecutionProviderName, Built>();
    try {
      for (const p of providers) built.set(p, await build(variant, p, itemMatrix, n, kk));
      for (const b of batches) {
        const histories = Array.from({ length: b }, () =>
          Array.from({ length: model.config.historyLength }, () => Math.floor(rand() * vocab!)),
        );
        const { history, historyMask } = encodeHistories(model, histories);
        const row: Record<string, number | string> = { variant, items: n, batch: b, k: kk, dim: dim! };
        const outs = new Map<ExecutionProviderName, Output>();
        for (const p of providers) {
          const t = await time(() => built.get(p)!.run(history, historyMask, b));
          row[`${p}_p50_ms`] = Number(t.p50.toFixed(4));
          row[`${p}_p99_ms`] = Number(t.p99.toFixed(4));
          row[`${p}_iters`] = t.iters;
          outs.set(p, t.last);
        }
        let line = `${variant.padEnd(9)} ${String(n).padStart(8)} ${String(b).padStart(5)} ${ms(row.cpu_p50_ms as number)} ${ms(row.cpu_p99_ms as number)}`;
        if (outs.has("cuda")) {
          const par = parity(outs.get("cpu")!, outs.get("cuda")!, b, kk);
          row.max_abs_score_diff = par.maxAbsScoreDiff;
          row.topk_overlap = Number(par.topKOverlap.toFixed(4));
          row.speedup_p50 = Number(((row.cpu_p50_ms as number) / (row.cuda_p50_ms as number)).toFixed(2));
          line += ` ${ms(row.cuda_p50_ms as number)} ${ms(row.cuda_p99_ms as number)} ${`${row.speedup_p50}×`.padStart(8)} ${par.maxAbsScoreDiff.toExponential(1).padStart(9)} ${par.topKOverlap.toFixed(3).padStart(7)}`;
        }
        console.log(line);
        rows.push(row);
      }
    } finally {
      for (const s of built.values()) await s.release();
    }
  }
}
if (warnings.length > 0) console.log(`\nsession warnings:\n  ${[...new Set(warnings)].join("\n  ")}`);
console.log(
  JSON.stringify(
    cudaReason === undefined
      ? { bench: "CUDA-CHECK", cuda: true, ...environment, rows }
      : {
          bench: "CUDA-CHECK",
          cuda: false,
          reason: cudaReason,
          fleetProvider: fleetChoice.provider,
          ...environment,
          cpuRows: rows,
        },
  ),
);

// TRAIN-SPEED (BENCHMARKS.md): two-tower training throughput on ML-100K for the reference
// configuration, next to the PyTorch peer run in the same invocation at the same thread count.
//
// usage: node --import tsx bench/train-speed.ts [--threads 1|2] [--repeat N] [--path DIR] [--python /usr/bin/python3] [--peer FILE]
// Ends with {"bench":"TRAIN-SPEED","examples_per_s":…,"baseline_examples_per_s":…,"ratio":…,"threads":N,
// "peer_blas":…,"peer_command":…}. The peer needs `apt-get install -y python3-torch libopenblas0-pthread`;
// with the reference BLAS the ratio is refused (null) and the output says why.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { defaultMl100kPath, itemPopularity, loadMovieLens, sequenceExamples, splitChrono } from "@recfleet/evaluation";
import { referenceTwoTowerConfig, trainTwoTower } from "@recfleet/towers";

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const threads = Number(argValue("--threads", "1"));
// Runs recfleet and the peer alternately this many times and compares the medians (the machine is shared).
const repeat = Math.max(1, Number(argValue("--repeat", "1")));
const path = argValue("--path", defaultMl100kPath());
const python = argValue("--python", "/usr/bin/python3");
const peer = argValue("--peer", fileURLToPath(new URL("../../shared/peers/torch_two_tower.py", import.meta.url)));

if (!existsSync(path)) {
  console.error(`MovieLens-100K not found at ${path}: pass --path or set RECFLEET_ML100K`);
  process.exit(1);
}

// --- recfleet ---
const dataset = loadMovieLens(path);
const split = splitChrono(dataset);
const examples = sequenceExamples(split);
const config = { ...referenceTwoTowerConfig, threads };

/** One recfleet run; returns the training loop's examples/s. */
async function runRecfleet(): Promise<number> {
  let loopExamplesPerSecond = 0;
  const wallStart = performance.now();
  await trainTwoTower(
    { itemIds: dataset.itemIds, itemFeatures: dataset.itemFeatures, examples, itemFrequency: itemPopularity(split) },
    config,
    {
      onProgress: (p) => {
        if (p.step === p.stepsPerEpoch) {
          loopExamplesPerSecond = p.examplesPerSecond;
          console.log(
            `recfleet epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} ${Math.round(p.examplesPerSecond)} examples/s`,
          );
        }
      },
    },
  );
  const wallSeconds = (performance.now() - wallStart) / 1000;
  // The figure compared is the training loop's rate (as the peer times only its loop);
  // the wall time below adds packing the examples and building the ONNX session.
  const rate = Math.round(loopExamplesPerSecond);
  console.log(
    `recfleet: ${examples.length} examples × ${config.epochs} epochs, ${rate} examples/s (loop), ` +
      `wall incl. setup ${wallSeconds.toFixed(2)} s, threads ${threads}, load ${loadAverage()}`,
  );
  return rate;
}

// --- PyTorch peer ---
// Which BLAS the peer's torch runs on decides the comparison: Debian's reference libblas3 makes
// torch several times slower, so a ratio against it is refused. Two checks: a probe in the same
// python (torch's build config and the libraries mapped after a matmul), and the peer's own
// /proc/<pid>/maps sampled while it runs.
const peerEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
const peerCommand = `OPENBLAS_NUM_THREADS=${threads} OMP_NUM_THREADS=${threads} ${python} ${peer} ${path} --threads ${threads}`;
let baseline: number | null = null;
const oursRuns: number[] = [];
const peerRuns: number[] = [];
let peerBlas: string | null = null;
let refused: string | null = null;
const probeSource = [
  "import json, os, torch",
  "torch.set_num_threads(1)",
  "torch.ones(64, 64) @ torch.ones(64, 64)",
  "maps = open('/proc/self/maps').read().split('\\n')",
  "libs = sorted({os.path.realpath(l.split()[-1]) for l in maps if 'blas' in l.lower() and '/' in l})",
  "import re",
  "cfg = re.findall(r'(?:BLAS|LAPACK)_INFO=[^,\\s]+', torch.__config__.show())",
  "print(json.dumps({'torch': torch.__version__, 'blas_libs': libs, 'config': cfg}))",
].join("\n");
const probe = spawnSync(python, ["-c", probeSource], { encoding: "utf8", env: peerEnv });
if (probe.status !== 0) {
  console.log(
    `peer skipped: ${python} cannot import torch (${(probe.stderr || probe.error?.message || "").trim().split("\n").at(-1)}); ` +
      `install it with: apt-get install -y python3-torch libopenblas0-pthread`,
  );
} else if (!existsSync(peer)) {
  console.log(`peer skipped: ${peer} not found (pass --peer)`);
} else {
  const info = JSON.parse(probe.stdout.trim().split("\n").at(-1)!) as {
    torch: string;
    blas_libs: string[];
    config: string[];
  };
  console.log(`peer probe: torch ${info.torch}; torch config: ${info.config.join("; ") || "(no BLAS line)"}`);
  console.log(`peer probe: BLAS libraries mapped after a matmul: ${info.blas_libs.join(", ") || "none"}`);
  for (let r = 0; r < repeat; r++) {
    oursRuns.push(await runRecfleet());
    console.log(`running the PyTorch peer: ${peerCommand}`);
    const run = await runPeer(python, [peer, path, "--threads", String(threads)], peerEnv);
    const mapped = run.blasLibs.length > 0 ? run.blasLibs : info.blas_libs;
    console.log(`peer process BLAS libraries (/proc/${run.pid}/maps): ${run.blasLibs.join(", ") || "not sampled"}`);
    peerBlas = blasKind(mapped);
    if (peerBlas === "reference") {
      refused =
        `the peer's torch runs on the reference BLAS (${mapped.join(", ")}): it is several times slower than it ` +
        `should be, so no ratio is reported. Install OpenBLAS: apt-get install -y libopenblas0-pthread ` +
        `(Debian's alternatives then point libblas.so.3 at it)`;
      console.log(`REFUSED: ${refused}`);
    } else if (peerBlas === "unknown") {
      refused = `could not tell which BLAS the peer's torch loaded (${mapped.join(", ") || "no BLAS library mapped"})`;
      console.log(`REFUSED: ${refused}`);
    }
    const line = run.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((j) => j["model"] === "TwoTower-torch");
    if (run.status !== 0 || line === undefined || typeof line["examples_per_s"] !== "number") {
      console.log(`peer failed (exit ${run.status}): ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    } else {
      console.log(
        `peer: ${line["examples_per_s"]} examples/s (train_s ${String(line["train_s"])}, recall@20 ${String(line["recall@20"])}, BLAS ${peerBlas})`,
      );
      if (refused === null) peerRuns.push(line["examples_per_s"]);
    }
  }
  baseline = peerRuns.length > 0 ? median(peerRuns) : null;
}
if (oursRuns.length === 0) oursRuns.push(await runRecfleet());
const ours = median(oursRuns);
if (repeat > 1)
  console.log(`runs (alternating): recfleet ${oursRuns.join(", ")}; peer ${peerRuns.join(", ")}; medians compared`);
const ratio = baseline === null ? null : Math.round((ours / baseline) * 1000) / 1000;
console.log(`ratio recfleet/peer: ${ratio ?? `n/a (${refused ?? "no peer figure"})`}`);
console.log(`load: ${loadAverage()}`);
console.log(
  JSON.stringify({
    bench: "TRAIN-SPEED",
    examples_per_s: ours,
    baseline_examples_per_s: baseline,
    ratio,
    threads,
    runs: repeat,
    peer_blas: peerBlas,
    peer_command: peerCommand,
  }),
);

/** "openblas", "reference" (Debian's libblas3), "mkl" or "unknown", from the mapped libraries. */
function blasKind(libs: readonly string[]): string {
  if (libs.some((l) => /openblas/i.test(l))) return "openblas";
  if (libs.some((l) => /mkl/i.test(l))) return "mkl";
  if (libs.some((l) => /\/blas\/libblas\.so/.test(l))) return "reference";
  return "unknown";
}

/** Runs the peer, sampling its mapped BLAS libraries once torch has loaded them. */
async function runPeer(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string; pid: number; blasLibs: string[] }> {
  const child = spawn(command, args, { env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const pid = child.pid ?? -1;
  let blasLibs: string[] = [];
  const sampler = setInterval(() => {
    if (blasLibs.length > 0) return;
    try {
      const maps = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n");
      const libs = maps.filter((l) => /blas/i.test(l) && l.includes("/")).map((l) => l.slice(l.indexOf("/")));
      blasLibs = [...new Set(libs.map((l) => realpathSync(l)))].sort();
    } catch {
      // the process has not started or has ended
    }
  }, 200);
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearInterval(sampler);
  return { status, stdout, stderr, pid, blasLibs };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
}

function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

// TRAIN-SPEED (BENCHMARKS.md): two-tower training throughput on ML-100K for the reference
// configuration, next to the PyTorch peer run in the same invocation at the same thread count.
//
// usage: node --import tsx bench/train-speed.ts [--threads 1] [--path DIR] [--python /usr/bin/python3] [--peer FILE]
// Ends with {"bench":"TRAIN-SPEED","examples_per_s":…,"baseline_examples_per_s":…,"ratio":…,"threads":N}.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defaultMl100kPath, itemPopularity, loadMovieLens, sequenceExamples, splitChrono } from "@recfleet/evaluation";
import { referenceTwoTowerConfig, trainTwoTower } from "@recfleet/towers";

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const threads = Number(argValue("--threads", "1"));
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
const ours = Math.round(loopExamplesPerSecond);
console.log(
  `recfleet: ${examples.length} examples × ${config.epochs} epochs, ${ours} examples/s (loop), ` +
    `wall incl. setup ${wallSeconds.toFixed(2)} s, threads ${threads}`,
);

// --- PyTorch peer ---
let baseline: number | null = null;
const probe = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
if (probe.status !== 0) {
  console.log(
    `peer skipped: ${python} cannot import torch (${(probe.stderr || probe.error?.message || "").trim().split("\n").at(-1)}); ` +
      `install it with: apt-get install python3-torch`,
  );
} else if (!existsSync(peer)) {
  console.log(`peer skipped: ${peer} not found (pass --peer)`);
} else {
  console.log(`running the PyTorch peer (torch ${probe.stdout.trim()}, --threads ${threads}) …`);
  const run = spawnSync(python, [peer, path, "--threads", String(threads)], { encoding: "utf8", maxBuffer: 1 << 24 });
  const line = run.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((j) => j["model"] === "TwoTower-torch");
  if (run.status !== 0 || line === undefined || typeof line["examples_per_s"] !== "number") {
    console.log(`peer failed (exit ${run.status}): ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  } else {
    baseline = line["examples_per_s"];
    console.log(
      `peer: ${baseline} examples/s (train_s ${String(line["train_s"])}, recall@20 ${String(line["recall@20"])})`,
    );
  }
}
const ratio = baseline === null ? null : Math.round((ours / baseline) * 1000) / 1000;
console.log(`ratio recfleet/peer: ${ratio ?? "n/a (no peer figure)"}`);
console.log(
  JSON.stringify({ bench: "TRAIN-SPEED", examples_per_s: ours, baseline_examples_per_s: baseline, ratio, threads }),
);

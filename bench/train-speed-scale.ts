// TRAIN-SPEED-SCALE (BENCHMARKS.md): one training epoch at catalog scale — a synthetic clickstream
// of 150k users × 100k items (@recfleet/simulator's generateClickstream) — epoch time and peak RSS
// of recfleet and of the PyTorch peer's model and step (bench/torch_scale_peer.py, which imports
// the peer's code) on the same data, each in its own process so each RSS is its own.
//
// recfleet trains from the users' event sequences (histories cut per batch: memory grows with the
// events, not events × history); the peer, as it does on ML-100K, materialises every history.
//
// usage: node --import tsx bench/train-speed-scale.ts [--events 1000000] [--users 150000] [--items 100000]
//          [--threads 1] [--max-steps N] [--embedding-adam dense|lazy] [--seed 1] [--python /usr/bin/python3] [--peer FILE] [--skip-peer]
// --max-steps N times N steps of the epoch on each side and scales to the whole epoch (for 10M
// events on a small machine); the output says so. Ends with
// {"bench":"TRAIN-SPEED-SCALE","events":…,"items":…,"epoch_s":…,"peak_rss_mb":…,"baseline_epoch_s":…,"baseline_peak_rss_mb":…}.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateClickstream, GENRES, userSequences } from "@recfleet/simulator";
import { referenceTwoTowerConfig, TrainingAbortedError, trainTwoTower } from "@recfleet/towers";

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const threads = Number(argValue("--threads", "1"));
const maxSteps = Number(argValue("--max-steps", "0"));
// recfleet's embedding optimizer: "dense" (the default, as the peer) or "lazy" (opt-in, touched rows only)
const embeddingAdam = argValue("--embedding-adam", "dense") === "lazy" ? "lazy" : "dense";

interface SideResult {
  epoch_s: number;
  peak_rss_mb: number;
  examples: number;
  steps: number;
  steps_per_epoch: number;
  measured_s: number;
  mean_loss?: number;
}

if (process.argv.includes("--role")) await trainRecfleet(argValue("--data", ""));
else await orchestrate();

/** The child process: train recfleet one epoch on the written data, print one JSON line. */
async function trainRecfleet(dir: string): Promise<void> {
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { items: number; genres: number };
  const int32 = (name: string) => {
    const b = readFileSync(join(dir, name));
    return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  const genres = readFileSync(join(dir, "genres.f32"));
  const items = int32("items.i32");
  const frequency = new Float64Array(meta.items);
  for (const i of items) frequency[i]! += 1;
  const abort = new AbortController();
  let last = { step: 0, stepsPerEpoch: 1, examplesPerSecond: 0, loss: 0, seconds: 0 };
  try {
    await trainTwoTower(
      {
        itemIds: Array.from({ length: meta.items }, (_, r) => `i${r}`),
        itemFeatures: new Float32Array(genres.buffer, genres.byteOffset, genres.byteLength / 4),
        examples: [],
        sequences: { items, offsets: int32("offsets.i32") },
        itemFrequency: frequency,
      },
      { ...referenceTwoTowerConfig, epochs: 1, threads },
      {
        progressIntervalMs: 0,
        embeddingAdam,
        signal: abort.signal,
        onProgress: (p) => {
          // examples done ≈ steps × batch (the last batch of an epoch may be short)
          last = { ...p, seconds: (p.step * referenceTwoTowerConfig.batchSize) / p.examplesPerSecond };
          if (p.step % 200 === 0) console.error(`recfleet step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)}`);
          if (maxSteps > 0 && p.step >= maxSteps) abort.abort();
        },
      },
    );
  } catch (e) {
    if (!(e instanceof TrainingAbortedError)) throw e;
  }
  const offsets = int32("offsets.i32");
  let examples = 0;
  for (let u = 0; u + 1 < offsets.length; u++) examples += Math.max(0, offsets[u + 1]! - offsets[u]! - 1);
  console.log(
    JSON.stringify({
      epoch_s: Math.round(((last.seconds * last.stepsPerEpoch) / last.step) * 100) / 100,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      examples,
      steps: last.step,
      steps_per_epoch: last.stepsPerEpoch,
      measured_s: Math.round(last.seconds * 100) / 100,
      mean_loss: Math.round(last.loss * 1e4) / 1e4,
    }),
  );
}

async function orchestrate(): Promise<void> {
  const events = Number(argValue("--events", "1000000"));
  const users = Number(argValue("--users", "150000"));
  const items = Number(argValue("--items", "100000"));
  const seed = Number(argValue("--seed", "1"));
  const python = argValue("--python", "/usr/bin/python3");
  const peer = argValue("--peer", fileURLToPath(new URL("../../shared/peers/torch_two_tower.py", import.meta.url)));
  console.log(
    `load before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );

  const t0 = performance.now();
  const stream = generateClickstream({ seed, users, items, events });
  const seqs = userSequences(stream);
  const dir = mkdtempSync(join(tmpdir(), "train-speed-scale-"));
  mkdirSync(dir, { recursive: true });
  const bytes = (a: Int32Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  writeFileSync(join(dir, "items.i32"), bytes(seqs.items));
  writeFileSync(join(dir, "offsets.i32"), bytes(seqs.offsets));
  writeFileSync(join(dir, "genres.f32"), bytes(stream.itemGenres));
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ users, items, events, genres: GENRES, seed }));
  console.log(
    `generated ${events} events over ${users} users × ${items} items (seed ${seed}) in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${dir}`,
  );

  try {
    const stepsArgs = maxSteps > 0 ? ["--max-steps", String(maxSteps)] : [];
    const recfleetCommand = [
      process.execPath,
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      "--role",
      "recfleet",
      "--data",
      dir,
      "--threads",
      String(threads),
      "--embedding-adam",
      embeddingAdam,
      ...stepsArgs,
    ];
    console.log(`recfleet: ${recfleetCommand.join(" ")}`);
    const ours = await runJson(recfleetCommand[0]!, recfleetCommand.slice(1), process.env);
    console.log(`recfleet: ${JSON.stringify(ours)}`);

    let baseline: SideResult | null = null;
    if (!process.argv.includes("--skip-peer")) {
      const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
      const script = fileURLToPath(new URL("./torch_scale_peer.py", import.meta.url));
      const args = [script, peer, dir, "--threads", String(threads), ...stepsArgs];
      console.log(`peer: OPENBLAS_NUM_THREADS=${threads} OMP_NUM_THREADS=${threads} ${python} ${args.join(" ")}`);
      baseline = await runJson(python, args, env).catch((e: Error) => {
        console.log(`peer failed: ${e.message}`);
        return null;
      });
      if (baseline !== null) console.log(`peer: ${JSON.stringify(baseline)}`);
    }
    if (maxSteps > 0)
      console.log(`epoch_s scaled from the first ${maxSteps} steps of the epoch (--max-steps) on both sides`);
    console.log(
      `load after: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
    console.log(
      JSON.stringify({
        bench: "TRAIN-SPEED-SCALE",
        events,
        items,
        users,
        threads,
        embedding_adam: embeddingAdam,
        epoch_s: ours.epoch_s,
        peak_rss_mb: ours.peak_rss_mb,
        baseline_epoch_s: baseline?.epoch_s ?? null,
        baseline_peak_rss_mb: baseline?.peak_rss_mb ?? null,
        ratio: baseline === null ? null : Math.round((baseline.epoch_s / ours.epoch_s) * 1000) / 1000,
        steps_timed: maxSteps > 0 ? maxSteps : "epoch",
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a side, passes its stderr through, and parses the last JSON line of its stdout. */
function runJson(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<SideResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out
        .trim()
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("{"));
      if (code !== 0 || line === undefined) reject(new Error(`${command} exited ${code}: ${out.slice(-500)}`));
      else resolve(JSON.parse(line) as SideResult);
    });
  });
}

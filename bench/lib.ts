/**
 * Shared helpers of the scorer benchmarks (score-compute, e2e-latency, scale-out, freshness):
 * flags, latency summaries, peak RSS from /proc, a stack of our own (or KAFKA_BROKERS/REDIS_URL),
 * a random model and item matrix, publishing a version into the registry the way the trainer
 * does, seeding user histories, and a bare echo worker (the latency baseline).
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { createProducer, startConsumerLoop, type ConsumerLoop, type Kafka } from "@recfleet/bus";
import { percentile } from "@recfleet/numeric";
import { createMetricsRegistry, rssOf, type Logger } from "@recfleet/runtime";

export { rssOf };
import { createModelRegistry, createStore, type FeatureEvent } from "@recfleet/store";
import { publishModelVersion } from "@recfleet/store/testing";
import { exportModelArtefacts, trainTwoTower, type TwoTowerModel } from "@recfleet/towers";
import { startStack, type Stack } from "@recfleet/stack";

export const log = (line: string): void => console.log(`# ${line}`);

/** `--name value` from argv, else the environment variable, else the fallback. */
export function flag(name: string, envName: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[envName] ?? fallback;
}
export const numFlag = (name: string, envName: string, fallback: number): number => {
  const v = Number(flag(name, envName, String(fallback)));
  if (!Number.isFinite(v)) throw new RangeError(`--${name} (${envName}) must be a number`);
  return v;
};
export const listFlag = (name: string, envName: string, fallback: string): number[] =>
  flag(name, envName, fallback)
    .split(",")
    .map((s) => Number(s.trim()));

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles (@recfleet/numeric's definition), max and mean of the samples (any unit). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = Float64Array.from(samples).sort();
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1]!, mean };
}

export const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
export const fmtMs = (s: Summary): string =>
  `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms (n=${s.n})`;
export const MB = 1024 * 1024;

export interface BenchInfra {
  brokers: string[];
  redisUrl: string;
  env: Record<string, string>;
  logDir: string;
  stop(): Promise<void>;
}

/** Our own Kafka + Redis in a temp dir, unless KAFKA_BROKERS and REDIS_URL name existing ones. */
/** The pseudonym secret every bench's fleet uses (benches seed histories under its pseudonyms). */
export const BENCH_SECRET = "bench-pseudonym-secret-0123456789";

/** Environment of a bench's workers: the bench's stack and namespace, CPU only, one ORT thread, quiet logs. */
export function benchWorkerEnv(infra: BenchInfra, namespace: string, partitions: number): Record<string, string> {
  return {
    ...infra.env,
    RECFLEET_NAMESPACE: namespace,
    RECFLEET_PSEUDONYM_SECRET: BENCH_SECRET,
    EXECUTION_PROVIDERS: "cpu",
    SCORER_THREADS: "1",
    RECFLEET_TOPIC_PARTITIONS: String(partitions),
    LOG_LEVEL: "warn",
  };
}

export async function benchInfra(name: string): Promise<BenchInfra> {
  const dir = mkdtempSync(join(tmpdir(), `recfleet-${name}-`));
  let stack: Stack | undefined;
  if (!(process.env.KAFKA_BROKERS && process.env.REDIS_URL)) stack = await startStack({ dir, log });
  const brokers = process.env.KAFKA_BROKERS ?? stack!.brokers;
  const redisUrl = process.env.REDIS_URL ?? stack!.redisUrl;
  log(`worker logs in ${join(dir, "logs")}`);
  return {
    brokers: brokers.split(","),
    redisUrl,
    env: { KAFKA_BROKERS: brokers, REDIS_URL: redisUrl },
    logDir: join(dir, "logs"),
    stop: async () => void (await stack?.stop()),
  };
}

export const itemIdOf = (row: number): string => `item${row}`;

/** Unit-norm random rows (the figure is compute, not quality). Deterministic for a seed. */
export function randomItemMatrix(numItems: number, dim: number, seed = 1): Float32Array {
  const m = new Float32Array(numItems * dim);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < m.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    m[i] = (s >>> 0) / 2 ** 32 - 0.5;
  }
  for (let r = 0; r < numItems; r++) {
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += m[r * dim + j]! ** 2;
    const n = Math.sqrt(sq) || 1;
    for (let j = 0; j < dim; j++) m[r * dim + j]! /= n;
  }
  return m;
}

/**
 * A randomly initialised two-tower model over `numItems` items (d=64, hidden 128, last 50
 * items by default): trainTwoTower with 0 epochs, or `epochs` on a small synthetic sequence set.
 */
export async function randomModel(
  numItems: number,
  options: { dim?: number; epochs?: number; seed?: number } = {},
): Promise<TwoTowerModel> {
  const itemIds = Array.from({ length: numItems }, (_, i) => itemIdOf(i));
  const epochs = options.epochs ?? 0;
  const examples =
    epochs === 0
      ? []
      : Array.from({ length: 4096 }, (_, e) => {
          const b = (e * 7919) % numItems;
          return { history: [b, (b + 1) % numItems, (b + 2) % numItems], target: (b + 3) % numItems };
        });
  return trainTwoTower(
    { itemIds, itemFeatures: new Float32Array(0), examples },
    {
      dim: options.dim ?? 64,
      hidden: 128,
      historyLength: 50,
      batchSize: 256,
      epochs,
      seed: options.seed ?? 7,
      threads: 1,
    },
  );
}

/** Publishes `model` as the current version, with `itemMatrix` as its item vectors. */
export async function publishModel(
  redis: Redis,
  namespace: string,
  model: TwoTowerModel,
  version: string,
  itemMatrix: Float32Array,
): Promise<void> {
  const artefacts = exportModelArtefacts(model, { modelVersion: version });
  const registry = createModelRegistry(redis, namespace);
  await publishModelVersion(registry, { version, dim: model.config.dim, shardSize: 4096, artefacts, itemMatrix });
}

/** `perUser` past clicks per user on items spread over the catalogue (seen and in history). */
export async function seedHistories(
  redis: Redis,
  namespace: string,
  users: readonly string[],
  numItems: number,
  perUser: number,
): Promise<Map<string, string[]>> {
  const store = createStore(redis, namespace);
  const now = Date.now();
  const byUser = new Map<string, string[]>();
  for (let from = 0; from < users.length; from += 200) {
    const events: FeatureEvent[] = [];
    users.slice(from, from + 200).forEach((user, k) => {
      const u = from + k;
      const items = Array.from({ length: perUser }, (_, j) => itemIdOf((u * 7919 + j * 104_729) % numItems));
      byUser.set(user, items);
      items.forEach((itemId, j) =>
        events.push({
          eventId: `seed-${user}-${j}`,
          user,
          itemId,
          type: "click",
          ts: now - 600_000 + j * 1000,
          weight: 1,
          markSeen: true,
          reward: false,
          refresh: false,
        }),
      );
    });
    await store.applyEvents(events);
  }
  return byUser;
}

/**
 * The baseline worker: consume → produce the same bytes to `outTopic`, no work, through the same
 * packages/bus consumer loop and producer (and their defaults) the scorer uses.
 */
export async function startEchoWorker(
  kafka: Kafka,
  options: { groupId: string; inTopic: string; outTopic: string; logger: Logger },
): Promise<ConsumerLoop & { close(): Promise<void> }> {
  const producer = await createProducer(kafka);
  const loop = await startConsumerLoop<Buffer | null>({
    kafka,
    groupId: options.groupId,
    topics: [options.inTopic],
    deadLetterTopic: `${options.inTopic}.dlq`,
    producer,
    logger: options.logger,
    registry: createMetricsRegistry("bench-echo"),
    partitionsConsumedConcurrently: 1,
    decode: (value) => ({ ok: true, value }),
    handleBatch: async (messages) => {
      await producer.send(
        options.outTopic,
        messages.map((m) => ({ key: m.key, value: m.value ?? Buffer.alloc(0) })),
      );
    },
  });
  return {
    consumer: loop.consumer,
    stop: () => loop.stop(),
    close: async () => {
      await loop.stop();
      await producer.close();
    },
  };
}

/** Wall clock in ms with sub-ms resolution (comparable across processes on one machine). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Environment that makes a worker child write a V8 CPU profile (worker.<pid>.cpuprofile) into
 * `dir` when it exits (empty `dir`: nothing), through the preloaded bench/cpu-profile.mjs.
 * Benches pass it to the worker under study only (`--profile-dir DIR`).
 */
export function profileEnv(dir: string): Record<string, string> {
  if (!dir) return {};
  mkdirSync(dir, { recursive: true }); // the profiled worker writes its profile here when it exits
  const preload = fileURLToPath(new URL("./cpu-profile.mjs", import.meta.url));
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload}`.trim(),
    BENCH_CPU_PROFILE_DIR: dir,
  };
}

/**
 * Prints the top of the CPU profile worker `pid` wrote into `dir` (profileEnv; it is written when
 * the worker exits, so stop it first) and returns it; undefined when there is none.
 */
export function reportProfile(dir: string, pid: number, what: string): ReturnType<typeof topOfProfile> | undefined {
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`));
  if (!file) {
    log(`no CPU profile of pid ${pid} in ${dir}`);
    return undefined;
  }
  const profile = topOfProfile(join(dir, file));
  log(`${what} CPU profile ${join(dir, file)}: ${profile.total_ms} ms sampled; self time by area:`);
  log(
    `  ${Object.entries(profile.by_area)
      .map(([area, p]) => `${area} ${p}%`)
      .join(", ")}`,
  );
  for (const { fn, self_pct } of profile.top) log(`  ${self_pct.toFixed(1).padStart(5)}%  ${fn}`);
  return profile;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * The functions with the most self time in a V8 .cpuprofile, and the share of samples under
 * each named package (kafkajs, ioredis, onnxruntime, our code): "where does the time go".
 */
export function topOfProfile(
  file: string,
  n = 15,
): { total_ms: number; top: { fn: string; self_pct: number }[]; by_area: Record<string, number> } {
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: CpuProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const areaOf = (url: string, fn: string): string => {
    if (fn === "(idle)" || fn === "(program)" || fn === "(garbage collector)") return fn;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    if (pkg) return pkg;
    const ours = /\/(packages|services|apps)\/([^/]+)\//.exec(url);
    if (ours) return `${ours[1]}/${ours[2]}`;
    return url.startsWith("node:") ? "node core" : url ? "other" : "(native)";
  };
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const short = url.replace(/^.*\/(node_modules|packages|services)\//, "$1/");
    const fn = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const pct = (us: number) => round((100 * us) / total, 1);
  return {
    total_ms: round(total / 1000, 0),
    top: [...byFn]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, us]) => ({ fn, self_pct: pct(us) })),
    by_area: Object.fromEntries([...byArea].sort((a, b) => b[1] - a[1]).map(([area, us]) => [area, pct(us)])),
  };
}

/**
 * Open-loop arrivals: every ~2 ms, `send(from, to, t)` gets the indices [from, to) of the
 * requests due by now at `rate` per second, for `seconds`. Returns how many were due in all.
 */
export async function pacedArrivals(
  rate: number,
  seconds: number,
  send: (from: number, to: number, t: number) => Promise<void>,
): Promise<number> {
  const start = nowMs();
  let sent = 0;
  while (nowMs() - start < seconds * 1000) {
    const due = Math.floor(((nowMs() - start) / 1000) * rate);
    if (due > sent) {
      const from = sent;
      sent = due;
      await send(from, due, nowMs());
    }
    await sleep(2);
  }
  return sent;
}

/** Waits up to `drainMs` for every request in `sent` to arrive; request → answer latencies (ms) and the unanswered count. */
export async function answerLatencies(
  sent: ReadonlyMap<string, number>,
  arrived: ReadonlyMap<string, number>,
  drainMs = 15_000,
): Promise<{ summary: Summary; latencies: number[]; sent: number; unanswered: number }> {
  const until = nowMs() + drainMs;
  while ([...sent.keys()].some((id) => !arrived.has(id)) && nowMs() < until) await sleep(50);
  const latencies = [...sent].flatMap(([id, t]) => (arrived.has(id) ? [arrived.get(id)! - t] : []));
  return { summary: summarize(latencies), latencies, sent: sent.size, unanswered: sent.size - latencies.length };
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat (Linux; NaN elsewhere).
 * On a shared machine wall-clock latencies move with the neighbours' load; CPU per request does not.
 */
export function cpuMsOf(pid: number = process.pid): number {
  try {
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/**
 * Arrival times by requestId from a consumer of `topic` in this process: the first arrival of
 * each id (`arrived`), and every arrival in order, duplicates included (`arrivals`).
 */
export async function collector(
  kafka: Kafka,
  topic: string,
  groupId: string,
  logger: Logger,
): Promise<{ arrived: Map<string, number>; arrivals: { id: string; t: number }[]; loop: ConsumerLoop }> {
  const arrived = new Map<string, number>();
  const arrivals: { id: string; t: number }[] = [];
  const producer = await createProducer(kafka); // the loop's dead-letter producer (never used: decoding cannot fail)
  const loop = await startConsumerLoop<Buffer | null>({
    kafka,
    groupId,
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry: createMetricsRegistry("bench-collector"),
    decode: (value) => ({ ok: true, value }),
    handleBatch: async (messages) => {
      const t = nowMs();
      for (const m of messages) {
        const id = (JSON.parse(m.value!.toString("utf8")) as { requestId: string }).requestId;
        arrivals.push({ id, t });
        if (!arrived.has(id)) arrived.set(id, t);
      }
    },
  });
  return {
    arrived,
    arrivals,
    loop: { consumer: loop.consumer, stop: async () => (await loop.stop(), await producer.close()) },
  };
}

/** A worker process that has ended, by exit code or by signal. */
export const exited = (w: { process: ChildProcess }): boolean =>
  w.process.exitCode !== null || w.process.signalCode !== null;

/**
 * A full, compacting garbage collection in another Node process, then its inspector closed again:
 * SIGUSR1 opens the process's inspector (Node's documented behaviour) on `port`, one DevTools
 * session asks for HeapProfiler.collectGarbage, and Runtime.evaluate closes the inspector so the
 * port is free for the next process. Used by the SOAK so that each RSS sample measures what the
 * worker retains, not where V8 happens to be in its collection cycle (20–35 MiB of swing per
 * worker). Processes are collected one after another: they share the default inspector port.
 */
export async function forceFullGc(pid: number, port = 9229, timeoutMs = 10_000): Promise<void> {
  process.kill(pid, "SIGUSR1");
  const deadline = Date.now() + timeoutMs;
  let target: string | undefined;
  while (!target) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl: string;
      }[];
      target = list[0]?.webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    if (!target) {
      if (Date.now() > deadline) throw new Error(`the inspector of pid ${pid} did not open on port ${port}`);
      await sleep(100);
    }
  }
  const { WebSocket } = await import("ws");
  const socket = new WebSocket(target);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  const answers = new Map<number, () => void>();
  socket.on("message", (data) => {
    const { id } = JSON.parse(String(data)) as { id?: number };
    if (id !== undefined) answers.get(id)?.();
  });
  const call = (id: number, method: string, params: object = {}) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} in pid ${pid} timed out`)), timeoutMs);
      answers.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call(1, "HeapProfiler.collectGarbage");
  } finally {
    // Closing the inspector ends this session too: its answer may never come.
    socket.send(JSON.stringify({ id: 2, method: "Runtime.evaluate", params: { expression: "process._debugEnd()" } }));
    await new Promise<void>((resolve) => {
      socket.once("close", () => resolve());
      setTimeout(resolve, 2000);
    });
    socket.terminate();
  }
}

/**
 * Starts the fleet's workers as child processes (the same `main.ts` a user runs) and stops
 * them with SIGTERM. Used by the main job (`recfleet demo`) and benchmarks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { createKafka, groupLag } from "@recfleet/bus";
import { consumerGroupId, topicNames } from "@recfleet/contracts";
import { createLogger, errorMessage } from "@recfleet/runtime";
import { createModelRegistry } from "@recfleet/store";
import { runTrainCli } from "@recfleet/trainer";
import { runFleetSimulation, type FleetSimulationReport } from "@recfleet/simulator";
import { REPO_ROOT, stopProcess, stackUp, stackDown, readStackState, waitForPortFile } from "@recfleet/stack";
import { waitFor } from "@recfleet/testkit";

export type WorkerName = "ingest" | "features" | "trainer" | "scorer" | "gateway";

export interface RunningWorker {
  name: WorkerName;
  metricsPort: number;
  process: ChildProcess;
  logPath: string;
}

/**
 * glibc's malloc raises its mmap threshold to the largest block freed so far (up to 32 MiB), and
 * from then on big Buffers (Kafka fetches, training windows, model bytes) come from its heap and
 * leave it fragmented: the SOAK's trainer grew 139 → 168 MiB over 45 minutes in steps at training
 * runs, none of it V8's. Fixed at 128 KiB, blocks above it are mapped and returned when freed
 * (with it the trainer grew 2.6 MiB from minute 5 to 25 against 10.5). infra/Dockerfile sets the same;
 * a worker started by hand should too (README). The caller's environment wins.
 */
const WORKER_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: "131072" };

export async function startWorker(
  name: WorkerName,
  env: Record<string, string>,
  logDir: string,
  instance = 0,
  /** How long the worker may take to open its metrics port: a worker's tsx start can take over a minute on a loaded shared machine. */
  portTimeoutMs = 180_000,
): Promise<RunningWorker> {
  mkdirSync(logDir, { recursive: true });
  const base = join(logDir, `${name}${instance ? `-${instance}` : ""}`);
  const logPath = `${base}.log`;
  const portFile = `${base}.port`;
  rmSync(portFile, { force: true });
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "services", name, "src", "main.ts")], {
    cwd: REPO_ROOT,
    env: { ...WORKER_MALLOC_ENV, ...process.env, ...env, METRICS_PORT: "0", METRICS_PORT_FILE: portFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const metricsPort = await waitForPortFile(portFile, child, portTimeoutMs).catch((err: unknown) => {
    // Not left running behind the caller's back: it has no handle to stop it.
    child.kill("SIGKILL");
    throw new Error(`${name} did not open its metrics port (${errorMessage(err)}); see ${logPath}`);
  });
  return { name, metricsPort, process: child, logPath };
}

export async function waitReady(worker: RunningWorker, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `${worker.name} to be ready (log: ${worker.logPath})`,
    async () => {
      const { exitCode, signalCode } = worker.process;
      if (exitCode !== null || signalCode !== null)
        throw new Error(`${worker.name} exited (${exitCode ?? signalCode}); see ${worker.logPath}`);
      const res = await fetch(`http://127.0.0.1:${worker.metricsPort}/readyz`).catch(() => undefined);
      return res?.status === 200;
    },
    timeoutMs,
    250,
  );
}

/** Sum of a Prometheus metric's samples whose labels contain every given label pair. */
export async function scrapeMetric(
  worker: RunningWorker,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`).catch(() => undefined);
  if (!res || res.status !== 200) return NaN;
  let sum = 0;
  for (const line of (await res.text()).split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** Clickstream messages ingest processed and dead-lettered, from its metrics page. */
export async function ingestOutcomes(
  ingest: RunningWorker,
  namespace: string,
): Promise<{ ingested: number; deadLettered: number }> {
  const topic = topicNames(namespace).clickstream;
  const count = (outcome: string) => scrapeMetric(ingest, "recfleet_consumer_messages_total", { topic, outcome });
  return { ingested: await count("processed"), deadLettered: await count("dead_lettered") };
}

export async function stopWorkers(workers: RunningWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => stopProcess(w.process, 25_000)));
}

export interface LocalFleet {
  brokers: string;
  redisUrl: string;
  namespace: string;
  env: Record<string, string>;
  workers: RunningWorker[];
  /** Stops the workers; stops the stack too when this fleet started it (unless keepStack). */
  stop(): Promise<void>;
}

/** Settings of the demo fleet: retrains often so new items and clicks enter the model quickly. */
export const DEMO_FLEET_ENV: Readonly<Record<string, string>> = {
  TRAIN_INTERVAL: "8s",
  TRAIN_MIN_EVENTS: "500",
  TRAIN_EPOCHS: "3",
  EMBED_SHARD_SIZE: "200",
  PROMOTE_MARGIN: "0.05",
  MODEL_GC_GRACE: "2m",
  SCORER_CANDIDATES: "50",
  EXECUTION_PROVIDERS: "cuda,cpu",
  LOG_LEVEL: "info",
};

/** Scorer env that lets requests name these policies (";" between specs: specs have commas of their own). */
export function allowPoliciesEnv(policies: readonly string[]): Record<string, string> {
  return { SCORER_ALLOWED_POLICIES: policies.join(";") };
}

/**
 * The local stack (reused when `recfleet stack up` already runs one) and ingest, features,
 * trainer and scorer as child processes in a fresh namespace.
 */
export async function startLocalFleet(options: {
  namespace: string;
  logDir: string;
  env?: Record<string, string>;
  keepStack?: boolean;
  log?: (line: string) => void;
  /**
   * Kafka + Redis someone else runs (a test run's, with its connection env): used as they are,
   * neither started nor stopped here. Absent → the local stack (`recfleet stack`).
   */
  stack?: { brokers: string; redisUrl: string; env?: Record<string, string> };
}): Promise<LocalFleet> {
  const say = options.log ?? (() => {});
  const given = options.stack;
  const hadStack = given !== undefined || readStackState() !== undefined;
  if (!given)
    say(hadStack ? "using the running local stack" : "starting the local stack (Kafka broker + redis-server) …");
  const stack = given ?? (await stackUp(undefined, say));
  const env: Record<string, string> = {
    ...given?.env,
    KAFKA_BROKERS: stack.brokers,
    REDIS_URL: stack.redisUrl,
    RECFLEET_NAMESPACE: options.namespace,
    // A fresh secret per fleet: its pseudonyms cannot be linked to any other run's.
    RECFLEET_PSEUDONYM_SECRET: randomBytes(24).toString("hex"),
    // Crypto-shredding on, as a production fleet with a master key runs (docs/privacy.md).
    RECFLEET_MASTER_KEY: randomBytes(32).toString("hex"),
    ...DEMO_FLEET_ENV,
    ...options.env,
  };
  const workers: RunningWorker[] = [];
  const stop = async () => {
    await stopWorkers(workers);
    if (!hadStack && !options.keepStack) await stackDown(undefined, say);
  };
  try {
    for (const name of ["ingest", "features", "trainer", "scorer"] as const)
      workers.push(await startWorker(name, env, options.logDir));
    await Promise.all(workers.map((w) => waitReady(w)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { brokers: stack.brokers, redisUrl: stack.redisUrl, namespace: options.namespace, env, workers, stop };
}

/**
 * Trains on everything the fleet has been sent so far and waits until the scorer serves the
 * result: waits for ingest to catch up (consumer lag 0: every event is then on `events`, where the
 * training run reads its window), runs one training job
 * (`recfleet train --wait`), then waits for the scorer's model_info metric to name the version.
 * Makes simulations reproducible: the model changes at fixed steps, not at wall-clock times.
 */
export async function retrainAndServe(fleet: LocalFleet, timeoutMs = 300_000): Promise<string | undefined> {
  const logger = createLogger("fleet", { level: "error" });
  const kafka = createKafka({ brokers: [fleet.brokers], clientId: "recfleet-retrain", logger });
  const topics = topicNames(fleet.namespace);
  await waitFor(
    "ingest to catch up",
    async () => (await groupLag(kafka, consumerGroupId(fleet.namespace, "ingest"), topics.clickstream)) === 0,
    timeoutMs,
    100,
  );
  const lines: string[] = [];
  const code = await runTrainCli(
    ["--wait", "--timeout", `${Math.round(timeoutMs / 1000)}s`],
    { ...process.env, ...fleet.env },
    (line) => void lines.push(line),
  );
  if (code !== 0) throw new Error(`training failed (exit ${code}): ${lines.join(" ").slice(0, 500)}`);
  const outcome = JSON.parse(lines[lines.length - 1] ?? "{}") as { status?: string; version?: string };
  const redis = new Redis(fleet.redisUrl);
  try {
    const version = await createModelRegistry(redis, fleet.namespace).currentVersion();
    const scorer = fleet.workers.find((w) => w.name === "scorer");
    if (version && scorer)
      await waitFor(
        `the scorer to serve ${version}`,
        async () => (await scrapeMetric(scorer, "recfleet_scorer_model_info", { version })) === 1,
        timeoutMs,
        100,
      );
    return outcome.status === "promoted" ? version : undefined;
  } finally {
    redis.disconnect();
  }
}

export interface FleetSimulationSettings {
  seed: number;
  steps: number;
  requestsPerStep: number;
  split: { policy: string; weight: number }[];
  /** "balanced": arms take turns request by request (equal arms); default: by user hash. */
  assignment?: "user-hash" | "balanced";
  stepMs: number;
  retrainEvery: number;
  outDir: string;
  onProgress: (line: string) => void;
  progressEvery: number;
}

/**
 * The closed-loop simulator on a local fleet with the project's world settings: organic
 * warm-up, a first model trained on it, then retraining every `retrainEvery` steps.
 */
export async function simulateOnFleet(
  fleet: LocalFleet,
  settings: FleetSimulationSettings,
): Promise<FleetSimulationReport> {
  const redis = new Redis(fleet.redisUrl);
  try {
    const registry = createModelRegistry(redis, fleet.namespace);
    return await runFleetSimulation({
      brokers: [fleet.brokers],
      namespace: fleet.namespace,
      logger: createLogger("simulator", { level: "warn" }),
      seed: settings.seed,
      steps: settings.steps,
      requestsPerStep: settings.requestsPerStep,
      k: 5,
      split: settings.split,
      ...(settings.assignment ? { assignment: settings.assignment } : {}),
      warmupEventsPerUser: 12,
      organicEventsPerNewItem: 3,
      answerTimeoutMs: 15_000,
      minStepMs: settings.stepMs,
      retrainEvery: settings.retrainEvery,
      retrain: () => retrainAndServe(fleet),
      waitForModel: async () => {
        await retrainAndServe(fleet);
        return waitFor(
          "the trainer to promote a first model",
          async () => (await registry.currentVersion()) ?? false,
          300_000,
          500,
        );
      },
      outDir: settings.outDir,
      onProgress: settings.onProgress,
      progressEvery: settings.progressEvery,
    });
  } finally {
    redis.disconnect();
  }
}

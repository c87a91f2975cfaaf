/**
 * Helpers for test/e2e/fleet.test.ts: the whole fleet (ingest, features, trainer, scorer) run as
 * child processes — the same `main.ts` a user starts — against the test run's Kafka and Redis,
 * one namespace per scenario. Everything here talks to the fleet only through Kafka topics,
 * Redis, the trainer's CLI and the workers' /metrics.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createLogger } from "@recfleet/runtime";
import {
  topicNames,
  type ClickstreamEvent,
  type RecRequest,
  type Recommendation,
  type TopicNames,
} from "@recfleet/contracts";
import {
  applyFleetAcls,
  createKafka,
  createProducer,
  ensureFleetTopics,
  kafkaSecurity,
  readTopic,
  type BusProducer,
  type Kafka,
} from "@recfleet/bus";
import { createModelRegistry, newRedisClient } from "@recfleet/store";
import { runTrainCli } from "@recfleet/trainer";
import { uniqueName, waitFor, type TestInfra } from "@recfleet/testkit";
import { waitForPortFile } from "@recfleet/stack";
import { runKeysCli } from "@recfleet/gateway";
import { startWorker, scrapeMetric, stopWorkers, type RunningWorker, type WorkerName } from "@recfleet/cli";

export const WORKERS: readonly WorkerName[] = ["ingest", "features", "trainer", "scorer"];

export interface Fleet {
  namespace: string;
  topics: TopicNames;
  /** The env every worker (and the trainer CLI) got. */
  env: Record<string, string>;
  logDir: string;
  kafka: Kafka;
  producer: BusProducer;
  redis: Redis;
  worker(name: WorkerName): RunningWorker;
  /** Where to look when something failed: one line per worker log. */
  describeLogs(): string;
  /** SIGTERM to every worker; the log folder is removed unless `keepLogs` (after a failure). */
  stop(options?: { keepLogs?: boolean }): Promise<void>;
}

/** One poll loop for all workers: resolves when every /readyz answers 200, throws as soon as one exits (by code or signal). */
async function waitFleetReady(workers: readonly RunningWorker[], timeoutMs: number): Promise<void> {
  await waitFor(
    "every worker to be ready",
    async () => {
      const dead = workers.find((w) => w.process.exitCode !== null || w.process.signalCode !== null);
      if (dead)
        throw new Error(
          `${dead.name} exited (code ${dead.process.exitCode}, signal ${dead.process.signalCode}); see ${dead.logPath}`,
        );
      const ready = await Promise.all(
        workers.map(
          async (w) => (await fetch(`http://127.0.0.1:${w.metricsPort}/readyz`).catch(() => undefined))?.status === 200,
        ),
      );
      return ready.every(Boolean);
    },
    timeoutMs,
    250,
  );
}

/**
 * Starts the four workers in a fresh namespace with a fresh pseudonym secret and waits for
 * their /readyz. `extraEnv` overrides the defaults (small, quick training; CPU only).
 */
export async function startFleet(
  infra: TestInfra,
  label: string,
  extraEnv: Record<string, string> = {},
  options: {
    /** Settings of one worker on top of the shared env (e.g. its own Redis ACL user), made before it starts. */
    workerEnv?: (worker: WorkerName, namespace: string) => Promise<Record<string, string>>;
    /** How long each worker may take to open its metrics port (default startWorker's 60 s). */
    portTimeoutMs?: number;
  } = {},
): Promise<Fleet> {
  const namespace = uniqueName(label);
  const logDir = mkdtempSync(join(tmpdir(), `recfleet-e2e-${label}-`));
  const env: Record<string, string> = {
    // KAFKA_BROKERS, REDIS_URL and, on a secured stack, TLS and SASL settings.
    ...infra.env,
    RECFLEET_NAMESPACE: namespace,
    // A fresh secret per fleet: its pseudonyms cannot be linked to any other run.
    RECFLEET_PSEUDONYM_SECRET: randomBytes(24).toString("hex"),
    // Crypto-shredding on, as a production fleet with a master key runs (docs/privacy.md).
    RECFLEET_MASTER_KEY: randomBytes(32).toString("hex"),
    RECFLEET_TOPIC_PARTITIONS: "4",
    // Training only when the test asks for it (runTrainCli), so the test knows which data it saw.
    TRAIN_INTERVAL: "0",
    TRAIN_EPOCHS: "2",
    TRAIN_MIN_EVENTS: "100",
    EMBED_SHARD_SIZE: "500",
    MODEL_POLL_INTERVAL: "500ms",
    // CPU only: the CUDA fallback is covered elsewhere and would only add warnings to the logs.
    EXECUTION_PROVIDERS: "cpu",
    SHUTDOWN_DEADLINE: "10s",
    LOG_LEVEL: "info",
    ...extraEnv,
  };
  const workers: RunningWorker[] = [];
  const logger = createLogger(`e2e-${label}`, { level: "error" });
  const kafka = createKafka({
    brokers: infra.brokers,
    clientId: `e2e-${label}`,
    logger,
    security: kafkaSecurity(infra.connection),
  });
  const redis = newRedisClient(infra.connection, {});
  // On a secured stack (npm test -- --secured) each worker is its own Kafka principal, held to
  // the ACLs the topic catalog implies for this namespace.
  const principals = process.env.RECFLEET_TEST_KAFKA_PASSWORDS
    ? (JSON.parse(process.env.RECFLEET_TEST_KAFKA_PASSWORDS) as Record<string, string>)
    : undefined;
  const describeLogs = () =>
    `worker logs of ${namespace} in ${logDir}:\n${WORKERS.map((n) => `  ${join(logDir, `${n}.log`)}`).join("\n")}`;
  let producer: BusProducer | undefined;
  try {
    // Created before the workers start, so none of them races the others to create them.
    await ensureFleetTopics(kafka, namespace, { partitions: Number(env.RECFLEET_TOPIC_PARTITIONS) });
    if (principals) await applyFleetAcls(kafka, namespace, (writer) => writer);
    for (const name of WORKERS) {
      const own = {
        ...(principals?.[name] ? { KAFKA_SASL_USERNAME: name, KAFKA_SASL_PASSWORD: principals[name] } : {}),
        ...(options.workerEnv ? await options.workerEnv(name, namespace) : {}),
      };
      workers.push(await startWorker(name, { ...env, ...own }, logDir, 0, options.portTimeoutMs));
    }
    // Not cli's waitReady per worker: it misses a worker killed by a signal and would poll on for its whole timeout.
    await waitFleetReady(workers, 120_000);
    producer = await createProducer(kafka);
  } catch (err) {
    console.error(`# fleet ${namespace} failed to start; ${describeLogs()}`);
    await stopWorkers(workers);
    redis.disconnect();
    throw err;
  }
  const p = producer;
  return {
    namespace,
    topics: topicNames(namespace),
    env,
    logDir,
    kafka,
    producer: p,
    redis,
    worker: (name) => workers.find((w) => w.name === name)!,
    describeLogs,
    async stop(options = {}) {
      await p.close().catch(() => undefined);
      await stopWorkers(workers);
      redis.disconnect();
      // On a secured stack no worker may have logged a password (Kafka principals' or Redis').
      const secrets = principals
        ? [...Object.values(principals), decodeURIComponent(new URL(infra.redisUrl).password)].filter((x) => x)
        : [];
      const leaked = workers.filter((w) => secrets.some((secret) => readFileSync(w.logPath, "utf8").includes(secret)));
      if (!options.keepLogs && leaked.length === 0) rmSync(logDir, { recursive: true, force: true });
      if (leaked.length > 0)
        throw new Error(`a password appears in the logs of ${leaked.map((w) => w.logPath).join(", ")}`);
    },
  };
}

/** Produces raw clickstream events keyed by the raw user id (one user's events stay ordered), in chunks. */
export async function produceClickstream(
  fleet: Fleet,
  events: readonly ClickstreamEvent[],
  chunk = 500,
): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    await fleet.producer.send(
      fleet.topics.clickstream,
      events.slice(i, i + chunk).map((e) => ({ key: e.userId, value: e })),
    );
  }
}

/**
 * Waits until features applied `n` events. They are then on `events` (features reads them from
 * there), which is where a training run reads its window: training sees all of them.
 */
export async function waitForEvents(fleet: Fleet, n: number, timeoutMs = 120_000): Promise<void> {
  const features = fleet.worker("features");
  await waitFor(
    `features to apply ${n} events`,
    async () => (await scrapeMetric(features, "recfleet_features_events_total", { outcome: "applied" })) >= n,
    timeoutMs,
    250,
  );
}

export interface Promotion {
  version: string;
  /** The trainer's outcome line, for the test log. */
  outcome: Record<string, unknown>;
}

/** `recfleet train --wait` against the fleet; returns the promoted version once the scorer serves it. */
export async function trainAndPromote(fleet: Fleet, timeout = "4m"): Promise<Promotion> {
  const lines: string[] = [];
  const code = await runTrainCli(["--wait", "--timeout", timeout], fleet.env, (line) => lines.push(line));
  const outcome = JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
  if (code !== 0 || outcome.status !== "promoted" || typeof outcome.version !== "string") {
    throw new Error(`training did not promote a model (exit ${code}): ${lines.join("\n")}`);
  }
  const version = outcome.version;
  const current = await createModelRegistry(fleet.redis, fleet.namespace).currentVersion();
  if (current !== version)
    throw new Error(`the registry's current version is ${current}, the trainer reported ${version}`);
  await waitFor(
    `the scorer to serve ${version}`,
    async () => (await scrapeMetric(fleet.worker("scorer"), "recfleet_scorer_model_info", { version })) === 1,
    60_000,
    250,
  );
  return { version, outcome };
}

/** Sends the requests to rec.requests (keyed by raw user id) and returns the answers by requestId (the last answer wins). */
export async function requestRecommendations(
  fleet: Fleet,
  requests: readonly RecRequest[],
  timeoutMs = 60_000,
): Promise<Map<string, Recommendation>> {
  await fleet.producer.send(
    fleet.topics.recRequests,
    requests.map((r) => ({ key: r.userId ?? r.user ?? r.requestId, value: r })),
  );
  const wanted = new Set(requests.map((r) => r.requestId));
  const answers = new Map<string, Recommendation>();
  let read = 0;
  await readTopic(fleet.kafka, fleet.topics.recommendations, {
    until: (records) => {
      for (; read < records.length; read++) {
        const value = records[read]!.value;
        if (!value) continue;
        const rec = JSON.parse(value.toString("utf8")) as Recommendation;
        if (wanted.has(rec.requestId)) answers.set(rec.requestId, rec);
      }
      return answers.size >= wanted.size;
    },
    timeoutMs,
  });
  return answers;
}

/** A small deterministic PRNG so a failure reproduces. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

export interface RunningGateway {
  worker: RunningWorker;
  /** The API's base URL. */
  url: string;
  /** An API key with every scope, from `recfleet keys create`. */
  adminKey: string;
}

/**
 * Starts services/gateway as a child process against the fleet (console targets: every worker's
 * metrics endpoint) and creates an admin key with the keys CLI.
 */
export async function startGateway(
  fleet: Fleet,
  extraEnv: Record<string, string> = {},
  instance = 0,
): Promise<RunningGateway> {
  const portFile = join(fleet.logDir, `gateway-api-${instance}.port`);
  const targets = WORKERS.map((name) => `${name}=http://127.0.0.1:${fleet.worker(name).metricsPort}`).join(",");
  const env = {
    ...fleet.env,
    GATEWAY_PORT: "0",
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_PORT_FILE: portFile,
    GATEWAY_CONSOLE_TARGETS: targets,
    ...extraEnv,
  };
  const worker = await startWorker("gateway", env, fleet.logDir, instance);
  const port = await waitForPortFile(portFile, worker.process);
  await waitFor(
    `the gateway to be ready (log: ${worker.logPath})`,
    async () => (await fetch(`http://127.0.0.1:${worker.metricsPort}/readyz`).catch(() => undefined))?.status === 200,
    60_000,
    250,
  );
  const lines: string[] = [];
  const code = await runKeysCli(
    [
      "create",
      "--name",
      `e2e-${instance}`,
      "--scope",
      "admin,events:write,recs:read",
      "--rate",
      "10000",
      "--burst",
      "10000",
    ],
    fleet.env,
    (l) => lines.push(l),
  );
  if (code !== 0) throw new Error(`keys create exited ${code}: ${lines.join("\n")}`);
  const adminKey = (JSON.parse(lines[0]!) as { key: string }).key;
  return { worker, url: `http://127.0.0.1:${port}`, adminKey };
}

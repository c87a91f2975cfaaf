/**
 * INGEST-THROUGHPUT (docs: BENCHMARKS.md): sustained events/s from `clickstream` through ingest
 * (validate, dedupe, pseudonymise, produce) and features (one Lua update per batch) into
 * Redis, next to a bare pass-through (consume → produce, same consumer and producer settings)
 * in the same run (once before ours and once after; the mean of the two counts). Both read a
 * pre-loaded topic of the same messages; each clock runs from the moment the first fetched batch
 * reaches a handler to the last effect. Checks lost = 0 and double counts = 0 from Redis (the
 * popularity every event adds once), and logs the CPU seconds each process used while its clock ran.
 *
 *   node --import tsx bench/ingest-throughput.ts            (starts its own Kafka + Redis)
 *   KAFKA_BROKERS=… REDIS_URL=… node --import tsx bench/ingest-throughput.ts
 *   BENCH_EVENTS=200000 BENCH_PARTITIONS=4 BENCH_DUPLICATE_RATE=0.02 BENCH_DUPLICATE_WINDOW=1000
 *   (a duplicate copies one of the last BENCH_DUPLICATE_WINDOW events, as an app's resend would)
 *   BENCH_TS_ORDER=per-user (default: each user's events come in time order over 30 minutes, except
 *   BENCH_LATE_RATE=0.05 of them, which arrive up to BENCH_LATE_MS=300000 late, as from an app's
 *   offline buffer) | shuffled (any time in the last 30 minutes: a user's events in random order)
 *   BENCH_MODE=processes (default: ingest and features each in its own process, as deployed)
 *   BENCH_MODE=inprocess (both workers inside this one process)
 *   BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (node flags for the worker processes)
 *   BENCH_ENCRYPTION=off|on|both (crypto-shredding: RECFLEET_MASTER_KEY set for the workers; both = a plain
 *   and an encrypted pass of ours in the same run, between the two pass-throughs, and their ratio)
 *   KAFKA_COMPRESSION=lz4|gzip|snappy|none (the codec of every producer: loader, pass-through and the workers)
 *   BENCH_MAX_BYTES_PER_PARTITION=262144 BENCH_CONCURRENCY=4 (applied to the pass-through and both workers alike;
 *   4 is the workers' default INGEST_CONCURRENCY / FEATURES_CONCURRENCY)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig } from "@recfleet/runtime";
import { topicNames, EVENT_TYPES } from "@recfleet/contracts";
import {
  createKafka,
  createProducer,
  ensureFleetTopics,
  ensureTopics,
  startConsumerLoop,
  type OutgoingMessage,
} from "@recfleet/bus";
import { startStack, waitForPortFile, type Stack } from "@recfleet/stack";
import { uniqueName } from "@recfleet/testkit";
import { createStore } from "@recfleet/store";
import { ingestConfigSchema, startIngestWorker } from "@recfleet/ingest";
import { featuresConfigSchema, startFeaturesWorker } from "@recfleet/features";

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const DUP_RATE = Number(process.env.BENCH_DUPLICATE_RATE ?? 0.02);
const DUP_WINDOW = Number(process.env.BENCH_DUPLICATE_WINDOW ?? 1000);
const TS_ORDER = process.env.BENCH_TS_ORDER ?? "per-user";
const LATE_RATE = Number(process.env.BENCH_LATE_RATE ?? 0.05);
const LATE_MS = Number(process.env.BENCH_LATE_MS ?? 300_000);
if (TS_ORDER !== "per-user" && TS_ORDER !== "shuffled")
  throw new Error(`BENCH_TS_ORDER: per-user or shuffled, got ${TS_ORDER}`);
const USERS = 5000;
const ITEMS = 2000;
const SECRET = "bench-pseudonym-secret-0123456789";
const MODE = process.env.BENCH_MODE ?? "processes";
// The codec of every producer here, as the workers read it (KAFKA_COMPRESSION): loader, pass-through, ours.
const COMPRESSION = loadConfig(commonConfigSchema, process.env).kafkaCompression;
/** Fetch size per partition for every consumer here (compressed bytes: gzip makes 256 KiB several thousand events). */
const MAX_BYTES = Number(process.env.BENCH_MAX_BYTES_PER_PARTITION ?? 262_144);
/** Partitions each consumer processes at once (kafkajs partitionsConsumedConcurrently), the same for all. */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
/** Extra node flags for the worker processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"); processes mode only. */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0);
const log = (line: string) => console.log(`# ${line}`);
const ENCRYPTION = process.env.BENCH_ENCRYPTION ?? "off";
if (!["off", "on", "both"].includes(ENCRYPTION)) throw new RangeError(`BENCH_ENCRYPTION must be off, on or both`);
const VARIANTS: ("off" | "on")[] = ENCRYPTION === "both" ? ["off", "on"] : [ENCRYPTION as "off" | "on"];
const MASTER_KEY = "42".repeat(32);

/** Sum of a counter's samples with outcome=… from a Prometheus text page. */
function fromText(text: string, name: string, outcome: string): number {
  let sum = 0;
  for (const line of text.split("\n"))
    if (line.startsWith(`${name}{`) && line.includes(`outcome="${outcome}"`))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}

/** A gauge's value (no labels) from a Prometheus text page; 0 when absent. */
function gaugeFromText(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Where the CPU went during a timed window: seconds per named process. */
function cpuMeter(pids: Record<string, number | undefined>): () => string {
  const named = Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined);
  const start = named.map(([, pid]) => cpuSeconds(pid));
  return () => named.map(([name, pid], i) => `${name} ${(cpuSeconds(pid) - start[i]!).toFixed(2)}`).join(", ");
}

let stack: Stack | undefined;
if (!(process.env.KAFKA_BROKERS && process.env.REDIS_URL)) {
  stack = await startStack({ dir: mkdtempSync(join(tmpdir(), "recfleet-bench-")), log });
}
const brokers = (process.env.KAFKA_BROKERS ?? stack!.brokers).split(",");
const redisUrl = process.env.REDIS_URL ?? stack!.redisUrl;
const logger = createLogger("bench", { level: "error" });
const kafka = createKafka({ brokers, clientId: "bench", logger });
const redis = new Redis(redisUrl);

try {
  // The input: N distinct valid events plus exact duplicates, keyed by raw user id as an app would.
  const now = Date.now();
  let seed = 1;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const distinct: OutgoingMessage[] = [];
  const distinctTs: number[] = [];
  for (let i = 0; i < N; i++) {
    const userId = `user-${Math.floor(rand() * USERS)}@example.com`;
    const e = {
      eventId: `ev-${i}`,
      userId,
      itemId: `item-${Math.floor(rand() ** 2 * ITEMS)}`,
      type: EVENT_TYPES[Math.floor(rand() * 4)],
      ts:
        TS_ORDER === "shuffled"
          ? now - Math.floor(rand() * 30 * 60_000)
          : now -
            30 * 60_000 +
            Math.floor((i / N) * 30 * 60_000) -
            (rand() < LATE_RATE ? Math.floor(rand() * LATE_MS) : 0),
    };
    distinct.push({ key: userId, value: JSON.stringify(e) });
    distinctTs.push(e.ts);
  }
  // An app's duplicate is a resend of something it sent shortly before (a retry after a timeout):
  // a copy of one of the last DUP_WINDOW events. The fleet's duplicate filters keep the newest
  // RECFLEET_DEDUPE_CAPACITY (20,000) fingerprints per partition, so a copy sent much later is not
  // caught by design (docs/architecture.md); a window beyond that shows it as double counts.
  const input: OutgoingMessage[] = [];
  for (const [i, m] of distinct.entries()) {
    input.push(m);
    if (rand() < DUP_RATE) input.push(distinct[Math.max(0, i - Math.floor(rand() * DUP_WINDOW))]!);
  }
  const duplicates = input.length - N;
  const ns = uniqueName("bench");
  // One namespace per variant of ours (plain, encrypted), each with the same pre-loaded clickstream.
  const namespaces = VARIANTS.map((v) => (v === VARIANTS[0] ? ns : uniqueName("bench")));
  const baseIn = `${ns}.passthrough.in`;
  const baseOut = `${ns}.passthrough.out`;
  await ensureTopics(kafka, [
    { topic: baseIn, partitions: PARTITIONS },
    { topic: baseOut, partitions: PARTITIONS },
    { topic: `${baseIn}.dlq`, partitions: 1 },
  ]);
  for (const n of namespaces) await ensureFleetTopics(kafka, n, { partitions: PARTITIONS });
  const loader = await createProducer(kafka, { compression: COMPRESSION });
  const loadStart = performance.now();
  for (const topic of [baseIn, ...namespaces.map((n) => topicNames(n).clickstream)])
    for (let i = 0; i < input.length; i += 5000) await loader.send(topic, input.slice(i, i + 5000));
  await loader.close();
  log(
    `pre-loaded ${input.length} messages (${N} distinct, ${duplicates} duplicates) into ${1 + namespaces.length} topics × ${PARTITIONS} partitions in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
  );

  // Baseline: consume → produce the same bytes, through packages/bus, same batching. It runs once
  // before and once after ours (a fresh group each time), and the mean of the two times counts:
  // on a shared machine the load drifts, and this keeps the drift from landing on one side.
  const passThrough = async (round: number): Promise<number> => {
    const baseProducer = await createProducer(kafka, { compression: COMPRESSION });
    let passed = 0;
    let baseFirst = 0;
    let baseLast = 0;
    let baseCpu = (): string => "";
    const baseLoop = await startConsumerLoop<Buffer | null>({
      kafka,
      groupId: `${ns}.passthrough.${round}`,
      topics: [baseIn],
      deadLetterTopic: `${baseIn}.dlq`,
      producer: baseProducer,
      logger,
      registry: createMetricsRegistry(`bench-base-${round}`),
      maxBytesPerPartition: MAX_BYTES,
      partitionsConsumedConcurrently: CONCURRENCY,
      decode: (value) => ({ ok: true, value }),
      handleBatch: async (messages) => {
        if (!baseFirst) {
          baseFirst = performance.now();
          baseCpu = cpuMeter({ bench: process.pid, kafka: stack?.pids.kafka, redis: stack?.pids.redis });
        }
        await baseProducer.send(
          baseOut,
          messages.map((m) => ({ key: m.key, value: m.value ?? Buffer.alloc(0) })),
        );
        passed += messages.length;
        baseLast = performance.now();
      },
    });
    while (passed < input.length) await sleep(20);
    const baseCpuUsed = baseCpu();
    await baseLoop.stop();
    await baseProducer.close();
    const seconds = (baseLast - baseFirst) / 1000;
    log(
      `pass-through (${round === 1 ? "before" : "after"} ours): ${input.length} messages in ${seconds.toFixed(2)} s = ${Math.round(input.length / seconds)} msg/s (CPU s: ${baseCpuUsed})`,
    );
    return seconds;
  };
  const baseSecondsBefore = await passThrough(1);

  const runOurs = async (ns: string, encryption: "off" | "on") => {
    // recfleet: ingest + features, in this process, on the same stack. Every event type weighs 1
    // so that the popularity in Redis counts events (see the lost / double counts check).
    const env = {
      FEATURES_EVENT_WEIGHTS: EVENT_TYPES.map((t) => `${t}:1`).join(","),
      KAFKA_BROKERS: brokers.join(","),
      REDIS_URL: redisUrl,
      RECFLEET_NAMESPACE: ns,
      ...(encryption === "on" ? { RECFLEET_MASTER_KEY: MASTER_KEY } : {}),
      RECFLEET_PSEUDONYM_SECRET: SECRET,
      RECFLEET_TOPIC_PARTITIONS: String(PARTITIONS),
      INGEST_MAX_BYTES_PER_PARTITION: String(MAX_BYTES),
      FEATURES_MAX_BYTES_PER_PARTITION: String(MAX_BYTES),
      INGEST_CONCURRENCY: String(CONCURRENCY),
      FEATURES_CONCURRENCY: String(CONCURRENCY),
    };
    let stopWorkers: () => Promise<void>;
    const workerPids: Record<string, number | undefined> = {};
    /** Each worker's /metrics page (Prometheus text), however it runs. */
    const metricPages: Record<string, () => Promise<string>> = {};
    if (MODE === "inprocess") {
      const ingestRegistry = createMetricsRegistry("bench-ingest");
      const featuresRegistry = createMetricsRegistry("bench-features");
      const features = await startFeaturesWorker(
        { ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) },
        { logger, registry: featuresRegistry },
      );
      const ingest = await startIngestWorker(
        { ...loadConfig(commonConfigSchema, env), ...loadConfig(ingestConfigSchema, env) },
        { logger, registry: ingestRegistry },
      );
      metricPages.ingest = () => ingestRegistry.metrics();
      metricPages.features = () => featuresRegistry.metrics();
      stopWorkers = async () => {
        await ingest.stop();
        await features.stop();
      };
    } else {
      const children: ChildProcess[] = [];
      const start = async (service: string) => {
        const portFile = join(mkdtempSync(join(tmpdir(), "recfleet-bench-")), `${service}.port`);
        const main = fileURLToPath(new URL(`../services/${service}/src/main.ts`, import.meta.url));
        const child = spawn(process.execPath, [...WORKER_NODE_ARGS, "--import", "tsx", main], {
          env: { ...process.env, ...env, METRICS_PORT: "0", METRICS_PORT_FILE: portFile, LOG_LEVEL: "error" },
          stdio: ["ignore", "ignore", "inherit"],
        });
        children.push(child);
        workerPids[service] = child.pid;
        const port = await waitForPortFile(portFile, child);
        metricPages[service] = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      };
      await start("features");
      await start("ingest");
      stopWorkers = async () => {
        await Promise.all(children.map((c) => new Promise((r) => (c.once("exit", r), c.kill("SIGTERM")))));
      };
    }
    // Our clock starts where the baseline's does: when the first fetched batch reaches the handler
    // (ingest reports batches in flight; counters only move once a batch is done).
    let first = 0;
    let last = 0;
    let ingestDone = 0;
    let cpu = (): string => "";
    const ingestOutcome = (text: string, o: string) => fromText(text, "recfleet_ingest_events_total", o);
    let ingestPolled = 0;
    for (;;) {
      // Until the clock starts ingest's page is polled every 5 ms; after that only every 250 ms, for
      // the "ingest done after" figure: rendering a worker's /metrics page 40 times a second took
      // ~5% of ingest's CPU in the profile (deployed, Prometheus scrapes it every 15 s or so).
      if (!first || (!ingestDone && performance.now() - ingestPolled >= 250)) {
        ingestPolled = performance.now();
        const page = await metricPages.ingest!();
        const handled = ingestOutcome(page, "new") + ingestOutcome(page, "duplicate") + ingestOutcome(page, "replay");
        if (!first && (gaugeFromText(page, "recfleet_ingest_batches_in_flight") > 0 || handled > 0)) {
          first = performance.now();
          cpu = cpuMeter({ ...workerPids, bench: process.pid, kafka: stack?.pids.kafka, redis: stack?.pids.redis });
        }
        if (handled >= input.length) ingestDone = performance.now();
      }
      if (!first) {
        await sleep(5);
        continue;
      }
      const applied = fromText(await metricPages.features!(), "recfleet_features_events_total", "applied");
      if (applied >= N) {
        last = performance.now();
        break;
      }
      // Each poll renders a worker's whole /metrics page: poll often enough for a ±1% clock, no more.
      await sleep(25);
    }
    const cpuUsed = cpu();
    for (const [service, page] of Object.entries(metricPages)) {
      const text = await page();
      const sample = (name: string) =>
        text
          .split("\n")
          .filter((l) => l.startsWith(name))
          .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
      const batches = sample("recfleet_consumer_batch_seconds_count");
      const messages = sample("recfleet_consumer_messages_total");
      log(
        `${service}: ${batches} batches, ${Math.round(messages / batches)} messages per batch, ${((1000 * sample("recfleet_consumer_batch_seconds_sum")) / batches).toFixed(1)} ms per batch`,
      );
    }
    const dropped = ingestOutcome(await metricPages.ingest!(), "duplicate");
    await stopWorkers();
    const seconds = (last - first) / 1000;
    const rate = input.length / seconds;
    log(
      `ingest + features (${MODE}, encryption ${encryption}): ${input.length} messages (${N} distinct) in ${seconds.toFixed(2)} s = ${Math.round(rate)} msg/s (ingest done after ${((ingestDone - first) / 1000).toFixed(2)} s; CPU s: ${cpuUsed})`,
    );

    // Lost and double counts, from Redis: every distinct event adds its weight 1 decayed to now,
    // 2^((ts − now)/half-life) in (0.98, 1] for these times, to its item's popularity, once. So the
    // difference from the expected sum, rounded, counts events (missing or applied twice).
    const store = createStore(redis, ns);
    const halfLife = store.options.popularityHalfLifeMs;
    const expected = distinctTs.reduce((sum, ts) => sum + 2 ** ((ts - now) / halfLife), 0);
    const total = (await store.readPopularItems(ITEMS, now)).reduce((sum, p) => sum + p.score, 0);
    const lost = Math.max(0, Math.round(expected - total));
    const doubleCounts = Math.max(0, Math.round(total - expected));
    log(
      `Redis holds popularity ${total.toFixed(3)} for ${N} distinct events (expected ${expected.toFixed(3)}); ingest dropped ${dropped} duplicates of ${duplicates} sent`,
    );
    if (lost !== 0 || doubleCounts !== 0 || dropped !== duplicates) process.exitCode = 1;
    return { rate, lost, doubleCounts, dropped };
  };
  const ours: Record<string, { rate: number; lost: number; doubleCounts: number; dropped: number }> = {};
  for (const [i, v] of VARIANTS.entries()) ours[v] = await runOurs(namespaces[i]!, v);
  const baseSecondsAfter = await passThrough(2);
  const baselineRate = input.length / ((baseSecondsBefore + baseSecondsAfter) / 2);
  const main = ours[VARIANTS[0]!]!;
  const encrypted = ours.on;
  console.log(
    JSON.stringify({
      bench: "INGEST-THROUGHPUT",
      encryption: ENCRYPTION,
      events_per_s: Math.round(main.rate),
      baseline_events_per_s: Math.round(baselineRate),
      ratio: Number((main.rate / baselineRate).toFixed(3)),
      ...(encrypted && ENCRYPTION === "both"
        ? {
            encrypted_events_per_s: Math.round(encrypted.rate),
            encrypted_ratio: Number((encrypted.rate / baselineRate).toFixed(3)),
            encrypted_vs_plain: Number((encrypted.rate / main.rate).toFixed(3)),
          }
        : {}),
      lost: Object.values(ours).reduce((a, o) => a + o.lost, 0),
      double_counts: Object.values(ours).reduce((a, o) => a + o.doubleCounts, 0),
      events: input.length,
      distinct: N,
      duplicates_dropped: main.dropped,
      partitions: PARTITIONS,
      ts_order: TS_ORDER,
      ...(TS_ORDER === "per-user" ? { late_rate: LATE_RATE } : {}),
      mode: MODE,
      max_bytes_per_partition: MAX_BYTES,
      concurrency: CONCURRENCY,
      baseline_seconds: [Number(baseSecondsBefore.toFixed(2)), Number(baseSecondsAfter.toFixed(2))],
    }),
  );
} finally {
  redis.disconnect();
  await stack?.stop();
}

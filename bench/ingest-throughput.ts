/**
 * INGEST-THROUGHPUT (docs: BENCHMARKS.md): sustained events/s from `clickstream` through ingest
 * (validate, dedupe, pseudonymise, produce) and features (one Lua update per batch) into
 * Redis, next to a bare pass-through (consume → produce, same consumer and producer settings)
 * in the same run. Both read a pre-loaded topic of the same messages; the clock runs from the
 * first consumed batch to the last effect. Checks lost = 0 and double counts = 0 from Redis.
 *
 *   node --import tsx bench/ingest-throughput.ts            (starts its own Kafka + Redis)
 *   KAFKA_BROKERS=… REDIS_URL=… node --import tsx bench/ingest-throughput.ts
 *   BENCH_EVENTS=200000 BENCH_PARTITIONS=4 BENCH_DUPLICATE_RATE=0.02
 *   BENCH_MODE=processes (default: ingest and features each in its own process, as deployed)
 *   BENCH_MODE=inprocess (both workers inside this one process)
 *   BENCH_MAX_BYTES_PER_PARTITION=262144 BENCH_CONCURRENCY=1 (applied to the pass-through and both workers alike)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import { topicNames, EVENT_TYPES } from "@recfleet/contracts";
import { createKafka, createProducer, ensureTopics, startConsumerLoop, type OutgoingMessage } from "@recfleet/bus";
import { startStack, uniqueName, freePort, waitForPort, type Stack } from "@recfleet/testkit";
import { createStore, pseudonymise } from "@recfleet/store";
import { ingestConfigSchema, startIngestWorker } from "@recfleet/ingest";
import { featuresConfigSchema, startFeaturesWorker } from "@recfleet/features";

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
const DUP_RATE = Number(process.env.BENCH_DUPLICATE_RATE ?? 0.02);
const USERS = 5000;
const ITEMS = 2000;
const SECRET = "bench-pseudonym-secret-0123456789";
const MODE = process.env.BENCH_MODE ?? "processes";
/** Fetch size per partition for every consumer here (compressed bytes: gzip makes 256 KiB several thousand events). */
const MAX_BYTES = Number(process.env.BENCH_MAX_BYTES_PER_PARTITION ?? 262_144);
/** Partitions each consumer processes at once (kafkajs partitionsConsumedConcurrently), the same for all. */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);
const log = (line: string) => console.log(`# ${line}`);

/** Sum of a counter's samples with outcome=… from a Prometheus text page. */
function fromText(text: string, name: string, outcome: string): number {
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}{`) && line.includes(`outcome="${outcome}"`)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
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

async function counter(registry: Registry, name: string, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.filter((v) => v.labels.outcome === outcome).reduce((s, v) => s + v.value, 0);
}

try {
  // The input: N distinct valid events plus exact duplicates, keyed by raw user id as an app would.
  const now = Date.now();
  let seed = 1;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const distinct: OutgoingMessage[] = [];
  for (let i = 0; i < N; i++) {
    const userId = `user-${Math.floor(rand() * USERS)}@example.com`;
    const e = { eventId: `ev-${i}`, userId, itemId: `item-${Math.floor(rand() ** 2 * ITEMS)}`, type: EVENT_TYPES[Math.floor(rand() * 4)], ts: now - Math.floor(rand() * 30 * 60_000) };
    distinct.push({ key: userId, value: JSON.stringify(e) });
  }
  const input: OutgoingMessage[] = [];
  for (const m of distinct) {
    input.push(m);
    if (rand() < DUP_RATE) input.push(distinct[Math.floor(rand() * distinct.length)]!);
  }
  const duplicates = input.length - N;
  const ns = uniqueName("bench");
  const topics = topicNames(ns);
  const baseIn = `${ns}.passthrough.in`;
  const baseOut = `${ns}.passthrough.out`;
  await ensureTopics(kafka, [
    { topic: baseIn, partitions: PARTITIONS },
    { topic: baseOut, partitions: PARTITIONS },
    { topic: `${baseIn}.dlq`, partitions: 1 },
    { topic: topics.clickstream, partitions: PARTITIONS },
    { topic: topics.clickstreamDlq, partitions: PARTITIONS },
    { topic: topics.events, partitions: PARTITIONS },
    { topic: `${topics.events}.dlq`, partitions: PARTITIONS },
    { topic: topics.recRequests, partitions: PARTITIONS },
  ]);
  const loader = await createProducer(kafka);
  const loadStart = performance.now();
  for (const topic of [baseIn, topics.clickstream]) for (let i = 0; i < input.length; i += 5000) await loader.send(topic, input.slice(i, i + 5000));
  await loader.close();
  log(`pre-loaded ${input.length} messages (${N} distinct, ${duplicates} duplicates) into 2 topics × ${PARTITIONS} partitions in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);

  // Baseline: consume → produce the same bytes, through packages/bus, same batching.
  const baseProducer = await createProducer(kafka);
  let passed = 0;
  let baseFirst = 0;
  let baseLast = 0;
  const baseLoop = await startConsumerLoop<Buffer | null>({
    kafka, groupId: `${ns}.passthrough`, topics: [baseIn], deadLetterTopic: `${baseIn}.dlq`, producer: baseProducer, logger, registry: createMetricsRegistry("bench-base"),
    maxBytesPerPartition: MAX_BYTES,
    partitionsConsumedConcurrently: CONCURRENCY,
    decode: (value) => ({ ok: true, value }),
    handleBatch: async (messages) => {
      baseFirst ||= performance.now();
      await baseProducer.send(baseOut, messages.map((m) => ({ key: m.key, value: m.value ?? Buffer.alloc(0) })));
      passed += messages.length;
      baseLast = performance.now();
    },
  });
  while (passed < input.length) await new Promise((r) => setTimeout(r, 20));
  await baseLoop.stop();
  await baseProducer.close();
  const baseSeconds = (baseLast - baseFirst) / 1000;
  const baselineRate = input.length / baseSeconds;
  log(`pass-through: ${input.length} messages in ${baseSeconds.toFixed(2)} s = ${Math.round(baselineRate)} msg/s`);

  // recfleet: ingest + features, in this process, on the same stack.
  const env = { KAFKA_BROKERS: brokers.join(","), REDIS_URL: redisUrl, RECFLEET_NAMESPACE: ns, RECFLEET_PSEUDONYM_SECRET: SECRET, RECFLEET_TOPIC_PARTITIONS: String(PARTITIONS), INGEST_MAX_BYTES_PER_PARTITION: String(MAX_BYTES), FEATURES_MAX_BYTES_PER_PARTITION: String(MAX_BYTES), INGEST_CONCURRENCY: String(CONCURRENCY), FEATURES_CONCURRENCY: String(CONCURRENCY) };
  let readIngest: (outcome: string) => Promise<number>;
  let readFeatures: (outcome: string) => Promise<number>;
  let stopWorkers: () => Promise<void>;
  if (MODE === "inprocess") {
    const ingestRegistry = createMetricsRegistry("bench-ingest");
    const featuresRegistry = createMetricsRegistry("bench-features");
    const features = await startFeaturesWorker({ ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) }, { logger, registry: featuresRegistry });
    const ingest = await startIngestWorker({ ...loadConfig(commonConfigSchema, env), ...loadConfig(ingestConfigSchema, env) }, { logger, registry: ingestRegistry });
    readIngest = (o) => counter(ingestRegistry, "recfleet_ingest_events_total", o);
    readFeatures = (o) => counter(featuresRegistry, "recfleet_features_events_total", o);
    stopWorkers = async () => {
      await ingest.stop();
      await features.stop();
    };
  } else {
    const children: ChildProcess[] = [];
    const start = async (service: string) => {
      const port = await freePort();
      const main = fileURLToPath(new URL(`../services/${service}/src/main.ts`, import.meta.url));
      children.push(spawn(process.execPath, ["--import", "tsx", main], { env: { ...process.env, ...env, METRICS_PORT: String(port), LOG_LEVEL: "error" }, stdio: ["ignore", "ignore", "inherit"] }));
      await waitForPort(port, 60_000);
      return async (o: string) => fromText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), `recfleet_${service}_events_total`, o);
    };
    readFeatures = await start("features");
    readIngest = await start("ingest");
    stopWorkers = async () => {
      await Promise.all(children.map((c) => new Promise((r) => (c.once("exit", r), c.kill("SIGTERM")))));
    };
  }
  let first = 0;
  let last = 0;
  for (;;) {
    if (!first && (await readIngest("new")) + (await readIngest("duplicate")) > 0) first = performance.now();
    const applied = await readFeatures("applied");
    if (applied >= N) {
      last = performance.now();
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const dropped = await readIngest("duplicate");
  await stopWorkers();
  const seconds = (last - first) / 1000;
  const rate = input.length / seconds;
  log(`ingest + features (${MODE}): ${input.length} messages (${N} distinct) in ${seconds.toFixed(2)} s = ${Math.round(rate)} msg/s`);

  // Lost and double counts, from Redis: every distinct event adds exactly one to its user's counts.
  const store = createStore(redis, ns);
  const pseudonyms = Array.from({ length: USERS }, (_, u) => pseudonymise(SECRET, `user-${u}@example.com`));
  const counts = await store.readUserCounts(pseudonyms);
  const total = counts.reduce((s, c) => s + Object.values(c).reduce((a, b) => a + b, 0), 0);
  const lost = Math.max(0, N - total);
  const doubleCounts = Math.max(0, total - N);
  log(`Redis holds ${total} counted events for ${N} distinct; ingest dropped ${dropped} duplicates of ${duplicates} sent`);
  const ratio = rate / baselineRate;
  console.log(JSON.stringify({ bench: "INGEST-THROUGHPUT", events_per_s: Math.round(rate), baseline_events_per_s: Math.round(baselineRate), ratio: Number(ratio.toFixed(3)), lost, double_counts: doubleCounts, events: input.length, distinct: N, duplicates_dropped: dropped, partitions: PARTITIONS, mode: MODE, max_bytes_per_partition: MAX_BYTES, concurrency: CONCURRENCY }));
  if (lost !== 0 || doubleCounts !== 0 || dropped !== duplicates) process.exitCode = 1;
} finally {
  redis.disconnect();
  await stack?.stop();
}

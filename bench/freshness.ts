/**
 * FRESHNESS (docs: BENCHMARKS.md): time from a click produced to `clickstream` until a
 * recommendation for that user reflects it, through the real ingest, features and scorer
 * worker processes (a random model over 1,682 items published directly; no trainer).
 *
 * Per trial: a user with 20 past clicks clicks an item not in their history; right after the
 * click is acknowledged a rec.request for the user is produced; on each answer another request
 * is produced at once, until an answer reflects the click.
 * Definition used — "reflects the click": the user vector the scorer computed for that answer
 * (it writes it to Redis before publishing; one request per user is in flight) matches the
 * user tower of the history *with* the click (cosine > 0.9999 with the TypeScript forward pass,
 * and closer to it than to the history without the click). We also check that the clicked item
 * is absent from that answer (seen filtering). FRESHNESS = answer consumed − click produced.
 *
 * Baseline in the same run, trial by trial: the same click through a chain of two bare
 * pass-through hops (consume → produce, packages/bus defaults, in this process) standing for
 * ingest and features, to a consumer here: the floor any two-stage stream path has here.
 *
 *   node --import tsx bench/freshness.ts [--trials 60]
 *   env: BENCH_TRIALS, BENCH_ITEMS (1682); KAFKA_BROKERS + REDIS_URL to reuse a stack;
 *   BENCH_ENCRYPTION=on: crypto-shredding on (RECFLEET_MASTER_KEY for the workers; events and the
 *   decision log sealed — the bench opens the log with the same key). Compare its ratio with a run
 *   without it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import {
  createKafka,
  createProducer,
  ensureFleetTopics,
  ensureTopics,
  startConsumerLoop,
  type ConsumerLoop,
} from "@recfleet/bus";
import { decisionLogSpec, topicNames, type DecisionLogRecord, type Recommendation } from "@recfleet/contracts";
import { decodeVector } from "@recfleet/policy";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { uniqueName } from "@recfleet/testkit";
import { createStore, createUserKeyring, decodeSealedOr, openSealed, pseudonymise } from "@recfleet/store";
import { userVectors } from "@recfleet/towers";
import { startWorker, stopWorkers, waitReady, type RunningWorker } from "@recfleet/cli";
import {
  BENCH_SECRET,
  benchInfra,
  benchWorkerEnv,
  fmtMs,
  itemIdOf,
  log,
  nowMs,
  numFlag,
  publishModel,
  randomItemMatrix,
  randomModel,
  round,
  rssOf,
  seedHistories,
  startEchoWorker,
  summarize,
} from "./lib";

const TRIALS = numFlag("trials", "BENCH_TRIALS", 60);
const ITEMS = numFlag("items", "BENCH_ITEMS", 1682);
const PARTITIONS = 4;
const SECRET = BENCH_SECRET;
const logger = createLogger("bench", { level: "error" });
const ENCRYPTION = process.env.BENCH_ENCRYPTION === "on";
const MASTER_KEY = "42".repeat(32);

const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
};

const infra = await benchInfra("fresh");
const kafka = createKafka({ brokers: infra.brokers, clientId: "bench-fresh", logger });
const redis = new Redis(infra.redisUrl);
const ns = uniqueName("fresh");
const topics = topicNames(ns);
const store = createStore(redis, ns);
const workers: RunningWorker[] = [];
const closers: (() => Promise<void>)[] = [];
try {
  const base = { click: `${ns}.base.click`, events: `${ns}.base.events`, out: `${ns}.base.out` };
  await ensureFleetTopics(kafka, ns, { partitions: PARTITIONS });
  await ensureTopics(kafka, [
    ...[base.click, base.events, base.out].map((topic) => ({ topic, partitions: PARTITIONS })),
    ...[base.click, base.events].map((topic) => ({ topic: `${topic}.dlq`, partitions: 1 })),
  ]);
  log(`publishing a random model (${ITEMS} items, d=64); ${TRIALS} users with 20 past clicks each`);
  const model = await randomModel(ITEMS, { epochs: 1 });
  await publishModel(redis, ns, model, "v1", randomItemMatrix(ITEMS, 64, 3));
  const rawUsers = Array.from({ length: TRIALS }, (_, t) => `fresh-user-${t}@example.com`);
  const pseudonyms = rawUsers.map((u) => pseudonymise(SECRET, u));
  await seedHistories(redis, ns, pseudonyms, ITEMS, 20);

  // The decision log carries the user vector each answer was scored with: the freshness check reads it.
  const env = {
    ...benchWorkerEnv(infra, ns, PARTITIONS),
    DECISION_LOG_VECTORS: "true",
    ...(ENCRYPTION ? { RECFLEET_MASTER_KEY: MASTER_KEY } : {}),
  };
  const keyring = ENCRYPTION
    ? createUserKeyring(redis, ns, Buffer.from(MASTER_KEY, "hex"), { cacheSize: 10_000, cacheTtlMs: 5_000 })
    : undefined;
  // One at a time: workers starting together race on topic metadata right after creation.
  for (const name of ["ingest", "features", "scorer"] as const) {
    const w = await startWorker(name, env, infra.logDir);
    workers.push(w);
    await waitReady(w);
  }
  log(`ingest, features and scorer ready (logs in ${infra.logDir})`);

  // Consumers here: recommendations, and the end of the baseline chain.
  const recs = new Map<string, { t: number; rec: Recommendation }>();
  const baseArrived = new Map<string, number>();
  const dlq = await createProducer(kafka);
  const collect = async (topic: string, onValue: (value: Buffer, t: number) => void): Promise<ConsumerLoop> =>
    startConsumerLoop<Buffer | null>({
      kafka,
      groupId: `${ns}.collect.${topic}`,
      topics: [topic],
      deadLetterTopic: topics.recRequestsDlq,
      producer: dlq,
      logger,
      registry: createMetricsRegistry("bench-collect"),
      decode: (value) => ({ ok: true, value }),
      handleBatch: async (messages) => {
        const t = nowMs();
        for (const m of messages) onValue(m.value!, t);
      },
    });
  const recLoop = await collect(topics.recommendations, (v, t) => {
    const rec = JSON.parse(v.toString("utf8")) as Recommendation;
    if (!recs.has(rec.requestId)) recs.set(rec.requestId, { t, rec });
  });
  // The user vector each answer was scored with, from the decision log (logged with vectors here).
  const servedVectors = new Map<string, Float32Array>();
  const logLoop = await collect(topics.recLog, (v) => {
    // Sealed when encryption is on: opened as any reader of the log would, with the data key.
    const decoded = decodeSealedOr<DecisionLogRecord>(decisionLogSpec, v);
    if (!decoded.ok) return;
    void openSealed<DecisionLogRecord>(keyring, [decoded.value], decisionLogSpec).then(([o]) => {
      if (o?.ok && o.value.userVector) servedVectors.set(o.value.requestId, decodeVector(o.value.userVector));
    });
  });
  const baseLoop = await collect(
    base.out,
    (v, t) => void baseArrived.set((JSON.parse(v.toString("utf8")) as { eventId: string }).eventId, t),
  );
  const hop1 = await startEchoWorker(kafka, {
    groupId: `${ns}.hop1`,
    inTopic: base.click,
    outTopic: base.events,
    logger,
  });
  const hop2 = await startEchoWorker(kafka, {
    groupId: `${ns}.hop2`,
    inTopic: base.events,
    outTopic: base.out,
    logger,
  });
  closers.push(
    () => recLoop.stop(),
    () => logLoop.stop(),
    () => baseLoop.stop(),
    () => hop1.close(),
    () => hop2.close(),
    () => dlq.close(),
  );
  const producer = await createProducer(kafka);
  closers.push(() => producer.close());

  const waitFor = async <T>(get: () => T | undefined, timeoutMs: number): Promise<T | undefined> => {
    const until = nowMs() + timeoutMs;
    for (;;) {
      const v = get();
      if (v !== undefined || nowMs() > until) return v;
      await sleep(1);
    }
  };

  // Warm-up: every path answers once before timing.
  await producer.send(topics.recRequests, [
    { key: "w", value: { requestId: "warm", user: pseudonyms[0], ts: Date.now(), k: 10 } },
  ]);
  await producer.send(base.click, [{ key: "w", value: { eventId: "warm" } }]);
  if (!(await waitFor(() => recs.get("warm"), 60_000)) || !(await waitFor(() => baseArrived.get("warm"), 60_000)))
    throw new Error("warm-up got no answer");

  const fresh: number[] = [];
  const baseline: number[] = [];
  const attempts: number[] = [];
  let clickedItemShown = 0;
  let unreflected = 0;
  for (let t = 0; t < TRIALS; t++) {
    const raw = rawUsers[t]!;
    const user = pseudonyms[t]!;
    const history = (await store.readUserHistories([user], model.config.historyLength))[0]!.map((e) =>
      Number(e.itemId.slice(4)),
    );
    let clickRow = (t * 7_919 + 13) % ITEMS;
    while (history.includes(clickRow)) clickRow = (clickRow + 1) % ITEMS;
    const vBefore = userVectors(model, [history]);
    const vAfter = userVectors(model, [[...history, clickRow]]);
    const eventId = `fresh-click-${t}`;
    const click = { eventId, userId: raw, itemId: itemIdOf(clickRow), type: "click", ts: Date.now() };

    // Baseline first: the same click through two bare hops.
    const b0 = nowMs();
    await producer.send(base.click, [{ key: raw, value: click }]);
    const bArrived = await waitFor(() => baseArrived.get(eventId), 30_000);
    if (bArrived !== undefined) baseline.push(bArrived - b0);

    // The fleet: click, then requests until an answer reflects it.
    const t0 = nowMs();
    await producer.send(topics.clickstream, [{ key: raw, value: { ...click, ts: Date.now() } }]);
    let done = false;
    for (let a = 0; !done && nowMs() - t0 < 30_000; a++) {
      const requestId = `f${t}-${a}`;
      await producer.send(topics.recRequests, [{ key: raw, value: { requestId, userId: raw, ts: Date.now(), k: 10 } }]);
      const got = await waitFor(() => recs.get(requestId), 20_000);
      if (!got) continue;
      const served = await waitFor(() => servedVectors.get(requestId), 5_000);
      if (served && cosine(served, vAfter) > 0.9999 && cosine(served, vAfter) > cosine(served, vBefore)) {
        fresh.push(got.t - t0);
        attempts.push(a + 1);
        if (got.rec.items.some((it) => it.itemId === click.itemId)) clickedItemShown++;
        done = true;
      }
    }
    if (!done) unreflected++;
    if ((t + 1) % 10 === 0)
      log(`${t + 1}/${TRIALS} trials: freshness ${fmtMs(summarize(fresh))}; baseline ${fmtMs(summarize(baseline))}`);
    await sleep(50);
  }
  const f = summarize(fresh);
  const b = summarize(baseline);
  const att = summarize(attempts);
  const rss = Object.fromEntries(workers.map((w) => [w.name, rssOf(w.process.pid!).peakMb]));
  log(
    `FRESHNESS ${fmtMs(f)}; requests per trial until reflected: p50 ${att.p50}, max ${att.max}; not reflected within 30 s: ${unreflected}; clicked item still recommended: ${clickedItemShown}`,
  );
  log(
    `baseline (click through 2 bare hops) ${fmtMs(b)}; ratio p50 ${(f.p50 / b.p50).toFixed(2)}×, p99 ${(f.p99 / b.p99).toFixed(2)}×`,
  );
  log(
    `peak RSS (VmHWM): ${Object.entries(rss)
      .map(([k, v]) => `${k} ${v} MiB`)
      .join(", ")}`,
  );
  console.log(
    JSON.stringify({
      bench: "FRESHNESS",
      encryption: ENCRYPTION ? "on" : "off",
      trials: TRIALS,
      p50_ms: round(f.p50, 1),
      p99_ms: round(f.p99, 1),
      max_ms: round(f.max, 1),
      baseline_p50_ms: round(b.p50, 1),
      baseline_p99_ms: round(b.p99, 1),
      ratio_p50: round(f.p50 / b.p50),
      ratio_p99: round(f.p99 / b.p99),
      requests_per_trial_max: att.max,
      unreflected,
      clicked_item_recommended: clickedItemShown,
      definition: "user vector of the answer = user tower of the history including the click",
      peak_rss_mb: rss,
    }),
  );
  if (unreflected > 0 || clickedItemShown > 0) process.exitCode = 1;
} finally {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await stopWorkers(workers);
  redis.disconnect();
  await infra.stop();
}

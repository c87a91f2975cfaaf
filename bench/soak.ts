/**
 * SOAK: the whole fleet (ingest, features, trainer, scorer as child processes, the `main.ts` a user
 * starts) under steady load for a long time, with the trainer retraining on its schedule, to find
 * what only time shows: memory that creeps, lag that builds, latency that drifts, errors.
 *
 * Load: the synthetic clickstream (packages/simulator's generator, its catalog on `items`) at
 * `--rate` events/s with unique event ids and the time of sending, and `--request-rate` rec
 * requests/s for users who have clicked, each with a unique request id. Before the clock starts
 * the fleet gets a warm-up block of events, one event for every user and every item (their state
 * exists before the clock starts, so later growth is not new users) and one training run (a
 * model serves from the first minute); after that only the trainer's own schedule trains.
 *
 * Each minute: RSS (VmRSS) of every worker, then its RSS again right after a forced full garbage
 * collection (through the inspector, forceFullGc), Redis `used_memory`, each worker's consumer lag
 * (summed over partitions). At the end: per worker both RSS slopes in MiB/hour, least squares over
 * the last `--fit-minutes` (after warm-up): the raw one swings with V8's collection cycle by tens
 * of MiB, the one after a full GC measures what the worker keeps; Redis memory first/last/max and its slope; lag max;
 * request → answer p99 in the first and the last `--edge-minutes`; errors (error-level worker
 * log lines once the clock runs, failed sends, dead letters, workers that exited); lost (events
 * Kafka acknowledged that the features worker never applied) and double-applied (applied more
 * often than sent).
 *
 *   node --import tsx bench/soak.ts [--minutes 30] [--rate 20] [--request-rate 10] [--train-every 5m]
 *        [--fit-minutes 20] [--edge-minutes 5] [--users 2000] [--items 1000] [--seed 7]
 *
 * Ends with ONE JSON line {"bench":"SOAK",…}. Runs on its own Kafka and Redis (a temp dir) unless
 * KAFKA_BROKERS and REDIS_URL name a stack.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import type { ClickstreamEvent, RecRequest } from "@recfleet/contracts";
import { createLogger } from "@recfleet/runtime";
import { generateClickstream } from "@recfleet/simulator";
import { testInfra } from "@recfleet/testkit";
import { scrapeMetric } from "@recfleet/cli";
import { scaleItemId, scaleUserId, toCatalogItem } from "../apps/cli/src/demo-scale";
import {
  produceClickstream,
  startFleet,
  trainAndPromote,
  waitForEvents,
  WORKERS,
  type Fleet,
} from "../test/e2e/fleet-helpers";
import {
  answerLatencies,
  benchInfra,
  collector,
  exited,
  flag,
  forceFullGc,
  log,
  nowMs,
  numFlag,
  pacedArrivals,
  round,
  rssOf,
  summarize,
} from "./lib";

const MINUTES = numFlag("minutes", "SOAK_MINUTES", 30);
const RATE = numFlag("rate", "SOAK_RATE", 20);
const REQUEST_RATE = numFlag("request-rate", "SOAK_REQUEST_RATE", 10);
const TRAIN_EVERY = flag("train-every", "SOAK_TRAIN_EVERY", "5m");
const FIT_MINUTES = numFlag(
  "fit-minutes",
  "SOAK_FIT_MINUTES",
  Math.min(20, Math.max(2, Math.floor((MINUTES * 2) / 3))),
);
const EDGE_MINUTES = numFlag("edge-minutes", "SOAK_EDGE_MINUTES", Math.min(5, Math.max(1, Math.floor(MINUTES / 3))));
const USERS = numFlag("users", "SOAK_USERS", 2000);
const ITEMS = numFlag("items", "SOAK_ITEMS", 1000);
const SEED = numFlag("seed", "SOAK_SEED", 7);
const WARMUP_EVENTS = 5000;
const MIB = 1024 * 1024;
const logger = createLogger("bench-soak", { level: "error" });

interface Sample {
  minute: number;
  rssMb: Record<string, number>;
  /** RSS right after a forced full GC (forceFullGc): what the worker retains, without V8's swing. */
  rssAfterGcMb: Record<string, number>;
  /** V8 heap in use (after whatever GC ran last) and external memory (Buffers, ONNX tensors): JS vs native growth. */
  heapMb: Record<string, number>;
  /** V8 heap committed: RSS follows this, not the heap in use. */
  heapTotalMb: Record<string, number>;
  externalMb: Record<string, number>;
  redisMb: number;
  lag: Record<string, number>;
}

/** Least-squares slope of y over x (x in minutes) as units per hour; NaN below 2 points. */
function slopePerHour(points: readonly [number, number][]): number {
  const pts = points.filter(([, y]) => Number.isFinite(y));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((s, [x]) => s + x, 0) / pts.length;
  const my = pts.reduce((s, [, y]) => s + y, 0) / pts.length;
  const sxx = pts.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = pts.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  return sxx === 0 ? NaN : (sxy / sxx) * 60;
}

async function redisUsedMb(redis: Redis): Promise<number> {
  const info = await redis.info("memory").catch(() => "");
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN) / MIB;
}

/** Error-level lines a worker logged from `since` (epoch ms) on: the measured period, not start-up. */
const countErrorLines = (path: string, since: number): number => {
  try {
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.includes('"level":"error"'))
      .filter((l) => Date.parse((JSON.parse(l) as { ts: string }).ts) >= since).length;
  } catch {
    return NaN;
  }
};

const started = Date.now();
log(
  `SOAK: ${MINUTES} min of ${RATE} events/s and ${REQUEST_RATE} requests/s, retraining every ${TRAIN_EVERY}; ` +
    `slope over the last ${FIT_MINUTES} min, p99 over the first and last ${EDGE_MINUTES} min`,
);
const infra = await benchInfra("soak");
let fleet: Fleet | undefined;
let exitCode = 0;
try {
  fleet = await startFleet(
    testInfra(infra.env),
    "soak",
    {
      // Retention windows shortened so that every bounded structure reaches its steady state in
      // the first ~10 minutes and the fit over the last 20 measures growth, not filling: the
      // trainer's window (15k events), served-slate records (attribution 5 min + 1 min grace),
      // superseded model versions (collected 5 min after they are replaced). With the defaults
      // (200k events, 30 + 5 min, 60 min) the same plateaus come later, not higher per unit.
      // The duplicate filters too: 3,000 fingerprints per partition fill in the first ~10 minutes
      // at 5 events/s per partition (the default 20,000 would take over an hour).
      RECFLEET_DEDUPE_CAPACITY: "3000",
      // One idempotency marker per request lives for the replay horizon (1 d): 10 minutes here.
      RECFLEET_REPLAY_HORIZON: "10m",
      TRAIN_WINDOW_MAX_EVENTS: "15000",
      RECFLEET_ATTRIBUTION_WINDOW: "5m",
      RECFLEET_ATTRIBUTION_GRACE: "1m",
      MODEL_GC_GRACE: "5m",
      TRAIN_INTERVAL: TRAIN_EVERY,
      TRAIN_EPOCHS: "2",
      TRAIN_MIN_EVENTS: "500",
      EMBED_SHARD_SIZE: "500",
      LOG_LEVEL: "warn",
      SCORER_THREADS: "1",
    },
    { portTimeoutMs: 240_000 },
  );
  const f = fleet;
  const redis = new Redis(infra.redisUrl);
  const stream = generateClickstream({
    seed: SEED,
    users: USERS,
    items: ITEMS,
    events: WARMUP_EVENTS + Math.ceil(RATE * MINUTES * 60) + 1000,
  });
  const eventAt = (n: number, ts: number): ClickstreamEvent => ({
    eventId: `soak-${SEED}-e${n}`,
    userId: scaleUserId(stream.eventUser[n]!),
    itemId: scaleItemId(stream.eventItem[n]!),
    type: "click",
    ts,
  });

  // Catalog, a warm-up block and one training run: a model serves from the first measured minute.
  const catalogTs = Date.now();
  for (let i = 0; i < ITEMS; i += 500) {
    const batch = [];
    for (let row = i; row < Math.min(i + 500, ITEMS); row++) {
      const item = toCatalogItem(stream, row, catalogTs);
      batch.push({ key: item.itemId, value: item });
    }
    await f.producer.send(f.topics.items, batch);
  }
  const warmStart = Date.now() - 10 * 60_000;
  await produceClickstream(
    f,
    Array.from({ length: WARMUP_EVENTS }, (_, n) =>
      eventAt(n, Math.round(warmStart + (n / WARMUP_EVENTS) * 10 * 60_000)),
    ),
  );
  // Every user and every item once more, so that per-user and per-item state (Redis keys, the
  // workers' caches) exists before the clock starts: growth measured after that is not new users.
  const touches = Math.max(USERS, ITEMS);
  await produceClickstream(
    f,
    Array.from({ length: touches }, (_, row) => ({
      eventId: `soak-${SEED}-w${row}`,
      userId: scaleUserId(row % USERS),
      itemId: scaleItemId(row % ITEMS),
      type: "view" as const,
      ts: Date.now(),
    })),
  );
  await waitForEvents(f, WARMUP_EVENTS + touches, 300_000);
  const promotion = await trainAndPromote(f, "10m");
  log(`warm-up: ${WARMUP_EVENTS + touches} events applied, model ${promotion.version} serving; the clock starts`);

  const answers = await collector(f.kafka, f.topics.recommendations, `${f.namespace}.soak-collect`, logger);
  let sentEvents = WARMUP_EVENTS;
  let sendErrors = 0;
  const requestSent = new Map<string, number>();
  const send = async (topic: string, batch: { key: string; value: unknown }[]) => {
    // The producer retries by itself; a send that still fails is counted and sent again (same ids).
    for (;;) {
      try {
        return await f.producer.send(topic, batch);
      } catch (err) {
        sendErrors++;
        log(`send to ${topic} failed (${(err as Error).message}); again`);
        await sleep(500);
      }
    }
  };

  const samples: Sample[] = [];
  const t0 = Date.now();
  const t0Ms = nowMs(); // the clock of the requests' send times
  const sample = async () => {
    const minute = (Date.now() - t0) / 60_000;
    const rssMb: Record<string, number> = {};
    const rssAfterGcMb: Record<string, number> = {};
    const lag: Record<string, number> = {};
    const heapMb: Record<string, number> = {};
    const heapTotalMb: Record<string, number> = {};
    const externalMb: Record<string, number> = {};
    for (const name of WORKERS) {
      const w = f.worker(name);
      rssMb[name] = rssOf(w.process.pid).rssMb;
      try {
        await forceFullGc(w.process.pid!);
        await sleep(500);
        rssAfterGcMb[name] = rssOf(w.process.pid).rssMb;
      } catch (err) {
        log(`no forced GC in ${name}: ${(err as Error).message}`);
        rssAfterGcMb[name] = NaN;
      }
      lag[name] = await scrapeMetric(w, "recfleet_consumer_lag_messages");
      heapMb[name] = round((await scrapeMetric(w, "recfleet_nodejs_heap_size_used_bytes")) / MIB, 1);
      heapTotalMb[name] = round((await scrapeMetric(w, "recfleet_nodejs_heap_size_total_bytes")) / MIB, 1);
      externalMb[name] = round((await scrapeMetric(w, "recfleet_nodejs_external_memory_bytes")) / MIB, 1);
    }
    const s: Sample = {
      minute: round(minute, 2),
      rssMb,
      rssAfterGcMb,
      heapMb,
      heapTotalMb,
      externalMb,
      redisMb: round(await redisUsedMb(redis), 2),
      lag,
    };
    samples.push(s);
    const answered = [...requestSent.keys()].filter((id) => answers.arrived.has(id)).length;
    log(
      `${minute.toFixed(1)} min: ${sentEvents - WARMUP_EVENTS} events, ${answered}/${requestSent.size} answered; ` +
        `RSS ${WORKERS.map((n) => `${n} ${rssMb[n]} (${rssAfterGcMb[n]} after GC)`).join(", ")} MiB; heap ${WORKERS.map((n) => `${heapMb[n]}/${heapTotalMb[n]}`).join(" ")}, ` +
        `external ${WORKERS.map((n) => externalMb[n]).join("/")} MiB; Redis ${s.redisMb} MiB; ` +
        `lag ${WORKERS.map((n) => `${n} ${lag[n]}`).join(", ")}`,
    );
  };
  await sample();
  const sampler = setInterval(() => void sample(), 60_000);

  const seconds = MINUTES * 60;
  await Promise.all([
    pacedArrivals(RATE, seconds, async (from, to) => {
      const batch: { key: string; value: ClickstreamEvent }[] = [];
      for (let i = from; i < to; i++) {
        const e = eventAt(WARMUP_EVENTS + i, Date.now());
        batch.push({ key: e.userId, value: e });
      }
      await send(f.topics.clickstream, batch);
      sentEvents = WARMUP_EVENTS + to;
    }),
    pacedArrivals(REQUEST_RATE, seconds, async (from, to, t) => {
      const batch: { key: string; value: RecRequest }[] = [];
      for (let i = from; i < to; i++) {
        // A user who clicked recently (so the answer comes from the model with a history).
        const user = scaleUserId(stream.eventUser[Math.max(0, sentEvents - 1 - ((i * 7919) % 500))]!);
        const requestId = `soak-${SEED}-r${i}`;
        requestSent.set(requestId, t);
        batch.push({ key: user, value: { requestId, userId: user, k: 10, ts: Math.floor(t) } });
      }
      await send(f.topics.recRequests, batch);
    }),
  ]);
  clearInterval(sampler);
  await sample();
  const loadEndMs = nowMs();
  log(`load done after ${((loadEndMs - t0Ms) / 60_000).toFixed(1)} min; draining`);

  const { unanswered } = await answerLatencies(requestSent, answers.arrived, 120_000);
  const edgeMs = EDGE_MINUTES * 60_000;
  const latencyBetween = (from: number, to: number) =>
    summarize(
      [...requestSent].flatMap(([id, t]) =>
        t >= from && t < to && answers.arrived.has(id) ? [answers.arrived.get(id)! - t] : [],
      ),
    );
  const firstEdge = latencyBetween(t0Ms, t0Ms + edgeMs);
  const lastEdge = latencyBetween(loadEndMs - edgeMs, Infinity);

  // Every acknowledged event applied once: the features worker's counters (no worker restarted).
  let applied = 0;
  for (let waited = 0; waited < 120_000; waited += 2000) {
    applied = await scrapeMetric(f.worker("features"), "recfleet_features_events_total", { outcome: "applied" });
    if (applied >= sentEvents + touches) break;
    await sleep(2000);
  }
  const deadLetters = (
    await Promise.all(
      WORKERS.map((n) => scrapeMetric(f.worker(n), "recfleet_consumer_messages_total", { outcome: "dead_lettered" })),
    )
  ).reduce((a, b) => a + b, 0);
  const trainings: Record<string, number> = {};
  for (const outcome of ["promoted", "rejected", "skipped", "failed"])
    trainings[outcome] = await scrapeMetric(f.worker("trainer"), "recfleet_trainer_runs_total", { outcome });
  await answers.loop.stop();

  const fitFrom = samples.at(-1)!.minute - FIT_MINUTES;
  const fitted = samples.filter((s) => s.minute >= fitFrom - 0.01);
  const rssSlope = Object.fromEntries(
    WORKERS.map((n) => [n, round(slopePerHour(fitted.map((s) => [s.minute, s.rssMb[n]!])), 1)]),
  );
  const rssAfterGcSlope = Object.fromEntries(
    WORKERS.map((n) => [n, round(slopePerHour(fitted.map((s) => [s.minute, s.rssAfterGcMb[n]!])), 1)]),
  );
  const rssRange = Object.fromEntries(
    WORKERS.map((n) => {
      const ys = samples.map((s) => s.rssMb[n]!);
      return [n, { first: ys[0], last: ys.at(-1), max: Math.max(...ys) }];
    }),
  );
  const redisYs = samples.map((s) => s.redisMb);
  const lagMax = Object.fromEntries(WORKERS.map((n) => [n, Math.max(...samples.map((s) => s.lag[n] ?? 0))]));
  const errorLines = Object.fromEntries(WORKERS.map((n) => [n, countErrorLines(f.worker(n).logPath, t0)]));
  const exits = WORKERS.filter((n) => exited(f.worker(n)));
  const errors =
    Object.values(errorLines).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) +
    sendErrors +
    deadLetters +
    exits.length;
  console.log(
    JSON.stringify({
      bench: "SOAK",
      minutes: MINUTES,
      rate: RATE,
      request_rate: REQUEST_RATE,
      train_every: TRAIN_EVERY,
      fit_minutes: FIT_MINUTES,
      samples: samples.length,
      rss_slope_mib_per_hour: rssSlope,
      rss_after_gc_slope_mib_per_hour: rssAfterGcSlope,
      rss_mib: rssRange,
      rss_after_gc_mib: Object.fromEntries(
        WORKERS.map((n) => {
          const ys = samples.map((s) => s.rssAfterGcMb[n]!);
          return [n, { first: ys[0], last: ys.at(-1), max: Math.max(...ys) }];
        }),
      ),
      heap_used_slope_mib_per_hour: Object.fromEntries(
        WORKERS.map((n) => [n, round(slopePerHour(fitted.map((s) => [s.minute, s.heapMb[n]!])), 1)]),
      ),
      external_slope_mib_per_hour: Object.fromEntries(
        WORKERS.map((n) => [n, round(slopePerHour(fitted.map((s) => [s.minute, s.externalMb[n]!])), 1)]),
      ),
      heap_total_slope_mib_per_hour: Object.fromEntries(
        WORKERS.map((n) => [n, round(slopePerHour(fitted.map((s) => [s.minute, s.heapTotalMb[n]!])), 1)]),
      ),
      redis_used_memory_mib: { first: redisYs[0], last: redisYs.at(-1), max: Math.max(...redisYs) },
      redis_slope_mib_per_hour: round(slopePerHour(fitted.map((s) => [s.minute, s.redisMb])), 1),
      lag_max: lagMax,
      p99_first_ms: round(firstEdge.p99, 1),
      p99_last_ms: round(lastEdge.p99, 1),
      p99_ratio: round(lastEdge.p99 / firstEdge.p99, 2),
      requests: requestSent.size,
      unanswered,
      trainings,
      events_sent: sentEvents + touches,
      events_applied: applied,
      lost: Math.max(0, sentEvents + touches - applied),
      double_applied: Math.max(0, applied - sentEvents - touches),
      errors,
      error_lines: errorLines,
      send_errors: sendErrors,
      dead_letters: deadLetters,
      exited: exits,
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
  redis.disconnect();
} catch (err) {
  log(`SOAK failed: ${(err as Error).stack ?? String(err)}`);
  if (fleet) log(fleet.describeLogs());
  exitCode = 1;
} finally {
  await fleet?.stop({ keepLogs: exitCode !== 0 }).catch(() => undefined);
  await infra.stop();
}
process.exit(exitCode);

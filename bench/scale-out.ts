/**
 * SCALE-OUT (docs: BENCHMARKS.md): the real scorer worker, 1 vs 2 processes in one consumer
 * group (rec.requests with 4 partitions, this 2-core machine shared with Kafka and Redis).
 *
 * 1. Throughput: in a fresh namespace per run, start the processes, warm up until each has
 *    answered, then produce a backlog of N requests as fast as possible; throughput =
 *    N / (last answer consumed − first request produced). Same model, users, settings for both.
 * 2. Join and SIGKILL: one process serves a steady rate; a second process is started (join),
 *    later the first is killed with SIGKILL. Reported per event: the longest gap in the output
 *    stream (no recommendation at all) and the worst request latency (request produced →
 *    answer consumed) of requests produced in the 15 s after the event.
 *    The stall's distribution (p50/p90/p99/max and counts over 1/3/5/7 s) is printed too: a
 *    killed member's partitions wait for the scorer's session timeout (SCORER_SESSION_TIMEOUT)
 *    plus a heartbeat and a rebalance.
 * 3. Lost = requests never answered (must be 0); duplicates = answers beyond one per request
 *    (at-least-once replays after the kill, expected).
 * 4. SCORER-THROUGHPUT: the 1-process backlog rate ÷ the in-process rate of the same serving graph,
 *    items and policy at batch 64 (`scoreRequests` with histories from memory), same run.
 * The baseline is the 1-process run; ratio = 2-process / 1-process throughput.
 *
 *   node --import tsx bench/scale-out.ts [--requests 20000] [--rate 300] [--items 1682] [--profile-dir DIR]
 *   env: BENCH_REQUESTS, BENCH_RATE, BENCH_ITEMS; KAFKA_BROKERS + REDIS_URL to reuse a stack
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createKafka, createProducer, ensureFleetTopics, type BusProducer, type ConsumerLoop } from "@recfleet/bus";
import { topicNames } from "@recfleet/contracts";
import { createLogger } from "@recfleet/runtime";
import { uniqueName } from "@recfleet/testkit";
import { scrapeMetric, startWorker, stopWorkers, waitReady, type RunningWorker } from "@recfleet/cli";
import type { TwoTowerModel } from "@recfleet/towers";
import { percentile } from "@recfleet/numeric";
import { createPolicy, createRng } from "@recfleet/policy";
import { createModelRegistry, type HistoryEntry } from "@recfleet/store";
import { loadServingModel, scoreRequests, type ScoringStore } from "@recfleet/scorer";
import type { RecRequest } from "@recfleet/contracts";
import {
  benchInfra,
  collector,
  benchWorkerEnv,
  flag,
  log,
  nowMs,
  numFlag,
  profileEnv,
  publishModel,
  randomItemMatrix,
  randomModel,
  reportProfile,
  round,
  rssOf,
  seedHistories,
  summarize,
} from "./lib";

const N = numFlag("requests", "BENCH_REQUESTS", 20_000);
const RATE = numFlag("rate", "BENCH_RATE", 300);
const ITEMS = numFlag("items", "BENCH_ITEMS", 1682);
const PARTITIONS = 4;
/** Where the 1-process throughput run's scorer writes a V8 CPU profile (its top is printed); empty: none. */
const PROFILE_DIR = flag("profile-dir", "BENCH_PROFILE_DIR", "");
const USERS = 1000;
const logger = createLogger("bench", { level: "error" });

const infra = await benchInfra("scale");
const kafka = createKafka({ brokers: infra.brokers, clientId: "bench-scale", logger });
const redis = new Redis(infra.redisUrl);
const users = Array.from({ length: USERS }, (_, u) => `benchuser${u}`);
const workers: RunningWorker[] = [];
const loops: ConsumerLoop[] = [];
let producer: BusProducer | undefined;

/**
 * SCORER-THROUGHPUT's baseline: requests per second through the same serving graph, items and
 * policy (the scorer's default, greedy) in this process, batch 64, histories from memory:
 * `scoreRequests` as the scorer calls it, with no Kafka, Redis, records or sends.
 */
async function inProcessRate(ns: string, histories: Map<string, string[]>, seconds: number): Promise<number> {
  const BATCH = 64;
  const model = await loadServingModel(createModelRegistry(redis, ns), "v1", {
    executionProviders: ["cpu"],
    logger,
    intraOpNumThreads: 1,
  });
  const store: ScoringStore = {
    readUsers: async (us, n) =>
      us.map((u) => ({
        history: (n > 0 ? (histories.get(u) ?? []).slice(-n) : []).map((itemId, i): HistoryEntry => ({
          itemId,
          type: "click",
          ts: i,
        })),
        seen: histories.get(u) ?? [],
      })),
    readPopularItems: async () => [],
    readItemStats: async (ids) => ids.map((itemId) => ({ itemId, impressions: 0, clicks: 0, expectedClicks: 0 })),
  };
  const policy = createPolicy("greedy");
  const deps = {
    store,
    model,
    pseudonymise: (raw: string) => raw,
    policyFor: () => policy,
    rng: createRng(1),
    now: Date.now,
    defaultK: 10,
    candidates: 100,
    scoreToLogit: (c: number) => (c - 0.5) * 8,
    explanations: 2,
    // As the worker does when no policy it may serve reads the linear state (greedy here).
    linearContexts: false,
  };
  let done = 0;
  let seq = 0;
  const batch = (): RecRequest[] =>
    Array.from({ length: BATCH }, () => ({
      requestId: `p-${seq}`,
      user: users[seq++ % USERS]!,
      ts: Date.now(),
      k: 10,
    }));
  for (let i = 0; i < 5; i++) await scoreRequests(batch(), deps); // warm-up
  const t0 = nowMs();
  while (nowMs() - t0 < seconds * 1000) {
    await scoreRequests(batch(), deps);
    done += BATCH;
  }
  const rate = done / ((nowMs() - t0) / 1000);
  await model.release();
  return rate;
}

interface Fleet {
  ns: string;
  histories: Map<string, string[]>;
  arrivals: { id: string; t: number }[];
  firstArrival: Map<string, number>;
  start(instance: number, env?: Record<string, string>): Promise<RunningWorker>;
}

async function fleet(model: TwoTowerModel, matrix: Float32Array, tag: string): Promise<Fleet> {
  const ns = uniqueName(`scale-${tag}`);
  const topics = topicNames(ns);
  await ensureFleetTopics(kafka, ns, { partitions: PARTITIONS });
  await publishModel(redis, ns, model, "v1", matrix);
  const histories = await seedHistories(redis, ns, users, ITEMS, 20);
  const answers = await collector(kafka, topics.recommendations, `${ns}.collect`, logger);
  loops.push(answers.loop);
  const { arrivals, arrived: firstArrival } = answers;
  return {
    ns,
    histories,
    arrivals,
    firstArrival,
    start: async (instance, env = {}) => {
      const w = await startWorker(
        "scorer",
        { ...benchWorkerEnv(infra, ns, PARTITIONS), ...env },
        infra.logDir,
        instance,
      );
      workers.push(w);
      return w;
    },
  };
}

async function send(ns: string, ids: string[], sentAt: Map<string, number>): Promise<void> {
  const t = nowMs();
  for (const id of ids) sentAt.set(id, t);
  await producer!.send(
    topicNames(ns).recRequests,
    ids.map((requestId, i) => {
      const user = users[(Number(requestId.slice(requestId.lastIndexOf("-") + 1)) + i) % USERS]!;
      return { key: user, value: { requestId, user, ts: Math.floor(t), k: 10 } };
    }),
  );
}

async function waitAnswered(f: Fleet, ids: Iterable<string>, timeoutMs: number): Promise<number> {
  const list = [...ids];
  const until = nowMs() + timeoutMs;
  let missing = list.length;
  while (nowMs() < until) {
    missing = list.filter((id) => !f.firstArrival.has(id)).length;
    if (missing === 0) break;
    await sleep(50);
  }
  return missing;
}

try {
  log(`random model over ${ITEMS} items (d=64); ${USERS} users × 20 history items per namespace`);
  const model = await randomModel(ITEMS, { epochs: 1 });
  const matrix = randomItemMatrix(ITEMS, 64, 3);
  producer = await createProducer(kafka);

  // ---- 1. throughput: 1 process, then 2
  const throughput: Record<number, { rps: number; lost: number; shares: number[] }> = {};
  let inProcessRps = NaN;
  for (const procs of [1, 2]) {
    const f = await fleet(model, matrix, `t${procs}`);
    const env = procs === 1 ? profileEnv(PROFILE_DIR) : {};
    const ws = await Promise.all(Array.from({ length: procs }, (_, i) => f.start(i + 1, env)));
    await Promise.all(ws.map((w) => waitReady(w)));
    // Warm up until every process has answered something (the group is settled).
    const sentAt = new Map<string, number>();
    for (let round_ = 0; ; round_++) {
      const ids = Array.from({ length: 200 }, (_, i) => `warm${round_}-${i}`);
      await send(f.ns, ids, sentAt);
      await waitAnswered(f, ids, 30_000);
      const served = await Promise.all(ws.map((w) => scrapeMetric(w, "recfleet_scorer_recommendations_total")));
      if (served.every((s) => s > 0) || round_ >= 20) break;
      await sleep(500);
    }
    const before = await Promise.all(ws.map((w) => scrapeMetric(w, "recfleet_scorer_recommendations_total")));
    log(`${procs} process(es) warm; producing a backlog of ${N} requests …`);
    const ids = Array.from({ length: N }, (_, i) => `b-${i}`);
    const t0 = nowMs();
    for (let i = 0; i < N; i += 2000) await send(f.ns, ids.slice(i, i + 2000), sentAt);
    const produced = nowMs() - t0;
    const lost = await waitAnswered(f, ids, 60_000);
    const last = Math.max(...ids.map((id) => f.firstArrival.get(id) ?? 0));
    const rps = lost === N ? 0 : (N - lost) / ((last - t0) / 1000);
    const after = await Promise.all(ws.map((w) => scrapeMetric(w, "recfleet_scorer_recommendations_total")));
    const shares = after.map((a, i) => a - before[i]!);
    log(
      `${procs} process(es): ${N - lost} of ${N} answered in ${((last - t0) / 1000).toFixed(2)} s = ${Math.round(rps)} req/s (backlog produced in ${(produced / 1000).toFixed(2)} s; per process ${shares.join(" / ")}), lost ${lost}; peak RSS ${ws.map((w) => rssOf(w.process.pid!).peakMb).join(" / ")} MiB`,
    );
    throughput[procs] = { rps, lost, shares };
    await stopWorkers(ws);
    if (procs === 1 && PROFILE_DIR) reportProfile(PROFILE_DIR, ws[0]!.process.pid!, "scorer (backlog drain)");
    if (procs === 1) {
      inProcessRps = await inProcessRate(f.ns, f.histories, 5);
      log(
        `in process (same serving graph, items and policy, batch 64): ${Math.round(inProcessRps)} req/s — SCORER-THROUGHPUT ${(rps / inProcessRps).toFixed(3)} (one scorer's backlog drain rate ÷ this)`,
      );
    }
  }

  // ---- 2. join and SIGKILL under a steady rate
  const f = await fleet(model, matrix, "events");
  const a = await f.start(1);
  await waitReady(a);
  const sentAt = new Map<string, number>();
  let seq = 0;
  let running = true;
  const generator = (async () => {
    const start = nowMs();
    while (running) {
      const due = Math.floor(((nowMs() - start) / 1000) * RATE);
      if (due > seq) {
        const ids: string[] = [];
        for (; seq < due; seq++) ids.push(`s-${seq}`);
        await send(f.ns, ids, sentAt);
      }
      await sleep(5);
    }
  })();
  await sleep(8000);
  log(`steady ${RATE} req/s on one process; starting a second …`);
  const joinAt = nowMs();
  const b = await f.start(2);
  await waitReady(b);
  log(`second process ready after ${((nowMs() - joinAt) / 1000).toFixed(1)} s`);
  await sleep(14_000);
  const rssA = rssOf(a.process.pid!);
  log(`SIGKILL to the first process (pid ${a.process.pid}, peak RSS ${rssA.peakMb} MiB)`);
  const killAt = nowMs();
  a.process.kill("SIGKILL");
  await sleep(18_000);
  running = false;
  await generator;
  const lost = await waitAnswered(f, sentAt.keys(), 40_000);
  const rssB = rssOf(b.process.pid!);

  const windowStats = (from: number, to: number) => {
    const times = f.arrivals
      .map((x) => x.t)
      .filter((t) => t >= from - 1000 && t <= to)
      .sort((x, y) => x - y);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    const lat = [...sentAt]
      .filter(([, t]) => t >= from && t < to)
      .map(([id, t]) => (f.firstArrival.get(id) ?? NaN) - t)
      .filter(Number.isFinite);
    return { gapMs: gap, latency: summarize(lat) };
  };
  const steady = windowStats(joinAt - 7000, joinAt);
  const join = windowStats(joinAt, joinAt + 15_000);
  const kill = windowStats(killAt, killAt + 15_000);
  const duplicates = f.arrivals.length - f.firstArrival.size;
  // The stall's distribution: latencies of the requests produced in the 15 s after the SIGKILL.
  const killLatencies = [...sentAt]
    .filter(([, t]) => t >= killAt && t < killAt + 15_000)
    .map(([id, t]) => (f.firstArrival.get(id) ?? NaN) - t)
    .filter(Number.isFinite);
  const over = (ms: number) => killLatencies.filter((l) => l > ms).length;
  const stall = {
    p50: Math.round(kill.latency.p50),
    p90: Math.round(killLatencies.length ? percentile(Float64Array.from(killLatencies).sort(), 0.9) : NaN),
    p99: Math.round(kill.latency.p99),
    max: Math.round(kill.latency.max),
    over_1s: over(1000),
    over_3s: over(3000),
    over_5s: over(5000),
    over_7s: over(7000),
    of: killLatencies.length,
  };
  log(
    `SIGKILL stall distribution (requests produced in the 15 s after): p50 ${stall.p50} ms, p90 ${stall.p90}, p99 ${stall.p99}, max ${stall.max}; over 1 s ${stall.over_1s}, 3 s ${stall.over_3s}, 5 s ${stall.over_5s}, 7 s ${stall.over_7s} of ${stall.of}`,
  );
  log(
    `steady (1 process): longest output gap ${steady.gapMs.toFixed(0)} ms, latency p99 ${steady.latency.p99.toFixed(0)} ms, max ${steady.latency.max.toFixed(0)} ms`,
  );
  log(
    `join   (15 s after start): longest output gap ${join.gapMs.toFixed(0)} ms, latency p99 ${join.latency.p99.toFixed(0)} ms, max ${join.latency.max.toFixed(0)} ms`,
  );
  log(
    `SIGKILL (15 s after): longest output gap ${kill.gapMs.toFixed(0)} ms, latency p99 ${kill.latency.p99.toFixed(0)} ms, max ${kill.latency.max.toFixed(0)} ms`,
  );
  log(`${sentAt.size} requests, lost ${lost}, duplicate answers ${duplicates}; survivor peak RSS ${rssB.peakMb} MiB`);

  const one = throughput[1]!;
  const two = throughput[2]!;
  console.log(
    JSON.stringify({
      bench: "SCALE-OUT",
      requests: N,
      rps_1: Math.round(one.rps),
      rps_2: Math.round(two.rps),
      ratio: round(two.rps / one.rps),
      shares_2: two.shares,
      join_gap_ms: Math.round(join.gapMs),
      join_max_latency_ms: Math.round(join.latency.max),
      kill_gap_ms: Math.round(kill.gapMs),
      kill_max_latency_ms: Math.round(kill.latency.max),
      kill_stall_ms: stall,
      in_process_rps_b64: Math.round(inProcessRps),
      scorer_throughput: round(one.rps / inProcessRps),
      steady_max_latency_ms: Math.round(steady.latency.max),
      rate: RATE,
      lost: one.lost + two.lost + lost,
      duplicates,
      peak_rss_mb: [rssA.peakMb, rssB.peakMb],
    }),
  );
  if (one.lost + two.lost + lost > 0) process.exitCode = 1;
} finally {
  for (const l of loops) await l.stop().catch(() => undefined);
  await producer?.close().catch(() => undefined);
  await stopWorkers(workers.filter((w) => w.process.exitCode === null && w.process.signalCode === null));
  redis.disconnect();
  await infra.stop();
}

/**
 * CHAOS: the whole fleet (ingest, features, trainer, scorer as child processes) under steady
 * load — clickstream events and rec requests with unique ids — with one fault per scenario,
 * then counts: events acknowledged by Kafka vs applied to the online state (lost; applied
 * twice), requests sent vs answered (unanswered; duplicate answers), seconds until throughput
 * returns, and workers that needed a restart by hand (exited on their own, or not ready at the
 * end). The bench restarts only what a supervisor restarts: the worker it killed itself.
 *
 *   node --import tsx bench/chaos.ts [--scenarios a,b] [--load-seconds 60] [--rate 20] [--request-rate 4]
 *
 * Scenarios (`--scenarios` picks some by name):
 *   dev-broker-sigkill     the single dev broker SIGKILLed, restarted 10 s later on its port and data dir
 *   broker-sigstop-20s     the broker frozen (SIGSTOP) for 20 s, then SIGCONT: a network partition to clients
 *   redis-sigkill-aof      Redis SIGKILLed and restarted with its append-only file (appendfsync everysec)
 *   redis-restart-empty    Redis SIGKILLed and restarted empty; `rebuild-features` replays `events` from Kafka
 *   kill-<worker>          ingest, features, trainer, scorer SIGKILLed mid-batch; the bench (as supervisor) starts it again
 *   cluster-leader-sigkill a 3-broker cluster: the node leading most of the fleet's partitions SIGKILLed, restarted 30 s later
 *
 * Ends with ONE JSON line {"bench":"CHAOS","scenarios":[…],"lost":…}. Everything runs on its own
 * Kafka and Redis in a temp dir (KAFKA_BROKERS/REDIS_URL are ignored: the bench kills them).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readTopic } from "@recfleet/bus";
import { loadConfig } from "@recfleet/runtime";
import { DEFAULT_EVENT_WEIGHTS } from "@recfleet/features";
import { runRebuildFeaturesCli } from "@recfleet/features";
import { createStore, pseudonymise, storeConfigSchema } from "@recfleet/store";
import {
  startKafka,
  startKafkaCluster,
  startRedis,
  freePort,
  type RunningKafka,
  type RunningRedis,
} from "@recfleet/stack";
import { startWorker, stopWorkers, type RunningWorker, type WorkerName } from "@recfleet/cli";
import type { ClickstreamEvent, RecRequest, Recommendation } from "@recfleet/contracts";
import { startFleet, WORKERS, type Fleet } from "../test/e2e/fleet-helpers";
import { exited, flag, log, numFlag, round } from "./lib";
import { testInfra, type TestInfra } from "@recfleet/testkit";

const LOAD_S = numFlag("load-seconds", "CHAOS_LOAD_SECONDS", 60);
const RATE = numFlag("rate", "CHAOS_RATE", 20);
const REQUEST_RATE = numFlag("request-rate", "CHAOS_REQUEST_RATE", 4);
const PRE_FAULT_S = 15;
const DRAIN_TIMEOUT_MS = 120_000;
/** A worker (re)started by the bench may take this long to open its metrics port on a loaded machine. */
const WORKER_START_MS = 240_000;
const ALL_SCENARIOS = [
  "dev-broker-sigkill",
  "broker-sigstop-20s",
  "redis-sigkill-aof",
  "redis-restart-empty",
  "kill-ingest",
  "kill-features",
  "kill-trainer",
  "kill-scorer",
  "cluster-leader-sigkill",
] as const;
type ScenarioName = (typeof ALL_SCENARIOS)[number];
type SingleBrokerScenario = Exclude<ScenarioName, "cluster-leader-sigkill">;
/** Scenarios or phases that could not run to the end, reported in the JSON line. */
const failures: { phase: string; error: string }[] = [];
const picked = flag("scenarios", "CHAOS_SCENARIOS", ALL_SCENARIOS.join(","))
  .split(",")
  .map((s) => s.trim());
for (const s of picked)
  if (!(ALL_SCENARIOS as readonly string[]).includes(s))
    throw new RangeError(`--scenarios: unknown scenario ${s} (known: ${ALL_SCENARIOS.join(", ")})`);
const wanted = (s: ScenarioName) => picked.includes(s);

interface ScenarioResult {
  name: ScenarioName;
  fault: string;
  events_acked: number;
  lost: number;
  double_applied: number;
  requests_sent: number;
  unanswered: number;
  duplicate_answers: number;
  /** Answers by reason (absent reason = model-driven). */
  answer_reasons: Record<string, number>;
  dead_letters: number;
  /** Seconds from `resume_from` until events and answers flow again at ≥ half the pre-fault rate. */
  resume_s: number | null;
  resume_from: "fault_start" | "fault_end";
  fault_s: number;
  /** Workers whose /readyz went false during the scenario. */
  unready: string[];
  manual_restarts: number;
}

async function redisWithAof(dir: string, port?: number): Promise<RunningRedis> {
  return startRedis({ dir, ...(port ? { port } : {}), appendOnly: true, timeoutMs: 60_000 });
}

function redisRestarter(infra: { redis: RunningRedis }, dir: string, port: number) {
  return async ({ empty }: { empty: boolean }) => {
    infra.redis.process.kill("SIGKILL");
    await new Promise((r) => infra.redis.process.once("exit", r));
    if (empty) rmSync(join(dir, "redis-data"), { recursive: true, force: true });
    infra.redis = await redisWithAof(dir, port);
  };
}

/** Steady load: `RATE` events/s and `REQUEST_RATE` requests/s, each with an id unique to the scenario. */
class Load {
  readonly events: ClickstreamEvent[] = [];
  readonly acked = new Set<string>();
  readonly requests: RecRequest[] = [];
  readonly requestsAcked = new Set<string>();
  private eventQueue: ClickstreamEvent[] = [];
  private requestQueue: RecRequest[] = [];
  private running = true;
  private tick?: NodeJS.Timeout;
  private senders: Promise<void>[] = [];

  constructor(
    private readonly fleet: Fleet,
    private readonly scenario: string,
  ) {}

  start(): void {
    let n = 0;
    let r = 0;
    let carry = 0;
    let carryReq = 0;
    this.tick = setInterval(() => {
      carry += RATE / 10;
      carryReq += REQUEST_RATE / 10;
      for (; carry >= 1; carry--, n++) {
        const e: ClickstreamEvent = {
          eventId: `${this.scenario}-e${n}`,
          userId: `${this.scenario}-u${n % 97}`,
          itemId: `${this.scenario}-i${n}`,
          type: "click",
          ts: Date.now(),
        };
        this.events.push(e);
        this.eventQueue.push(e);
      }
      for (; carryReq >= 1; carryReq--, r++) {
        const q: RecRequest = {
          requestId: `${this.scenario}-r${r}`,
          userId: `${this.scenario}-u${r % 97}`,
          k: 5,
          ts: Date.now(),
        };
        this.requests.push(q);
        this.requestQueue.push(q);
      }
    }, 100);
    // One sender per stream; a send blocks while the broker is away (the producer retries), and
    // what was generated meanwhile goes out in the next send. Only acknowledged ids are "produced".
    this.senders = [
      this.sendLoop(
        () => this.eventQueue.splice(0, 500),
        (batch) =>
          this.fleet.producer.send(
            this.fleet.topics.clickstream,
            batch.map((e) => ({ key: e.userId, value: e })),
          ),
        (batch) => batch.forEach((e) => this.acked.add(e.eventId)),
      ),
      this.sendLoop(
        () => this.requestQueue.splice(0, 500),
        (batch) =>
          this.fleet.producer.send(
            this.fleet.topics.recRequests,
            batch.map((q) => ({ key: q.userId!, value: q })),
          ),
        (batch) => batch.forEach((q) => this.requestsAcked.add(q.requestId)),
      ),
    ];
  }

  private async sendLoop<T>(
    take: () => T[],
    send: (batch: T[]) => Promise<void>,
    done: (batch: T[]) => void,
  ): Promise<void> {
    while (this.running || this.pending() > 0) {
      const batch = take();
      if (batch.length === 0) {
        await sleep(50);
        continue;
      }
      for (;;) {
        try {
          await send(batch);
          done(batch);
          break;
        } catch (err) {
          log(`send failed (${(err as Error).message}); retrying the same ids`);
          await sleep(500);
        }
      }
    }
  }

  private pending(): number {
    return this.eventQueue.length + this.requestQueue.length;
  }

  /** Stops generating and waits until everything generated is acknowledged. */
  async stop(): Promise<void> {
    clearInterval(this.tick);
    this.running = false;
    await Promise.all(this.senders);
  }
}

/** Polls every worker's /readyz once a second; remembers who went unready. */
function watchReadiness(workers: Map<WorkerName, RunningWorker>) {
  const unready = new Set<string>();
  const readyNow = new Map<WorkerName, boolean>();
  let on = true;
  const loop = (async () => {
    while (on) {
      await Promise.all(
        [...workers].map(async ([name, w]) => {
          const ok =
            (
              await fetch(`http://127.0.0.1:${w.metricsPort}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
                () => undefined,
              )
            )?.status === 200;
          readyNow.set(name, ok);
          if (!ok) unready.add(name);
        }),
      );
      await sleep(1000);
    }
  })();
  return {
    unready,
    readyNow,
    stop: async () => {
      on = false;
      await loop;
    },
  };
}

async function ready(w: RunningWorker): Promise<boolean> {
  return (
    (
      await fetch(`http://127.0.0.1:${w.metricsPort}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(
        () => undefined,
      )
    )?.status === 200
  );
}

async function waitReadyOrExit(w: RunningWorker, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(w)) return false;
    if (await ready(w)) return true;
    await sleep(500);
  }
  return false;
}

/** Sum of the high watermarks of a topic's partitions (records ever appended). */
async function topicEnd(fleet: Fleet, topic: string): Promise<number> {
  const admin = fleet.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Per-second counts of `times` (epoch ms) from `t0`. */
function perSecond(times: number[], t0: number, seconds: number): number[] {
  const b = new Array<number>(seconds).fill(0);
  for (const t of times) {
    const i = Math.floor((t - t0) / 1000);
    if (i >= 0 && i < seconds) b[i]!++;
  }
  return b;
}

/**
 * Seconds from `from` until the rate, averaged over 5 s windows (workers send in bursts on a
 * loaded machine), is back to at least half the pre-fault median (null: never in the window).
 */
function resumeAfter(buckets: number[], preFault: number, from: number): number | null {
  const W = 5;
  const rate = (i: number) => buckets.slice(i, i + W).reduce((a, b) => a + b, 0) / W;
  const pre = Array.from({ length: Math.max(1, preFault - W - 2) }, (_, k) => rate(k + 2)).sort((a, b) => a - b);
  const base = pre[Math.floor(pre.length / 2)] ?? 0;
  if (base === 0) return null;
  for (let i = Math.max(0, Math.floor(from)); i + W <= buckets.length; i++) if (rate(i) >= base / 2) return i - from;
  return null;
}

interface Fault {
  describe: string;
  resumeFrom: "fault_start" | "fault_end";
  /** Injects the fault; resolves at the fault's end (infrastructure back, or a killed worker started again). */
  inject(): Promise<void>;
  /** Seconds to wait for the killed worker's readiness (part of resume), if any. */
  killedWorker?: WorkerName;
  /** After the fault and the load: e.g. rebuild-features. */
  after?(): Promise<void>;
}

async function runScenario(
  name: ScenarioName,
  fleet: Fleet,
  workers: Map<WorkerName, RunningWorker>,
  fault: Fault,
): Promise<ScenarioResult> {
  log(`── ${name}: ${fault.describe}`);
  const dlqTopics = [fleet.topics.clickstreamDlq, fleet.topics.eventsDlq, fleet.topics.recRequestsDlq];
  const dlqBefore = (await Promise.all(dlqTopics.map((t) => topicEnd(fleet, t)))).reduce((a, b) => a + b, 0);
  const watch = watchReadiness(workers);
  const load = new Load(fleet, `${name}-${Date.now().toString(36)}`);
  const t0 = Date.now();
  load.start();
  await sleep(PRE_FAULT_S * 1000);
  const faultStart = Date.now();
  try {
    await fault.inject();
  } catch (err) {
    await load.stop();
    await watch.stop();
    throw err;
  }
  const faultEnd = Date.now();
  log(`${name}: fault over after ${((faultEnd - faultStart) / 1000).toFixed(1)} s; load continues`);
  let killedReadyAt: number | undefined;
  if (fault.killedWorker) {
    const w = workers.get(fault.killedWorker)!;
    if (await waitReadyOrExit(w, 120_000)) killedReadyAt = Date.now();
  }
  const loadEnd = Math.max(t0 + LOAD_S * 1000, faultEnd + 20_000);
  while (Date.now() < loadEnd) {
    await sleep(Math.min(10_000, loadEnd - Date.now()));
    log(
      `${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${load.acked.size}/${load.events.length} events and ${load.requestsAcked.size}/${load.requests.length} requests acknowledged`,
    );
  }
  await load.stop();
  const t1 = Date.now();
  if (fault.after) await fault.after();

  // Counting: the online state holds each acknowledged event once; each request has one answer.
  const secret = fleet.env.RECFLEET_PSEUDONYM_SECRET!;
  const store = createStore(fleet.redis, fleet.namespace);
  const { popularityHalfLifeMs } = loadConfig(storeConfigSchema, fleet.env);
  const byUser = new Map<string, ClickstreamEvent[]>();
  for (const e of load.events)
    if (load.acked.has(e.eventId)) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
  const users = [...byUser.keys()];
  const pseudonyms = users.map((u) => pseudonymise(secret, u));
  let lost = Infinity;
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const histories = await store.readUserHistories(pseudonyms, 1000).catch(() => undefined);
    if (histories) {
      lost = 0;
      users.forEach((u, i) => {
        const items = new Set(histories[i]!.map((h) => h.itemId));
        for (const e of byUser.get(u)!) if (!items.has(e.itemId)) lost++;
      });
    }
    if (lost === 0 || Date.now() > drainDeadline) break;
    await sleep(2000);
  }
  const now = Date.now();
  const popular = new Map(
    (await store.readPopularItems(1_000_000, now)).map(({ itemId, score }) => [itemId, score] as const),
  );
  let doubleApplied = 0;
  for (const e of load.events) {
    const score = popular.get(e.itemId);
    if (!load.acked.has(e.eventId) || score === undefined) continue;
    // One click adds its weight, decayed from its time; twice would double it.
    const once = DEFAULT_EVENT_WEIGHTS.click * 2 ** ((e.ts - now) / popularityHalfLifeMs);
    if (score > once * 1.5) doubleApplied++;
  }
  const wantedIds = new Set(load.requests.filter((q) => load.requestsAcked.has(q.requestId)).map((q) => q.requestId));
  const answers = new Map<string, number>();
  const reasons: Record<string, number> = {};
  const answerTimes: number[] = [];
  await readTopic(fleet.kafka, fleet.topics.recommendations, {
    until: (records) => {
      answers.clear();
      answerTimes.length = 0;
      for (const k of Object.keys(reasons)) delete reasons[k];
      for (const r of records) {
        if (!r.value) continue;
        const rec = JSON.parse(r.value.toString("utf8")) as Recommendation;
        if (!wantedIds.has(rec.requestId)) continue;
        answers.set(rec.requestId, (answers.get(rec.requestId) ?? 0) + 1);
        reasons[rec.reason ?? "model"] = (reasons[rec.reason ?? "model"] ?? 0) + 1;
        answerTimes.push(r.timestamp);
      }
      return [...wantedIds].every((id) => answers.has(id));
    },
    timeoutMs: 90_000,
  });
  const eventTimes = (await readTopic(fleet.kafka, fleet.topics.events, { timeoutMs: 60_000 }))
    .map((r) => r.timestamp)
    .filter((t) => t >= t0);
  const seconds = Math.ceil((t1 - t0) / 1000) + 30;
  const ref = fault.resumeFrom === "fault_start" ? faultStart : faultEnd;
  const from = (ref - t0) / 1000;
  const resumes = [
    resumeAfter(perSecond(eventTimes, t0, seconds), PRE_FAULT_S, from),
    resumeAfter(perSecond(answerTimes, t0, seconds), PRE_FAULT_S, from),
    ...(fault.killedWorker ? [killedReadyAt === undefined ? null : (killedReadyAt - ref) / 1000] : []),
  ];
  const resume = resumes.some((r) => r === null) ? null : Math.max(0, ...(resumes as number[]));
  const dlqAfter = (await Promise.all(dlqTopics.map((t) => topicEnd(fleet, t)))).reduce((a, b) => a + b, 0);

  // Manual restarts: a worker that exited without being killed by the bench, or is still not
  // ready a minute after the load ended. The bench restarts it (counted) so the next scenario runs.
  await watch.stop();
  let manual = 0;
  for (const name of WORKERS) {
    const w = workers.get(name)!;
    if (exited(w) || !(await waitReadyOrExit(w, 60_000))) {
      log(`${name} ${exited(w) ? "exited" : "is not ready"} after ${name}: restarting it by hand; see ${w.logPath}`);
      manual++;
      if (!exited(w)) w.process.kill("SIGKILL");
      workers.set(name, await startWorker(name, fleet.env, fleet.logDir, 0, WORKER_START_MS));
      await waitReadyOrExit(workers.get(name)!, 120_000);
    }
  }
  const result: ScenarioResult = {
    name,
    fault: fault.describe,
    events_acked: load.acked.size,
    lost: lost === Infinity ? load.acked.size : lost,
    double_applied: doubleApplied,
    requests_sent: wantedIds.size,
    unanswered: [...wantedIds].filter((id) => !answers.has(id)).length,
    duplicate_answers: [...answers.values()].reduce((s, c) => s + c - 1, 0),
    answer_reasons: reasons,
    dead_letters: dlqAfter - dlqBefore,
    resume_s: resume === null ? null : round(resume, 1),
    resume_from: fault.resumeFrom,
    fault_s: round((faultEnd - faultStart) / 1000, 1),
    unready: [...watch.unready].sort(),
    manual_restarts: manual,
  };
  log(`${name}: ${JSON.stringify(result)}`);
  return result;
}

function killAndRestartWorker(fleet: Fleet, workers: Map<WorkerName, RunningWorker>, name: WorkerName): Fault {
  return {
    describe: `${name} SIGKILLed mid-batch and started again (as a supervisor would)`,
    resumeFrom: "fault_start",
    killedWorker: name,
    async inject() {
      const w = workers.get(name)!;
      const gone = new Promise((r) => w.process.once("exit", r));
      w.process.kill("SIGKILL");
      await gone;
      workers.set(name, await startWorker(name, fleet.env, fleet.logDir, 0, WORKER_START_MS));
    },
  };
}

const FLEET_ENV: Record<string, string> = {
  // No crypto-shredding here: its per-user keys live in Redis, and a Redis restarted empty takes
  // them along (the events they sealed are then erased for good, by design; docs/architecture.md).
  RECFLEET_MASTER_KEY: "",
  LOG_LEVEL: "warn",
  SCORER_THREADS: "1",
};

/** startFleet, tried 3 times: on a loaded machine a worker can miss its 60 s to open the metrics port. */
async function startFleetPatiently(infra: TestInfra, label: string): Promise<Fleet> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startFleet(infra, label, FLEET_ENV, { portTimeoutMs: WORKER_START_MS });
    } catch (err) {
      if (attempt >= 3) throw err;
      log(`fleet start failed (${(err as Error).message.split("\n")[0]}); trying again`);
    }
  }
}

async function singleBrokerPhase(results: ScenarioResult[]): Promise<void> {
  const names = ALL_SCENARIOS.filter((s): s is SingleBrokerScenario => s !== "cluster-leader-sigkill" && wanted(s));
  if (names.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), "recfleet-chaos-"));
  const kafkaDir = join(dir, "kafka");
  const redisDir = join(dir, "redis");
  const kafkaPort = await freePort();
  let kafka: RunningKafka = await startKafka({ dir: kafkaDir, port: kafkaPort, heapMb: 384, timeoutMs: 240_000 });
  const redisPort = await freePort();
  const infra = { redis: await redisWithAof(redisDir, redisPort) };
  const restartRedis = redisRestarter(infra, redisDir, redisPort);
  log(`single broker at ${kafka.brokers}, Redis (AOF) at ${infra.redis.url}; logs in ${dir}`);
  let fleet: Fleet | undefined;
  const workers = new Map<WorkerName, RunningWorker>();
  try {
    fleet = await startFleetPatiently(testInfra({ KAFKA_BROKERS: kafka.brokers, REDIS_URL: infra.redis.url }), "chaos");
    const f = fleet;
    for (const n of WORKERS) workers.set(n, f.worker(n));
    const fleetStart = Date.now();
    const faults: Record<SingleBrokerScenario, Fault> = {
      "dev-broker-sigkill": {
        describe: "the single broker SIGKILLed, restarted 10 s later on the same port and data dir",
        resumeFrom: "fault_end",
        async inject() {
          kafka.process.kill("SIGKILL");
          await new Promise((r) => kafka.process.once("exit", r));
          await sleep(10_000);
          kafka = await startKafka({
            dir: kafkaDir,
            port: kafkaPort,
            controllerPort: kafka.controllerPort,
            heapMb: 384,
            timeoutMs: 240_000,
          });
        },
      },
      "broker-sigstop-20s": {
        describe: "the broker frozen with SIGSTOP for 20 s, then SIGCONT",
        resumeFrom: "fault_end",
        async inject() {
          kafka.process.kill("SIGSTOP");
          await sleep(20_000);
          kafka.process.kill("SIGCONT");
        },
      },
      "redis-sigkill-aof": {
        describe: "Redis SIGKILLed and restarted from its append-only file (appendfsync everysec)",
        resumeFrom: "fault_end",
        inject: () => restartRedis({ empty: false }),
      },
      "redis-restart-empty": {
        describe: "Redis SIGKILLed and restarted empty; then `npx recfleet rebuild-features --from <fleet start>`",
        resumeFrom: "fault_end",
        inject: () => restartRedis({ empty: true }),
        async after() {
          const fromIso = new Date(fleetStart - 60_000).toISOString();
          log(`rebuild-features --from ${fromIso}`);
          const lines: string[] = [];
          const code = await runRebuildFeaturesCli(["--from", fromIso], f.env, (l) => lines.push(l));
          log(`rebuild-features exited ${code}: ${lines.join(" ")}`);
        },
      },
      "kill-ingest": killAndRestartWorker(f, workers, "ingest"),
      "kill-features": killAndRestartWorker(f, workers, "features"),
      "kill-trainer": killAndRestartWorker(f, workers, "trainer"),
      "kill-scorer": killAndRestartWorker(f, workers, "scorer"),
    };
    for (const name of names) {
      try {
        results.push(await runScenario(name, f, workers, faults[name]));
      } catch (err) {
        // Reported, and the fleet made whole again so the other scenarios still run.
        log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
        failures.push({ phase: name, error: (err as Error).message });
        for (const n of WORKERS)
          if (exited(workers.get(n)!)) workers.set(n, await startWorker(n, f.env, f.logDir, 0, WORKER_START_MS));
      }
    }
  } finally {
    await stopWorkers([...workers.values()]);
    await fleet?.stop();
    await Promise.all([kafka.stop(), infra.redis.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function clusterPhase(results: ScenarioResult[]): Promise<void> {
  if (!wanted("cluster-leader-sigkill")) return;
  const dir = mkdtempSync(join(tmpdir(), "recfleet-chaos-cluster-"));
  log("starting a 3-broker KRaft cluster …");
  const cluster = await startKafkaCluster({ dir: join(dir, "kafka"), nodes: 3, heapMb: 256, timeoutMs: 300_000 });
  const redisDir = join(dir, "redis");
  const infra = { redis: await redisWithAof(redisDir) };
  log(`3 brokers at ${cluster.brokers}, Redis at ${infra.redis.url}; logs in ${dir}`);
  let fleet: Fleet | undefined;
  const workers = new Map<WorkerName, RunningWorker>();
  try {
    fleet = await startFleetPatiently(
      testInfra({ KAFKA_BROKERS: cluster.brokers, REDIS_URL: infra.redis.url }),
      "chaos-3",
    );
    const f = fleet;
    for (const n of WORKERS) workers.set(n, f.worker(n));
    const fault: Fault = {
      describe: "of 3 brokers, the leader of most fleet partitions SIGKILLed, restarted 30 s later",
      // The cluster keeps serving: resume counts from the kill, not from the restart.
      resumeFrom: "fault_start",
      async inject() {
        const admin = f.kafka.admin();
        await admin.connect();
        const busy = [f.topics.clickstream, f.topics.events, f.topics.recRequests, f.topics.recommendations];
        const meta = await admin.fetchTopicMetadata({ topics: busy });
        await admin.disconnect();
        const leads = new Map<number, number>();
        for (const t of meta.topics) for (const p of t.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
        const [victimId, count] = [...leads].sort((a, b) => b[1] - a[1])[0]!;
        const victim = cluster.nodes.find((n) => n.nodeId === victimId)!;
        log(`SIGKILL node ${victimId} (leads ${count} of the busy partitions)`);
        await victim.kill();
        await sleep(30_000);
        await victim.restart();
      },
    };
    results.push(await runScenario("cluster-leader-sigkill", f, workers, fault));
  } finally {
    await stopWorkers([...workers.values()]);
    await fleet?.stop();
    await Promise.all([cluster.stop(), infra.redis.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = Date.now();
log(`CHAOS: ${picked.length} scenarios, ${LOAD_S} s of load each, ${RATE} events/s and ${REQUEST_RATE} requests/s`);
const results: ScenarioResult[] = [];
// A phase that cannot run (e.g. its infrastructure did not start) is reported in the JSON line
// instead of ending the bench without one.
for (const [phase, run] of [
  ["cluster", clusterPhase],
  ["single-broker", singleBrokerPhase],
] as const) {
  try {
    await run(results);
  } catch (err) {
    log(`${phase} phase failed: ${(err as Error).stack ?? String(err)}`);
    failures.push({ phase, error: (err as Error).message });
  }
}
log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
console.log(
  JSON.stringify({
    bench: "CHAOS",
    load_seconds: LOAD_S,
    rate: RATE,
    request_rate: REQUEST_RATE,
    scenarios: results,
    lost: results.reduce((s, r) => s + r.lost, 0),
    double_applied: results.reduce((s, r) => s + r.double_applied, 0),
    unanswered: results.reduce((s, r) => s + r.unanswered, 0),
    manual_restarts: results.reduce((s, r) => s + r.manual_restarts, 0),
    ...(failures.length > 0 ? { failures } : {}),
  }),
);
process.exit(0);

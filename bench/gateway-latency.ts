/**
 * GATEWAY-LATENCY: HTTP request → answer through services/gateway vs the direct Kafka request →
 * answer of the same scorer, in the same run, at a steady rate (default 200 requests/s).
 *
 * Fleet: the real scorer worker process (a random model over 1,682 items, d=64, 1,000 users with
 * 20 history items each, like E2E-LATENCY) and TWO gateway processes (services/gateway main.ts),
 * each reading only the rec.replies partition it leased.
 *
 *  - baseline phase: this process produces rec.requests and consumes recommendations (one clock);
 *  - gateway phase: the same rate of GET /v1/recommendations, alternating between the two
 *    gateways, open-loop arrivals with at most `--concurrency` requests in flight (keep-alive);
 *    latency = response time.
 *
 * Every gateway answer is checked to be its asker's: the pseudonym of the user asked (the bench
 * knows the secret), a requestId with the prefix of the gateway asked, and neither gateway read
 * an answer it did not ask for (recfleet_gateway_answers_total{outcome="foreign"} = 0; "late" ones,
 * past the deadline, are its own and counted as errors through their 504).
 * errors = non-200 answers + misrouted answers + unanswered baseline requests.
 *
 *   node --import tsx bench/gateway-latency.ts [--rate 200] [--duration 30] [--concurrency 64]
 *   env: BENCH_RATE, BENCH_DURATION_S, BENCH_CONCURRENCY; KAFKA_BROKERS + REDIS_URL to reuse a stack
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createKafka, createProducer, ensureFleetTopics } from "@recfleet/bus";
import { topicNames, type Recommendation } from "@recfleet/contracts";
import { createLogger } from "@recfleet/runtime";
import { createApiKeys, createPseudonymiser } from "@recfleet/store";
import { waitForPortFile } from "@recfleet/stack";
import { uniqueName } from "@recfleet/testkit";
import { scrapeMetric, startWorker, stopWorkers, waitReady, type RunningWorker } from "@recfleet/cli";
import {
  answerLatencies,
  BENCH_SECRET,
  benchInfra,
  benchWorkerEnv,
  collector,
  fmtMs,
  log,
  nowMs,
  numFlag,
  pacedArrivals,
  publishModel,
  randomItemMatrix,
  randomModel,
  round,
  seedHistories,
  summarize,
} from "./lib";

const RATE = numFlag("rate", "BENCH_RATE", 200);
const DURATION_S = numFlag("duration", "BENCH_DURATION_S", 30);
const CONCURRENCY = numFlag("concurrency", "BENCH_CONCURRENCY", 64);
const ITEMS = 1682;
const USERS = 1000;
const PARTITIONS = 4;
const WARMUP_S = 3;
const logger = createLogger("bench", { level: "error" });

const infra = await benchInfra("gateway");
const kafka = createKafka({ brokers: infra.brokers, clientId: "bench-gateway", logger });
const redis = new Redis(infra.redisUrl);
const ns = uniqueName("gwlat");
const topics = topicNames(ns);
const workers: RunningWorker[] = [];
try {
  await ensureFleetTopics(kafka, ns, { partitions: PARTITIONS });
  log(`publishing a random model (${ITEMS} items, d=64) and seeding ${USERS} users × 20 history items …`);
  await publishModel(redis, ns, await randomModel(ITEMS, { epochs: 1 }), "v1", randomItemMatrix(ITEMS, 64, 3));
  const users = Array.from({ length: USERS }, (_, u) => `benchuser${u}`);
  await seedHistories(redis, ns, users, ITEMS, 20);
  const env = benchWorkerEnv(infra, ns, PARTITIONS);
  const scorer = await startWorker("scorer", env, infra.logDir);
  workers.push(scorer);
  const gateways: { worker: RunningWorker; url: string }[] = [];
  for (const instance of [1, 2]) {
    const portFile = join(infra.logDir, `gateway-api-${instance}.port`);
    const worker = await startWorker(
      "gateway",
      { ...env, GATEWAY_PORT: "0", GATEWAY_HOST: "127.0.0.1", GATEWAY_PORT_FILE: portFile, GATEWAY_DEADLINE: "5s" },
      infra.logDir,
      instance,
    );
    workers.push(worker);
    gateways.push({ worker, url: `http://127.0.0.1:${await waitForPortFile(portFile, worker.process)}` });
  }
  for (const w of workers) await waitReady(w);
  const key = (await createApiKeys(redis, ns).create({ name: "bench", scopes: ["recs:read"], rate: 1e5, burst: 1e5 }))
    .key;
  log(
    `scorer pid ${scorer.process.pid}, gateways pid ${gateways.map((g) => g.worker.process.pid).join(" and ")} ready`,
  );

  // Baseline: direct Kafka request → answer, arrival times by requestId.
  const producer = await createProducer(kafka);
  const answers = await collector(kafka, topics.recommendations, `${ns}.collect`, logger);
  const arrived = answers.arrived;

  const direct = async (seconds: number, tag: string) => {
    const sent = new Map<string, number>();
    await pacedArrivals(RATE, seconds, async (from, to, t) => {
      const batch = [];
      for (let i = from; i < to; i++) {
        const requestId = `${tag}-${i}`;
        sent.set(requestId, t);
        const userId = users[i % USERS]!;
        batch.push({ key: userId, value: { requestId, userId, ts: Math.floor(Date.now()), k: 10 } });
      }
      await producer.send(topics.recRequests, batch);
    });
    return answerLatencies(sent, arrived);
  };

  const pseudonym = createPseudonymiser(BENCH_SECRET);
  const prefixes = gateways.map(() => new Set<string>());
  const viaGateway = async (seconds: number) => {
    const latencies: number[] = [];
    let errors = 0;
    let misrouted = 0;
    let inFlight = 0;
    let sent = 0;
    let peak = 0;
    const running = new Set<Promise<void>>();
    const one = async (i: number) => {
      const g = i % gateways.length;
      const user = users[i % USERS]!;
      const t = nowMs();
      try {
        const res = await fetch(`${gateways[g]!.url}/v1/recommendations?user=${user}&k=10`, {
          headers: { authorization: `Bearer ${key}` },
        });
        const body = (await res.json()) as Recommendation;
        latencies.push(nowMs() - t);
        if (res.status !== 200 || res.headers.get("x-recfleet-fallback")) errors++;
        else if (body.user !== pseudonym(user)) misrouted++;
        else prefixes[g]!.add(body.requestId.slice(0, body.requestId.lastIndexOf("-")));
      } catch {
        errors++;
      }
    };
    const start = nowMs();
    while (nowMs() - start < seconds * 1000) {
      const due = Math.floor(((nowMs() - start) / 1000) * RATE);
      while (sent < due && inFlight < CONCURRENCY) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        const p = one(sent++).finally(() => {
          inFlight--;
          running.delete(p);
        });
        running.add(p);
      }
      await sleep(1);
    }
    await Promise.all(running);
    return {
      summary: summarize(latencies),
      sent,
      errors,
      misrouted,
      peakInFlight: peak,
      seconds: (nowMs() - start) / 1000,
    };
  };

  log(`--- ${RATE} requests/s, ${DURATION_S} s per phase (after ${WARMUP_S} s warm-up each) …`);
  await direct(WARMUP_S, "w-direct");
  const base = await direct(DURATION_S, "direct");
  log(`direct Kafka ${RATE}/s: ${fmtMs(base.summary)}, unanswered ${base.unanswered} of ${base.sent}`);
  await viaGateway(WARMUP_S);
  const ours = await viaGateway(DURATION_S);
  const ratio = ours.summary.p99 / base.summary.p99;
  log(
    `gateway ${RATE}/s over 2 gateways: ${fmtMs(ours.summary)}, errors ${ours.errors}, misrouted ${ours.misrouted}, peak in flight ${ours.peakInFlight} — p99 ratio ${ratio.toFixed(2)}× direct Kafka`,
  );
  const foreign = await Promise.all(
    gateways.map((g) => scrapeMetric(g.worker, "recfleet_gateway_answers_total", { outcome: "foreign" })),
  );
  const late = await Promise.all(
    gateways.map((g) => scrapeMetric(g.worker, "recfleet_gateway_answers_total", { outcome: "late" })),
  );
  const matched = await Promise.all(
    gateways.map((g) => scrapeMetric(g.worker, "recfleet_gateway_answers_total", { outcome: "matched" })),
  );
  const distinct = prefixes.every((p) => p.size === 1) && [...prefixes[0]!][0] !== [...prefixes[1]!][0];
  log(
    `answers read per gateway: matched ${matched.join(" / ")}, late ${late.join(" / ")}, foreign ${foreign.join(" / ")}; each gateway's answers carry its own request prefix: ${distinct}`,
  );
  await answers.loop.stop();
  await producer.close();
  const errors =
    ours.errors + ours.misrouted + base.unanswered + foreign.reduce((a, b) => a + b, 0) + (distinct ? 0 : 1);
  console.log(
    JSON.stringify({
      bench: "GATEWAY-LATENCY",
      p50_ms: round(ours.summary.p50, 2),
      p99_ms: round(ours.summary.p99, 2),
      baseline_p99_ms: round(base.summary.p99, 2),
      ratio_p99: round(ratio),
      rps: round(ours.sent / ours.seconds, 1),
      errors,
      baseline_p50_ms: round(base.summary.p50, 2),
      gateways: gateways.length,
      answers_to_asker: distinct && ours.misrouted === 0 && foreign.every((u) => u === 0),
      duration_s: DURATION_S,
      goal_p99_within_1_3x: ratio <= 1.3,
    }),
  );
} finally {
  await stopWorkers(workers);
  redis.disconnect();
  await infra.stop();
}

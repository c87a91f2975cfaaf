/**
 * KAFKA-CLIENT (issue 13, item 5): the Kafka client's own cost per message, kafkajs against the
 * candidate @platformatic/kafka (pure JavaScript, from npm, nothing downloaded at install), in
 * the same run on the same broker. Each client runs as a bare echo worker in its own process
 * (consume → produce the same key and value bytes → commit, no work): kafkajs through the
 * packages/bus consumer loop and producer (bench/lib.ts startEchoWorker, as E2E-LATENCY's
 * baseline), the candidate through packages/bus startCandidateEchoWorker with the same settings
 * (maxWait 100 ms, 1 MiB per partition, one partition batch at a time, idempotent acks=all
 * producer, gzip from 4 KiB of values, commit after the produce is acknowledged). Each client has
 * its own topics (BENCH_PARTITIONS in and out); the clients take turns, never both at once.
 *
 * Paced phases, at each rate: kafkajs then the candidate, each a fresh echo process, 3 s of
 * warm-up, then `--duration` seconds of ~220-byte JSON requests (rec.requests-like, keyed by
 * user); latency = the time this process consumes the echo − the time it produced the request
 * (one clock), p50/p99/max, unanswered, and the echo process's CPU time (/proc/<pid>/stat) per
 * answered message and per second. After the first rate's warm-up, `--idle` seconds with no
 * traffic give each client's fixed CPU cost (its empty polls and heartbeats). Backlog drain, per
 * client: `--drain` messages produced while no echo runs, then the echo starts; the clock runs
 * from its "ready" (group joined) until the output topic's high watermarks hold all of them
 * (polled every 20 ms); msgs/s and CPU per message.
 * Every sent id must arrive at the output ("lost", 0 expected; duplicates are counted too).
 * Ends with one JSON line; ratios are candidate / kafkajs (p99, CPU per message, drain rate).
 *
 *   node --import tsx bench/kafka-client.ts [--rates 200,500] [--duration 20] [--drain 50000] [--idle 5]
 *   env: BENCH_RATES, BENCH_DURATION_S, BENCH_DRAIN, BENCH_IDLE_S, BENCH_PARTITIONS (4);
 *   KAFKA_BROKERS + REDIS_URL to reuse a stack (else it starts its own Kafka + Redis).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createKafka, createProducer, ensureTopics, startCandidateEchoWorker, type ConsumerLoop } from "@recfleet/bus";
import { createLogger } from "@recfleet/runtime";
import { uniqueName } from "@recfleet/testkit";
import {
  answerLatencies,
  benchInfra,
  collector,
  cpuMsOf,
  exited,
  fmtMs,
  listFlag,
  log,
  nowMs,
  numFlag,
  pacedArrivals,
  round,
  rssOf,
  startEchoWorker,
  type Summary,
} from "./lib";

const logger = createLogger("bench", { level: "error" });
const CLIENTS = ["kafkajs", "candidate"] as const;
type Client = (typeof CLIENTS)[number];

// ---------------------------------------------------------------- echo worker child
const childFlag = process.argv.indexOf("--echo-worker");
if (childFlag >= 0) {
  const which = process.argv[childFlag + 1] as Client;
  const env = process.env;
  const brokers = env.KAFKA_BROKERS!.split(",");
  const topics = { groupId: env.ECHO_GROUP!, inTopic: env.ECHO_IN!, outTopic: env.ECHO_OUT! };
  let close: () => Promise<void>;
  if (which === "kafkajs") {
    const kafka = createKafka({ brokers, clientId: "bench-echo", logger });
    const echo = await startEchoWorker(kafka, { ...topics, logger });
    close = () => echo.close();
  } else {
    const echo = await startCandidateEchoWorker({ brokers, ...topics, clientId: "bench-candidate-echo" });
    echo.done.catch((err: unknown) => {
      console.error(`candidate echo worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    });
    close = () => echo.close();
  }
  process.once(
    "SIGTERM",
    () =>
      void close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`${which} echo worker: close failed: ${String(err)}`);
          process.exit(1);
        },
      ),
  );
  console.log("ready");
  await new Promise(() => {});
}

const RATES = listFlag("rates", "BENCH_RATES", "200,500");
const DURATION_S = numFlag("duration", "BENCH_DURATION_S", 20);
const DRAIN_N = numFlag("drain", "BENCH_DRAIN", 50_000);
const PARTITIONS = numFlag("partitions", "BENCH_PARTITIONS", 4);
const WARMUP_S = 3;
/** Seconds with no traffic after the first rate's warm-up: the client's fixed cost (polls, heartbeats). */
const IDLE_S = numFlag("idle", "BENCH_IDLE_S", 5);
const USERS = 1000;

const versionOf = (pkg: string): string =>
  (
    JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;

const userOf = (i: number): string => `p${((i % USERS) * 2_654_435_761).toString(16).padStart(8, "0")}a1c3e5b7d9f1a3c5`;
/** A rec.requests-like value (~220 bytes of JSON): the ids, the user's pseudonym, policy, exclusions, deadline. */
const requestValue = (requestId: string, i: number, t: number): string =>
  JSON.stringify({
    requestId,
    user: userOf(i),
    ts: Math.floor(t),
    k: 10,
    policy: "epsilon:0.1",
    exclude: [`item${(i * 7919) % 1682}`, `item${(i * 104_729) % 1682}`, `item${(i * 31) % 1682}`],
    reason: "home",
    replyPartition: i % PARTITIONS,
    deadline: Math.floor(t) + 500,
  });

const infra = await benchInfra("kafka-client");
const kafka = createKafka({ brokers: infra.brokers, clientId: "bench-kafka-client", logger });
const ns = uniqueName("kc");
const topicsOf = (c: Client) => ({
  in: `${ns}.${c}.in`,
  out: `${ns}.${c}.out`,
  drainIn: `${ns}.${c}.drain.in`,
  drainOut: `${ns}.${c}.drain.out`,
});
const children = new Set<ChildProcess>();
const loops: ConsumerLoop[] = [];
const admin = kafka.admin();
let adminConnected = false;

/** An echo worker process of `client`, resolved once it has joined its group and runs. */
async function spawnEcho(client: Client, inTopic: string, outTopic: string, groupId: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--echo-worker", client], {
    env: { ...process.env, ...infra.env, ECHO_IN: inTopic, ECHO_OUT: outTopic, ECHO_GROUP: groupId },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line === "ready") resolve();
      else console.log(`# [${client} echo] ${line}`);
    });
    child.once("exit", (code, signal) => reject(new Error(`${client} echo worker exited (${code ?? signal})`)));
  });
  return child;
}

async function stopEcho(child: ChildProcess): Promise<void> {
  if (!exited({ process: child })) {
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await gone;
    clearTimeout(timer);
  }
  children.delete(child);
}

interface PacedResult {
  summary: Summary;
  sent: number;
  unanswered: number;
  duplicates: number;
  cpuUsPerMessage: number;
  cpuMsPerSecond: number;
  peakRssMb: number;
}

interface DrainResult {
  n: number;
  seconds: number;
  msgsPerS: number;
  cpuUsPerMessage: number;
  /** Ready → the last echo consumed by this process (includes our own collector's lag). */
  collectorSeconds: number;
  lost: number;
  duplicates: number;
  peakRssMb: number;
}

try {
  await ensureTopics(
    kafka,
    CLIENTS.flatMap((c) => {
      const t = topicsOf(c);
      return [
        { topic: t.in, partitions: PARTITIONS },
        { topic: t.out, partitions: PARTITIONS },
        { topic: t.drainIn, partitions: PARTITIONS },
        { topic: t.drainOut, partitions: PARTITIONS },
        // The kafkajs loop's dead-letter topics (never written: an echo rejects nothing).
        { topic: `${t.in}.dlq`, partitions: 1 },
        { topic: `${t.drainIn}.dlq`, partitions: 1 },
      ];
    }),
  );
  await admin.connect();
  adminConnected = true;
  const collectors = new Map<
    Client,
    { paced: Awaited<ReturnType<typeof collector>>; drain: Awaited<ReturnType<typeof collector>> }
  >();
  for (const c of CLIENTS) {
    const t = topicsOf(c);
    const paced = await collector(kafka, t.out, `${ns}.collect-${c}`, logger);
    const drain = await collector(kafka, t.drainOut, `${ns}.collect-${c}-drain`, logger);
    loops.push(paced.loop, drain.loop);
    collectors.set(c, { paced, drain });
  }
  const producer = await createProducer(kafka);
  const valueBytes = Buffer.byteLength(requestValue("kafkajs-500-12345", 12345, nowMs()));
  log(
    `kafkajs ${versionOf("kafkajs")} vs @platformatic/kafka ${versionOf("@platformatic/kafka")} on Node ${process.version}; ` +
      `${PARTITIONS} partitions per topic, values ~${valueBytes} bytes`,
  );
  const lostAll: Record<Client, number> = { kafkajs: 0, candidate: 0 };
  const dupAll: Record<Client, number> = { kafkajs: 0, candidate: 0 };

  /** `rate`/s into `client`'s echo for `seconds`, then waits for the answers. */
  const paced = async (client: Client, echo: ChildProcess, rate: number, seconds: number, tag: string) => {
    const { paced: col } = collectors.get(client)!;
    const pid = echo.pid!;
    const startedAt = nowMs();
    const cpuBefore = cpuMsOf(pid);
    const sent = new Map<string, number>();
    const arrivalsBefore = col.arrivals.length;
    await pacedArrivals(rate, seconds, async (from, to, t) => {
      const batch = [];
      for (let i = from; i < to; i++) {
        const requestId = `${tag}-${i}`;
        sent.set(requestId, t);
        batch.push({ key: userOf(i), value: requestValue(requestId, i, t) });
      }
      await producer.send(topicsOf(client).in, batch);
    });
    const answers = await answerLatencies(sent, col.arrived);
    const cpuMs = cpuMsOf(pid) - cpuBefore;
    const wallS = (nowMs() - startedAt) / 1000;
    if (exited({ process: echo })) throw new Error(`the ${client} echo worker exited during ${tag}`);
    const duplicates = col.arrivals.length - arrivalsBefore - (answers.sent - answers.unanswered);
    lostAll[client] += answers.unanswered;
    dupAll[client] += Math.max(0, duplicates);
    return {
      summary: answers.summary,
      sent: answers.sent,
      unanswered: answers.unanswered,
      duplicates,
      cpuUsPerMessage: (cpuMs * 1000) / Math.max(1, answers.sent - answers.unanswered),
      cpuMsPerSecond: cpuMs / wallS,
      peakRssMb: rssOf(pid).peakMb,
    } satisfies PacedResult;
  };

  const pacedRows: { rate: number; results: Record<Client, PacedResult> }[] = [];
  const idleCpuMsPerS: Record<Client, number> = { kafkajs: NaN, candidate: NaN };
  for (const rate of RATES) {
    const results = {} as Record<Client, PacedResult>;
    for (const client of CLIENTS) {
      const t = topicsOf(client);
      const echo = await spawnEcho(client, t.in, t.out, `${ns}.${client}.echo`);
      log(`--- ${client} ${rate}/s: echo pid ${echo.pid}, ${WARMUP_S} s warm-up, then ${DURATION_S} s …`);
      await paced(client, echo, rate, WARMUP_S, `w-${client}-${rate}`);
      if (rate === RATES[0] && IDLE_S > 0) {
        const cpuBefore = cpuMsOf(echo.pid!);
        await sleep(IDLE_S * 1000);
        idleCpuMsPerS[client] = (cpuMsOf(echo.pid!) - cpuBefore) / IDLE_S;
        log(`${client.padEnd(9)} idle: CPU ${Math.round(idleCpuMsPerS[client])} ms/s with no traffic (${IDLE_S} s)`);
      }
      const r = await paced(client, echo, rate, DURATION_S, `${client}-${rate}`);
      await stopEcho(echo);
      log(
        `${client.padEnd(9)} ${rate}/s: ${fmtMs(r.summary)}, unanswered ${r.unanswered} of ${r.sent}, ` +
          `CPU ${Math.round(r.cpuUsPerMessage)} µs/message (${Math.round(r.cpuMsPerSecond)} ms/s), peak RSS ${r.peakRssMb} MiB`,
      );
      results[client] = r;
    }
    pacedRows.push({ rate, results });
  }

  /** Sum of the output topic's high watermarks: how many messages the echo has produced. */
  const outputCount = async (topic: string): Promise<number> =>
    (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);

  const drain = async (client: Client): Promise<DrainResult> => {
    const t = topicsOf(client);
    const { drain: col } = collectors.get(client)!;
    const tag = `drain-${client}`;
    log(`--- ${client} drain: producing ${DRAIN_N} messages with no echo running …`);
    const ids: string[] = [];
    for (let from = 0; from < DRAIN_N; from += 2000) {
      const batch = [];
      const t0 = nowMs();
      for (let i = from; i < Math.min(DRAIN_N, from + 2000); i++) {
        const requestId = `${tag}-${i}`;
        ids.push(requestId);
        batch.push({ key: userOf(i), value: requestValue(requestId, i, t0) });
      }
      await producer.send(t.drainIn, batch);
    }
    const echo = await spawnEcho(client, t.drainIn, t.drainOut, `${ns}.${client}.drain-echo`);
    const readyAt = nowMs();
    const cpuBefore = cpuMsOf(echo.pid!);
    const deadline = readyAt + Math.max(120_000, DRAIN_N * 5);
    let doneAt = NaN;
    while (nowMs() < deadline) {
      if ((await outputCount(t.drainOut)) >= DRAIN_N) {
        doneAt = nowMs();
        break;
      }
      if (exited({ process: echo })) throw new Error(`the ${client} echo worker exited during the drain`);
      await sleep(20);
    }
    const cpuMs = cpuMsOf(echo.pid!) - cpuBefore;
    const peakRssMb = rssOf(echo.pid!).peakMb;
    // Every id at the output, read back by our collector (up to 60 s more).
    const until = nowMs() + 60_000;
    while (ids.some((id) => !col.arrived.has(id)) && nowMs() < until) await sleep(50);
    await stopEcho(echo);
    const lost = ids.filter((id) => !col.arrived.has(id)).length;
    const lastArrival = ids.reduce((last, id) => Math.max(last, col.arrived.get(id) ?? -Infinity), -Infinity);
    const duplicates = col.arrivals.length - col.arrived.size;
    lostAll[client] += lost;
    dupAll[client] += duplicates;
    const seconds = (doneAt - readyAt) / 1000;
    const r: DrainResult = {
      n: DRAIN_N,
      seconds,
      msgsPerS: DRAIN_N / seconds,
      cpuUsPerMessage: (cpuMs * 1000) / DRAIN_N,
      collectorSeconds: (lastArrival - readyAt) / 1000,
      lost,
      duplicates,
      peakRssMb,
    };
    log(
      `${client.padEnd(9)} drain of ${DRAIN_N}: ${Number.isFinite(seconds) ? seconds.toFixed(2) : "timed out"} s, ` +
        `${Math.round(r.msgsPerS)} msgs/s, CPU ${r.cpuUsPerMessage.toFixed(1)} µs/message, lost ${lost}, duplicates ${duplicates}, ` +
        `peak RSS ${peakRssMb} MiB (all read back after ${r.collectorSeconds.toFixed(2)} s)`,
    );
    return r;
  };

  const drains = {} as Record<Client, DrainResult>;
  if (DRAIN_N > 0) for (const client of CLIENTS) drains[client] = await drain(client);
  await producer.close();

  // ------------------------------------------------------------ table + JSON
  const ratio = (a: number, b: number) => round(a / b, 2);
  const header = [
    "client",
    "rate/s",
    "sent",
    "p50 ms",
    "p99 ms",
    "max ms",
    "unans.",
    "dup",
    "CPU µs/msg",
    "CPU ms/s",
    "RSS MiB",
  ];
  const widths = [10, 7, 7, 8, 8, 8, 7, 5, 11, 9, 8];
  const line = (cells: (string | number)[]) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(" ");
  console.log("");
  console.log(line(header));
  for (const { rate, results } of pacedRows) {
    for (const c of CLIENTS) {
      const r = results[c];
      console.log(
        line([
          c,
          rate,
          r.sent,
          r.summary.p50.toFixed(2),
          r.summary.p99.toFixed(2),
          r.summary.max.toFixed(2),
          r.unanswered,
          r.duplicates,
          Math.round(r.cpuUsPerMessage),
          Math.round(r.cpuMsPerSecond),
          r.peakRssMb,
        ]),
      );
    }
    const k = results.kafkajs;
    const cand = results.candidate;
    console.log(
      `  candidate/kafkajs at ${rate}/s: p50 ${ratio(cand.summary.p50, k.summary.p50)}×, p99 ${ratio(cand.summary.p99, k.summary.p99)}×, ` +
        `CPU per message ${ratio(cand.cpuUsPerMessage, k.cpuUsPerMessage)}×`,
    );
  }
  if (DRAIN_N > 0) {
    console.log("");
    console.log(line(["drain", "n", "seconds", "msgs/s", "CPU µs/msg", "lost", "dup", "RSS MiB"]));
    for (const c of CLIENTS) {
      const d = drains[c];
      console.log(
        line([
          c,
          d.n,
          d.seconds.toFixed(2),
          Math.round(d.msgsPerS),
          d.cpuUsPerMessage.toFixed(1),
          d.lost,
          d.duplicates,
          d.peakRssMb,
        ]),
      );
    }
    console.log(
      `  candidate/kafkajs drain: rate ${ratio(drains.candidate.msgsPerS, drains.kafkajs.msgsPerS)}×, ` +
        `CPU per message ${ratio(drains.candidate.cpuUsPerMessage, drains.kafkajs.cpuUsPerMessage)}×`,
    );
  }
  if (IDLE_S > 0)
    console.log(
      `\nidle (no traffic, ${IDLE_S} s): kafkajs ${Math.round(idleCpuMsPerS.kafkajs)} ms CPU/s, candidate ${Math.round(idleCpuMsPerS.candidate)} ms CPU/s`,
    );
  console.log("");
  const pacedJson = (r: PacedResult) => ({
    sent: r.sent,
    p50_ms: round(r.summary.p50, 2),
    p99_ms: round(r.summary.p99, 2),
    max_ms: round(r.summary.max, 2),
    unanswered: r.unanswered,
    duplicates: r.duplicates,
    cpu_us_per_message: Math.round(r.cpuUsPerMessage),
    cpu_ms_per_s: Math.round(r.cpuMsPerSecond),
    peak_rss_mb: r.peakRssMb,
  });
  const drainJson = (d: DrainResult) => ({
    n: d.n,
    seconds: round(d.seconds, 2),
    msgs_per_s: Math.round(d.msgsPerS),
    cpu_us_per_message: round(d.cpuUsPerMessage, 1),
    lost: d.lost,
    duplicates: d.duplicates,
    peak_rss_mb: d.peakRssMb,
  });
  console.log(
    JSON.stringify({
      bench: "KAFKA-CLIENT",
      kafkajs: versionOf("kafkajs"),
      candidate: `@platformatic/kafka ${versionOf("@platformatic/kafka")}`,
      node: process.version,
      duration_s: DURATION_S,
      partitions: PARTITIONS,
      value_bytes: valueBytes,
      idle_s: IDLE_S,
      idle_cpu_ms_per_s: { kafkajs: Math.round(idleCpuMsPerS.kafkajs), candidate: Math.round(idleCpuMsPerS.candidate) },
      rates: pacedRows.map(({ rate, results }) => ({
        rate,
        kafkajs: pacedJson(results.kafkajs),
        candidate: pacedJson(results.candidate),
        ratio_p50: ratio(results.candidate.summary.p50, results.kafkajs.summary.p50),
        ratio_p99: ratio(results.candidate.summary.p99, results.kafkajs.summary.p99),
        ratio_cpu_per_message: ratio(results.candidate.cpuUsPerMessage, results.kafkajs.cpuUsPerMessage),
      })),
      ...(DRAIN_N > 0
        ? {
            drain: {
              kafkajs: drainJson(drains.kafkajs),
              candidate: drainJson(drains.candidate),
              ratio_rate: ratio(drains.candidate.msgsPerS, drains.kafkajs.msgsPerS),
              ratio_cpu_per_message: ratio(drains.candidate.cpuUsPerMessage, drains.kafkajs.cpuUsPerMessage),
            },
          }
        : {}),
      lost: lostAll,
      duplicates: dupAll,
    }),
  );
} finally {
  for (const child of children) await stopEcho(child).catch(() => undefined);
  for (const l of loops) await l.stop().catch(() => undefined);
  if (adminConnected) await admin.disconnect().catch(() => undefined);
  await infra.stop();
}

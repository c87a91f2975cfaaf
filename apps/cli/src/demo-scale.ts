/**
 * The demo's scale mode (`recfleet demo --scale <events>`): the whole fleet at catalog scale
 * instead of the closed-loop world. It starts the local fleet as the demo does, publishes a
 * synthetic catalog (packages/simulator's generateClickstream: MovieLens-20M-like, default 150k
 * users × 100k items) on `items`, produces its events to `clickstream` as fast as the producer
 * goes, waits for ingest and features to drain, trains once (`recfleet train --wait`, as the demo
 * retrains), and sends rec requests for users of the stream, timing each answer.
 *
 * It ends with one JSON line ({"bench":"DEMO-SCALE",…}) of the figures it measured, and exits
 * non-zero when a request went unanswered or no model was promoted.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createKafka, createProducer, ensureFleetTopics, groupLag, type OutgoingMessage } from "@recfleet/bus";
import {
  consumerGroupId,
  topicNames,
  type CatalogItem,
  type ClickstreamEvent,
  type EventType,
  type RecRequest,
} from "@recfleet/contracts";
import { createRng, mixSeeds, percentile } from "@recfleet/numeric";
import { createLogger, NonRetriableError, rssOf } from "@recfleet/runtime";
import {
  generateClickstream,
  GENRES,
  listenForAnswers,
  providerOf,
  type SyntheticClickstream,
} from "@recfleet/simulator";
import { REPO_ROOT } from "@recfleet/stack";
import { waitFor } from "@recfleet/testkit";
import { ingestOutcomes, retrainAndServe, startLocalFleet, type LocalFleet } from "./fleet";

/** Deterministic ids of the generator's rows (raw app ids; ingest pseudonymises users). */
export const scaleUserId = (row: number): string => `u-${row}`;
export const scaleItemId = (row: number): string => `i-${row}`;

/**
 * The event type mix: mostly views and clicks, as an app's stream is. Cumulative shares, drawn
 * per event from a seeded generator (the clickstream generator itself only says who saw what when).
 */
const TYPE_MIX: readonly [EventType, number][] = [
  ["view", 0.7],
  ["click", 0.93],
  ["add_to_cart", 0.98],
  ["purchase", 1],
];

/**
 * The generator spaces events like a real stream (sessions minutes apart: 1M events span about a
 * year), but the trainer keeps only events newer than TRAIN_WINDOW_MAX_AGE (7 days) and ingest
 * marks events older than its lateness threshold (1 h) late. So the stream's times are squeezed,
 * order kept, into this long a stretch ending when production starts.
 */
const STREAM_SPAN_MS = 30 * 60_000;
/** Items per provider hash, as the simulator's catalog (its providerOf over 5 providers). */
const PROVIDERS = 5;
/** Messages handed to the producer per send (it splits them into requests the broker accepts). */
const SEND_BATCH = 10_000;
const ANSWER_TIMEOUT_MS = 15_000;
const TRAIN_TIMEOUT_MS = 30 * 60_000;
const K = 10;

export class DemoScaleUsageError extends NonRetriableError {
  constructor(flag: string, value: string | undefined, expected: string) {
    super(`recfleet demo --scale: --${flag} is ${value ?? "missing"}, expected ${expected} (e.g. --scale 1000000)`);
    this.name = "DemoScaleUsageError";
  }
}

export interface DemoScaleSettings {
  events: number;
  users: number;
  items: number;
  seed: number;
  requests: number;
  concurrency: number;
  out: string;
  keepStack: boolean;
}

export function parseScaleArgs(argv: string[]): DemoScaleSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: "string" },
      users: { type: "string", default: "150000" },
      items: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      requests: { type: "string", default: "2000" },
      // Clients sending requests at once, each waiting for its answer (or the timeout) before the next.
      concurrency: { type: "string", default: "8" },
      out: { type: "string", default: join(REPO_ROOT, "out", "demo") },
      "keep-stack": { type: "boolean", default: false },
    },
  });
  const int = (flag: "scale" | "users" | "items" | "seed" | "requests" | "concurrency", min: number): number => {
    const raw = values[flag];
    const n = Number(raw);
    if (!(Number.isInteger(n) && n >= min)) throw new DemoScaleUsageError(flag, raw, `an integer ≥ ${min}`);
    return n;
  };
  return {
    events: int("scale", 1),
    users: int("users", 1),
    items: int("items", 1),
    seed: int("seed", 0),
    requests: int("requests", 1),
    concurrency: int("concurrency", 1),
    out: values.out!,
    keepStack: values["keep-stack"]!,
  };
}

/** The generator's rows as contract events: ids by row, a seeded type mix, times squeezed to end at `endTs`. */
export function toClickstreamEvents(
  stream: SyntheticClickstream,
  seed: number,
  endTs: number,
  from: number,
  to: number,
): ClickstreamEvent[] {
  const n = stream.eventTs.length;
  const first = stream.eventTs[0] ?? 0;
  const span = (stream.eventTs[n - 1] ?? 0) - first;
  const scale = span > STREAM_SPAN_MS ? STREAM_SPAN_MS / span : 1;
  const out: ClickstreamEvent[] = [];
  for (let e = from; e < Math.min(to, n); e++) {
    // One generator per event (seed, index): any slice comes out the same as in a full pass.
    const draw = createRng(mixSeeds(seed, e))();
    const type = TYPE_MIX.find(([, upTo]) => draw < upTo)![0];
    out.push({
      eventId: `scale-${seed}-${e}`,
      userId: scaleUserId(stream.eventUser[e]!),
      itemId: scaleItemId(stream.eventItem[e]!),
      type,
      ts: Math.round(endTs - (first + span - stream.eventTs[e]!) * scale),
    });
  }
  return out;
}

/** The catalog entry of an item row: its genres as categories (content features) and its provider. */
export function toCatalogItem(stream: SyntheticClickstream, row: number, ts: number): CatalogItem {
  const itemId = scaleItemId(row);
  const categories: string[] = [];
  for (let g = 0; g < GENRES; g++) if (stream.itemGenres[row * GENRES + g]! > 0) categories.push(`genre-${g}`);
  return { itemId, op: "upsert", ts, provider: providerOf(itemId, PROVIDERS), categories };
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

export interface DemoScaleIo {
  /** Where summary and JSON lines go (default console.log). */
  print?: (line: string) => void;
  /** Kafka + Redis to use instead of the local stack (tests pass the test run's). */
  stack?: { brokers: string; redisUrl: string; env?: Record<string, string> };
  /** Worker settings on top of the demo fleet's (tests: CPU only, fewer epochs). */
  env?: Record<string, string>;
  /** Seconds between progress lines while producing and draining. Default 2. */
  progressSeconds?: number;
}

export async function runDemoScale(argv: string[], io: DemoScaleIo = {}): Promise<number> {
  const settings = parseScaleArgs(argv);
  const print = io.print ?? ((line: string) => console.log(line));
  const started = Date.now();
  const say = (line: string) => print(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);

  say(
    `generating ${settings.events.toLocaleString("en-US")} events over ${settings.users.toLocaleString("en-US")} users × ${settings.items.toLocaleString("en-US")} items (seed ${settings.seed}) …`,
  );
  const stream = generateClickstream({
    seed: settings.seed,
    users: settings.users,
    items: settings.items,
    events: settings.events,
  });

  const namespace = `demo-scale-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
  const logDir = join(settings.out, "logs", namespace);
  say(`starting the fleet in namespace ${namespace} (worker logs in ${logDir}) …`);
  // On-demand training only (as the demo): one run once the stream is in, not on a clock.
  const fleet = await startLocalFleet({
    namespace,
    logDir,
    keepStack: settings.keepStack,
    log: say,
    // The demo's 200-item embed shards suit its few hundred items; at catalog scale, the trainer's default.
    env: { TRAIN_INTERVAL: "0", EMBED_SHARD_SIZE: "1000", ...io.env },
    ...(io.stack ? { stack: io.stack } : {}),
  });
  say("fleet ready: ingest, features, trainer, scorer");
  try {
    return await runOnFleet(fleet, stream, settings, say, print, io.progressSeconds ?? 2);
  } finally {
    say("stopping the fleet …");
    await fleet.stop();
  }
}

async function runOnFleet(
  fleet: LocalFleet,
  stream: SyntheticClickstream,
  settings: DemoScaleSettings,
  say: (line: string) => void,
  print: (line: string) => void,
  progressSeconds: number,
): Promise<number> {
  const logger = createLogger("demo-scale", { level: "error" });
  const kafka = createKafka({ brokers: fleet.brokers.split(","), clientId: "recfleet-demo-scale", logger });
  const topics = topicNames(fleet.namespace);
  const worker = (name: string) => fleet.workers.find((w) => w.name === name)!;
  await ensureFleetTopics(kafka, fleet.namespace);
  const producer = await createProducer(kafka);

  // Answers are matched by requestId; the consumer joins now so no request waits for its group join.
  const answers = await listenForAnswers({ kafka, namespace: fleet.namespace, run: "scale", producer, logger });

  try {
    // 1. The catalog (the simulator's path: upserts on `items`, which features stores for the
    //    trainer's content features and the scorer's catalog rules).
    const now = Date.now();
    for (let i = 0; i < stream.items; i += SEND_BATCH) {
      const batch: OutgoingMessage[] = [];
      for (let row = i; row < Math.min(i + SEND_BATCH, stream.items); row++) {
        const item = toCatalogItem(stream, row, now);
        batch.push({ key: item.itemId, value: item });
      }
      await producer.send(topics.items, batch);
    }
    say(`published ${stream.items.toLocaleString("en-US")} catalog items (genres as categories, 5 providers)`);

    // 2. The clickstream at full speed, with progress (lags polled beside production, not in its way).
    const lags = async () => {
      const [ingest, features] = await Promise.all([
        groupLag(kafka, consumerGroupId(fleet.namespace, "ingest"), topics.clickstream),
        groupLag(kafka, consumerGroupId(fleet.namespace, "features"), topics.events),
      ]);
      // Clamped: the end offsets and the group's commit are read apart, so a read can come out a little below 0.
      return { ingest: Math.max(0, ingest), features: Math.max(0, features) };
    };
    const total = stream.eventTs.length;
    let produced = 0;
    let producing = true;
    const produceStart = performance.now();
    const endTs = Date.now();
    const ticker = (async () => {
      let lastAt = produceStart;
      let lastProduced = 0;
      while (producing) {
        await sleep(progressSeconds * 1000);
        if (!producing) break;
        const at = performance.now();
        const lag = await lags().catch(() => ({ ingest: NaN, features: NaN }));
        say(
          `produced ${produced.toLocaleString("en-US")}/${total.toLocaleString("en-US")} events (${Math.round(((produced - lastProduced) * 1000) / (at - lastAt)).toLocaleString("en-US")} events/s)  ingest lag ${lag.ingest}  features lag ${lag.features}`,
        );
        lastAt = at;
        lastProduced = produced;
      }
    })();
    try {
      for (let e = 0; e < total; e += SEND_BATCH) {
        const events = toClickstreamEvents(stream, settings.seed, endTs, e, e + SEND_BATCH);
        await producer.send(
          topics.clickstream,
          events.map((ev) => ({ key: ev.userId, value: ev })),
        );
        produced += events.length;
      }
    } finally {
      producing = false;
      await ticker;
    }
    const produceSeconds = (performance.now() - produceStart) / 1000;
    const produceRate = total / produceSeconds;
    say(
      `produced ${total.toLocaleString("en-US")} events in ${produceSeconds.toFixed(1)} s (${Math.round(produceRate).toLocaleString("en-US")} events/s); waiting for ingest and features to drain …`,
    );

    // 3. Drained: ingest has consumed the clickstream, then features the events it wrote (and the catalog).
    let lastSaid = performance.now();
    await waitFor(
      "ingest and features to drain",
      async () => {
        const lag = await lags();
        const items = await groupLag(kafka, consumerGroupId(fleet.namespace, "catalog"), topics.items);
        if (performance.now() - lastSaid >= progressSeconds * 1000) {
          lastSaid = performance.now();
          say(`draining: ingest lag ${lag.ingest}  features lag ${lag.features}  catalog lag ${items}`);
        }
        return lag.ingest === 0 && lag.features === 0 && items === 0;
      },
      // Generous: at a few thousand events/s on a loaded machine, millions of events take minutes.
      Math.max(300_000, total * 2),
      500,
    );
    const pipelineSeconds = (performance.now() - produceStart) / 1000;
    const pipelineRate = total / pipelineSeconds;
    const { ingested, deadLettered } = await ingestOutcomes(worker("ingest"), fleet.namespace);
    say(
      `drained after ${pipelineSeconds.toFixed(1)} s from the first event (${Math.round(pipelineRate).toLocaleString("en-US")} events/s through ingest and features); training …`,
    );

    // 4. One training run, as the demo retrains (`recfleet train --wait`, then the scorer serves it).
    const trainStart = performance.now();
    // A training run over 100k items takes minutes on a small machine (the demo's 5 are for its few hundred).
    const version = await retrainAndServe(fleet, TRAIN_TIMEOUT_MS);
    const trainSeconds = (performance.now() - trainStart) / 1000;
    const promoted = version !== undefined;
    say(promoted ? `model ${version} promoted and served after ${trainSeconds.toFixed(1)} s` : "no model was promoted");

    // 5. Requests for users of the stream (drawn by event, so active users come up more often),
    //    from `--concurrency` clients that each send one and wait for its answer, as app
    //    servers would: a burst sent in one batch would time the scorer's batch, not a request.
    const latencies: number[] = [];
    const scorerLatencies: number[] = [];
    let unanswered = 0;
    let nonModel = 0;
    const versions = new Set<string>();
    let next = 0;
    const client = async () => {
      while (next < settings.requests) {
        const r = next++;
        const requestId = `scale-${settings.seed}-req-${r}`;
        const answer = answers.answerOf(requestId, ANSWER_TIMEOUT_MS);
        // Per request (seed, index): the same users whatever order the clients take them in.
        const event = Math.floor(createRng(mixSeeds(settings.seed, 0x4ec, r))() * total);
        const request: RecRequest = { requestId, userId: scaleUserId(stream.eventUser[event]!), ts: Date.now(), k: K };
        const sentAt = performance.now();
        await producer.send(topics.recRequests, [{ key: request.userId!, value: request }]);
        const rec = await answer;
        if (!rec) {
          unanswered++;
          continue;
        }
        latencies.push(performance.now() - sentAt);
        scorerLatencies.push(rec.latencyMs);
        if (rec.reason) nonModel++;
        versions.add(rec.modelVersion);
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, client));
    latencies.sort((a, b) => a - b);
    scorerLatencies.sort((a, b) => a - b);
    const served = latencies.length;
    const p50 = served > 0 ? percentile(latencies, 0.5) : NaN;
    const p99 = served > 0 ? percentile(latencies, 0.99) : NaN;
    say(`${served} requests answered, ${unanswered} unanswered`);

    // 6. Memory: each worker's peak RSS, and Redis's used memory (the whole instance).
    const peakRss = Object.fromEntries(
      fleet.workers.map((w) => [w.name, w.process.pid === undefined ? NaN : rssOf(w.process.pid).peakMb]),
    );
    const redis = new Redis(fleet.redisUrl);
    let redisMb = NaN;
    try {
      const info = await redis.info("memory");
      redisMb = round(Number(/used_memory:(\d+)/.exec(info)?.[1]) / (1024 * 1024));
    } finally {
      redis.disconnect();
    }

    const rows: [string, string][] = [
      ["events produced", `${total} (${Math.round(produceRate)} events/s)`],
      ["events ingested / dead-lettered", `${ingested} / ${deadLettered}`],
      [
        "pipeline (produce → features drained)",
        `${pipelineSeconds.toFixed(1)} s = ${Math.round(pipelineRate)} events/s`,
      ],
      ["catalog", `${stream.users} users × ${stream.items} items`],
      [
        "training run (train → served)",
        `${trainSeconds.toFixed(1)} s, ${promoted ? `promoted ${version}` : "nothing promoted"}`,
      ],
      [
        "requests answered / unanswered",
        `${served} / ${unanswered} (${settings.concurrency} clients; ${nonModel} answered with a non-model reason; versions ${[...versions].join(", ") || "none"})`,
      ],
      [
        "latency p50 / p99 (request → answer)",
        `${p50.toFixed(1)} ms / ${p99.toFixed(1)} ms (request ts → scorer's publish: ${percentile(scorerLatencies, 0.5).toFixed(1)} ms / ${percentile(scorerLatencies, 0.99).toFixed(1)} ms)`,
      ],
      [
        "peak RSS per worker",
        Object.entries(peakRss)
          .map(([n, mb]) => `${n} ${mb} MB`)
          .join(", "),
      ],
      ["Redis used memory", `${redisMb} MB`],
    ];
    print("\n== recfleet demo --scale: summary ==");
    for (const [k, v] of rows) print(`${k.padEnd(40)} ${v}`);
    print(
      JSON.stringify({
        bench: "DEMO-SCALE",
        events: total,
        users: stream.users,
        items: stream.items,
        produce_events_per_s: Math.round(produceRate),
        pipeline_events_per_s: Math.round(pipelineRate),
        // Ingest's consumer counts: a batch whose commit the group refused three times (a batch
        // outliving the session timeout on a loaded machine) is dead-lettered after its effects ran.
        ingested,
        dead_lettered: deadLettered,
        train_s: round(trainSeconds),
        promoted,
        served,
        unanswered,
        ...(served > 0 ? { latency_p50_ms: round(p50), latency_p99_ms: round(p99) } : {}),
        peak_rss_mb: Object.fromEntries(Object.entries(peakRss).filter(([, mb]) => Number.isFinite(mb))),
        ...(Number.isFinite(redisMb) ? { redis_used_memory_mb: redisMb } : {}),
      }),
    );
    return promoted && unanswered === 0 ? 0 : 1;
  } finally {
    await answers.stop();
    await producer.close();
  }
}

// TRAIN-WINDOW-MEMORY (MEMORY-FOOTPRINT style): Redis used_memory held by the trainer's training
// window after N events (default 1M) of the synthetic clickstream, before and after the window
// moved to Kafka.
//
//   before ("redis-stream"): the window as the trainer kept it until issue 15 — a Redis stream
//     `<ns>:tw` plus one `tw:ap:<eventId>` marker per event, appended by the Lua script below (the
//     one the store ran, kept here as the reference) in batches of 500, plain or sealed per user.
//   after ("kafka-offset-range"): the N events are produced to the `events` topic (sealed with
//     --sealed, as ingest does); then what a training run does to its window — take the offset
//     range (createKafkaTrainingWindow.plan), keep it in its BullMQ train job, read the range
//     (checked: all N events come back), record the outcome with the range — and the bytes the
//     keys it wrote grew by (MEMORY USAGE). Nothing is written per event: O(partitions).
//
// Starts its own Kafka + Redis (packages/stack) unless KAFKA_BROKERS and REDIS_URL are set.
//
// usage: node --import tsx bench/train-window-memory.ts [--events 1000000] [--sealed] [--partitions 4]
//          [--design both|redis-stream|kafka-offset-range]
// Ends with {"bench":"TRAIN-WINDOW-MEMORY","events":…,"sealed":…,"before":{…},"after":{…}}.
import { mkdtempSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createLogger } from "@recfleet/runtime";
import { topicNames, type CanonicalEvent } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics } from "@recfleet/bus";
import { generateClickstream } from "@recfleet/simulator";
import { createTrainerState, createUserKeyring, sealForUsers, trainerKeys, type UserKeyring } from "@recfleet/store";
import { startStack, type Stack } from "@recfleet/stack";
import { JOB_NAMES, createKafkaTrainingWindow, queueNames, rangeSize, type TrainJobData } from "@recfleet/trainer";

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const events = Number(argValue("--events", "1000000"));
const sealed = process.argv.includes("--sealed");
const partitions = Number(argValue("--partitions", "4"));
const design = argValue("--design", "both");
const logger = createLogger("train-window-memory", { level: "warn" });
const MASTER_KEY = Buffer.alloc(32, 7);

// The store's append-training.lua as it was (removed with the Redis window): once per eventId.
const APPEND_TRAINING = `
local appended = 0
local sealed = ARGV[4] == 'sealed'
local n = (#ARGV - 4) / 5
for i = 0, n - 1 do
  local base = 5 + i * 5
  local ts = tonumber(ARGV[base + 3])
  if ts >= tonumber(ARGV[3]) and redis.call('SET', KEYS[2 + i], '1', 'NX', 'PX', ARGV[2]) then
    if sealed then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[base], 'c', ARGV[base + 1], 'ts', ARGV[base + 3])
    else
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'u', ARGV[base], 'i', ARGV[base + 1], 't', ARGV[base + 2], 'ts', ARGV[base + 3], 'e', ARGV[base + 4])
    end
    appended = appended + 1
  end
end
return appended`;

const stream = generateClickstream({ seed: 1, events });
// Shifted so the newest event is a minute old: the clickstream's own calendar can run past today,
// and `events` refuses times in the future.
const shift = Date.now() - 60_000 - stream.eventTs[events - 1]!;
const eventAt = (e: number): CanonicalEvent => ({
  eventId: `ev-${e.toString(36)}`,
  user: `u${stream.eventUser[e]}`,
  itemId: `item${stream.eventItem[e]}`,
  type: "click",
  ts: stream.eventTs[e]! + shift,
  ingestedAt: stream.eventTs[e]! + shift,
  late: false,
});
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]);
}

function keyringFor(redis: Redis, ns: string): UserKeyring | undefined {
  return sealed ? createUserKeyring(redis, ns, MASTER_KEY, { cacheSize: 200_000, cacheTtlMs: 600_000 }) : undefined;
}

/** Before: the Redis stream plus a marker per event, appended as the trainer did. */
async function before(redis: Redis) {
  const ns = "bench-before";
  const tw = `${ns}:tw:{${ns}.tw}`;
  const keyring = keyringFor(redis, ns);
  const start = await usedMemory(redis);
  const t0 = performance.now();
  for (let from = 0; from < events; from += 500) {
    const batch: CanonicalEvent[] = [];
    for (let e = from; e < Math.min(events, from + 500); e++) batch.push(eventAt(e));
    // The trainer's defaults: markers live as long as the replay horizon (7 days).
    const args: (string | number)[] = [events, 7 * 86_400_000, 0, keyring ? "sealed" : "plain"];
    if (keyring) {
      // The window's entry held these five fields, sealed with the user's data key.
      const values = batch.map(({ user, itemId, type, ts, eventId }) => ({
        user,
        value: { user, itemId, type, ts, eventId },
      }));
      const s = await sealForUsers(keyring, values);
      batch.forEach((e, i) => args.push(s[i]!.k, s[i]!.c, "", e.ts, ""));
    } else for (const e of batch) args.push(e.user, e.itemId, e.type, e.ts, e.eventId);
    await redis.eval(APPEND_TRAINING, batch.length + 1, tw, ...batch.map((e) => `${tw}:ap:${e.eventId}`), ...args);
    if (from % 200_000 === 0) console.log(`before: appended ${from} events`);
  }
  // Sealed: the users' data keys are created on the way (ingest would have created them anyway).
  const bytes = (await usedMemory(redis)) - start;
  const entries = await redis.xlen(tw);
  console.log(
    `before: ${entries} stream entries, ${mib(bytes)} MiB of Redis (${Math.round(bytes / events)} B/event), ` +
      `appended in ${((performance.now() - t0) / 1000).toFixed(1)} s; load ${load()}`,
  );
  return {
    design: "redis-stream",
    window_entries: entries,
    redis_mb: mib(bytes),
    bytes_per_event: Math.round(bytes / events),
  };
}

/** After: the events on Kafka; a training run's window as the trainer keeps it in Redis. */
async function after(redis: Redis, brokers: string[]) {
  const ns = `bench-after-${Date.now().toString(36)}`;
  const kafka = createKafka({ brokers, clientId: "train-window-memory", logger });
  await ensureFleetTopics(kafka, ns, { partitions });
  const topic = topicNames(ns).events;
  const keyring = keyringFor(redis, ns);
  const producer = await createProducer(kafka);
  const t0 = performance.now();
  try {
    for (let from = 0; from < events; from += 2000) {
      const batch: CanonicalEvent[] = [];
      for (let e = from; e < Math.min(events, from + 2000); e++) batch.push(eventAt(e));
      const values = keyring
        ? await sealForUsers(
            keyring,
            batch.map((e) => ({ user: e.user, value: e })),
          )
        : batch;
      await producer.send(
        topic,
        batch.map((e, i) => ({ key: e.user, value: values[i] })),
      );
      if (from % 200_000 === 0) console.log(`after: produced ${from} events`);
    }
  } finally {
    await producer.close();
  }
  console.log(`after: produced ${events} events in ${((performance.now() - t0) / 1000).toFixed(1)} s; load ${load()}`);
  // The train job exists before the run (the schedule or `recfleet train` enqueued it): not the window's.
  const prefix = trainerKeys(ns).bullPrefix;
  const bullConnection = redis.duplicate({ maxRetriesPerRequest: null });
  const trainQueue = new Queue<TrainJobData>(queueNames(ns).train, { connection: bullConnection, prefix });
  const job = await trainQueue.add(JOB_NAMES.train, { reason: "manual", requestedAt: Date.now() });
  const state = createTrainerState(redis, ns);
  const window = createKafkaTrainingWindow({
    kafka,
    namespace: ns,
    topic,
    maxEvents: events,
    maxAgeMs: Date.now(),
    ...(keyring ? { keyring } : {}),
  });
  // Exact: MEMORY USAGE of the keys a run's window writes (its job's hash grows by the range; the
  // outcome key is new). used_memory's delta is printed too, but moves by tens of KB with client buffers.
  const jobKey = trainQueue.toKey(job.id!);
  const keyBytes = async (key: string) => Number((await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0);
  const jobBytesBefore = await keyBytes(jobKey);
  const keysBefore = await redis.dbsize();
  const start = await usedMemory(redis);
  const range = await window.plan(Date.now());
  await job.updateData({ ...job.data, window: range });
  const t1 = performance.now();
  const read = await window.read(range);
  const readSeconds = (performance.now() - t1) / 1000;
  const { events: _events, ...counts } = read;
  if (read.events.length !== events)
    throw new Error(`the run read ${read.events.length} of ${events} events: ${JSON.stringify({ range, counts })}`);
  await state.recordOutcome({ status: "skipped", reason: "bench", window: { ...range, ...counts } });
  const usedDelta = (await usedMemory(redis)) - start;
  const keysAdded = (await redis.dbsize()) - keysBefore;
  const bytes = (await keyBytes(jobKey)) - jobBytesBefore + (await keyBytes(trainerKeys(ns).lastOutcome));
  console.log(
    `after: range of ${rangeSize(range.partitions)} records over ${range.partitions.length} partitions, read in ` +
      `${readSeconds.toFixed(1)} s; the window's keys hold ${bytes} bytes (+${keysAdded} keys); used_memory ${usedDelta >= 0 ? "+" : ""}${usedDelta} bytes; load ${load()}`,
  );
  await trainQueue.close();
  bullConnection.disconnect();
  return {
    design: "kafka-offset-range",
    partitions: range.partitions.length,
    events_read: read.events.length,
    redis_bytes: bytes,
    redis_keys_added: keysAdded,
    used_memory_delta: usedDelta,
  };
}

let stack: Stack | undefined;
const external = process.env.KAFKA_BROKERS && process.env.REDIS_URL;
if (!external) stack = await startStack({ dir: mkdtempSync(join(tmpdir(), "recfleet-bench-")) });
const redis = new Redis(process.env.REDIS_URL ?? stack!.redisUrl, { maxRetriesPerRequest: 3 });
try {
  const result: Record<string, unknown> = { bench: "TRAIN-WINDOW-MEMORY", events, sealed };
  // After first: its figure is small, and the before run's keys would otherwise sit in its baseline.
  if (design !== "redis-stream")
    result.after = await after(redis, (process.env.KAFKA_BROKERS ?? stack!.brokers).split(","));
  if (design !== "kafka-offset-range") result.before = await before(redis);
  console.log(JSON.stringify(result));
} finally {
  redis.disconnect();
  await stack?.stop();
}

/**
 * rebuild-features after Redis lost the online state: replaying `events` through the features
 * worker's handler gives the state the live worker built in one pass; a second replay changes
 * nothing; --from replays only what Kafka appended from that time on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import { topicNames, EVENT_TYPES, type CanonicalEvent } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, type BusProducer } from "@recfleet/bus";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { pseudonymise } from "@recfleet/store";
import { diffSnapshots, scanKeys, snapshotRedis } from "@recfleet/store/testing";
import { featuresConfigSchema } from "./config";
import { startFeaturesWorker } from "./worker";
import { rebuildFeatures } from "./rebuild";

const infra = testInfra();
const TOTAL = 1200;

/** Sum of a metric's series in this registry, those with `outcome` when given (0 when not registered). */
async function metricSum(registry: Registry, name: string, outcome?: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values
    .filter((v) => outcome === undefined || v.labels.outcome === outcome)
    .reduce((s, v) => s + v.value, 0);
}

const applied = (registry: Registry) => metricSum(registry, "recfleet_features_events_total", "applied");

/** What a Redis restarted without persistence holds for the namespace: nothing. */
async function wipe(redis: Redis, ns: string): Promise<void> {
  const keys = await scanKeys(redis, `${ns}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

/** Canonical events onto the namespace's `events` topic, keyed by user, 100 per request. */
async function sendEvents(producer: BusProducer, ns: string, events: CanonicalEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 100)
    await producer.send(
      topicNames(ns).events,
      events.slice(i, i + 100).map((e) => ({ key: e.user, value: e })),
    );
}

/** A namespace of its own with 3 partitions, the features config for it, quiet clients. */
function setUp(label: string) {
  const ns = uniqueName(label);
  const env = {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: ns,
    RECFLEET_TOPIC_PARTITIONS: "3",
    LOG_LEVEL: "error",
  };
  const config = { ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) };
  const logger = createLogger(`${label}-test`, { level: "error", write: () => {} });
  const kafka = createKafka({ brokers: infra.brokers, clientId: `${label}-test`, logger });
  return { ns, config, logger, kafka, redis: new Redis(infra.redisUrl) };
}

test("rebuild-features: a replay of `events` into an emptied Redis reproduces the live worker's state; again changes nothing; --from replays the rest", async () => {
  const { ns, config, logger, kafka, redis } = setUp("rebuild");
  const now = Date.now();
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const users = Array.from({ length: 30 }, (_, i) => pseudonymise("rebuild-secret-0123456789", `user-${i}`));
  const events: CanonicalEvent[] = Array.from({ length: TOTAL }, (_, i) => ({
    eventId: `ev-${i}`,
    user: users[Math.floor(rand() * users.length)]!,
    itemId: `item-${Math.floor(rand() * 40)}`,
    type: EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!,
    ts: now - Math.floor(rand() * 600_000),
    ingestedAt: now,
    late: false,
  }));
  const half = TOTAL / 2;
  try {
    await ensureFleetTopics(kafka, ns, { partitions: 3 });
    const producer = await createProducer(kafka);
    const send = (batch: CanonicalEvent[]) => sendEvents(producer, ns, batch);
    await send(events.slice(0, half));
    // Broker append times on either side of `middle`: --from middle must replay the second half only.
    await sleep(1500);
    const middle = Date.now();
    await sleep(500);
    await send(events.slice(half));
    await producer.close();

    // One pass of the live worker.
    const registry = createMetricsRegistry("rebuild-live");
    const live = await startFeaturesWorker(config, { logger, registry });
    await waitFor("the live worker to apply every event", async () => (await applied(registry)) === TOTAL, 90_000, 200);
    await live.stop();
    const livePass = await snapshotRedis(redis, `${ns}:*`);
    assert.ok(livePass.size > users.length, `the live pass wrote only ${livePass.size} keys`);

    // Redis restarted empty → rebuild from Kafka.
    await wipe(redis, ns);
    const rebuilt = await rebuildFeatures(config, { logger });
    assert.equal(rebuilt.read, TOTAL);
    assert.equal(rebuilt.applied, TOTAL);
    assert.equal(rebuilt.rejected, 0);
    assert.deepEqual(diffSnapshots(livePass, await snapshotRedis(redis, `${ns}:*`)), []);

    // Over state that survived: every event is a replay, nothing changes.
    const again = await rebuildFeatures(config, { logger });
    assert.equal(again.applied, 0);
    assert.equal(again.replayed, TOTAL);
    assert.deepEqual(diffSnapshots(livePass, await snapshotRedis(redis, `${ns}:*`)), []);

    // --from: only what the broker appended from then on.
    await wipe(redis, ns);
    const tail = await rebuildFeatures(config, { logger, from: middle });
    assert.equal(tail.read, TOTAL - half);
    assert.equal(tail.applied, TOTAL - half);
    console.log(
      `# rebuilt ${rebuilt.applied} events in ${rebuilt.seconds} s; second replay: ${again.replayed} replayed; --from: ${tail.applied}`,
    );
  } finally {
    await wipe(redis, ns).catch(() => undefined);
    redis.disconnect();
  }
});

test("the live worker finds Redis emptied under it: it replays its partitions from the log start, and the state equals one clean pass", async () => {
  const { ns, config, logger, kafka, redis } = setUp("selfheal");
  const now = Date.now();
  const users = Array.from({ length: 20 }, (_, i) => pseudonymise("selfheal-secret-0123456789", `user-${i}`));
  const events: CanonicalEvent[] = Array.from({ length: 600 }, (_, i) => ({
    eventId: `ev-${i}`,
    user: users[(i * 7) % users.length]!,
    itemId: `item-${(i * 13) % 50}`,
    type: EVENT_TYPES[i % EVENT_TYPES.length]!,
    ts: now - 600_000 + i * 500,
    ingestedAt: now,
    late: false,
  }));
  const half = events.length / 2;
  let live: Awaited<ReturnType<typeof startFeaturesWorker>> | undefined;
  try {
    await ensureFleetTopics(kafka, ns, { partitions: 3 });
    const producer = await createProducer(kafka);
    const send = (batch: CanonicalEvent[]) => sendEvents(producer, ns, batch);
    const registry = createMetricsRegistry("selfheal-live");
    live = await startFeaturesWorker(config, { logger, registry });
    await send(events.slice(0, half));
    await waitFor("the first half applied", async () => (await applied(registry)) === half, 90_000, 200);
    // Redis restarted empty under the running worker; then the second half arrives.
    await wipe(redis, ns);
    await send(events.slice(half));
    await producer.close();
    // Each partition's first batch after the loss finds no watermark and rewinds to the log
    // start: the first half is applied a second time (into the empty state), then the rest.
    await waitFor(
      "every event applied into the emptied Redis",
      async () => (await applied(registry)) === half + events.length,
      90_000,
      200,
    );
    await live.stop();
    live = undefined;
    const healed = await snapshotRedis(redis, `${ns}:*`);
    const rewinds = await metricSum(registry, "recfleet_consumer_rewinds_total");
    assert.ok(rewinds >= 1 && rewinds <= 3, `${rewinds} rewinds for 3 partitions`);

    // One clean pass over all events into an empty Redis gives the same state.
    await wipe(redis, ns);
    const clean = await rebuildFeatures(config, { logger });
    assert.equal(clean.applied, events.length);
    assert.deepEqual(diffSnapshots(healed, await snapshotRedis(redis, `${ns}:*`)), []);
    console.log(`# Redis emptied under the live worker: ${rewinds} partitions rewound, state equal to a clean pass`);
  } finally {
    await live?.stop().catch(() => undefined);
    await wipe(redis, ns).catch(() => undefined);
    redis.disconnect();
  }
});

/**
 * The whole ingest → features pipeline on the real local stack (Kafka + Redis), fed a hostile
 * clickstream. The Redis state must equal the state a reference model computes from the valid,
 * deduplicated events; the DLQ must hold every invalid message with its reason; no raw user id
 * may reach Redis or the `events` topic.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import {
  canonicalEventSpec,
  decodeMessage,
  topicNames,
  type CanonicalEvent,
  type EventType,
  EVENT_TYPES,
} from "@recfleet/contracts";
import {
  createKafka,
  kafkaSecurity,
  createProducer,
  ensureFleetTopics,
  readTopic,
  DLQ_HEADERS,
  type OutgoingMessage,
} from "@recfleet/bus";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createStore, eventFingerprint, newRedisClient, pseudonymise, type FeatureEvent } from "@recfleet/store";
import { ReferenceStore, diffSnapshots, snapshotRedis, findInSnapshot, scanKeys } from "@recfleet/store/testing";
import { ingestConfigSchema, startIngestWorker } from "@recfleet/ingest";
import { featuresConfigSchema, startFeaturesWorker, DEFAULT_EVENT_WEIGHTS, runEraseUserCli } from "@recfleet/features";
import { prng } from "./fleet-helpers";

const infra = testInfra();
const MIN = 60_000;
const SECRET = "e2e-pipeline-secret-0123456789";

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((s, v) => s + v.value, 0);
}

test("pipeline: hostile clickstream → Redis equals the reference of the valid, deduplicated events; DLQ has every invalid one; no raw id leaks", async () => {
  const ns = uniqueName("e2e");
  const topics = topicNames(ns);
  const env = {
    ...infra.env,
    RECFLEET_NAMESPACE: ns,
    RECFLEET_PSEUDONYM_SECRET: SECRET,
    RECFLEET_TOPIC_PARTITIONS: "4",
    RECFLEET_ATTRIBUTION_WINDOW: "10m",
    INGEST_LATENESS_THRESHOLD: "1h",
    FEATURES_REFRESH_TYPES: "purchase",
    FEATURES_REFRESH_INTERVAL: "1h",
  };
  const logger = createLogger("e2e", { level: "error" });
  const ingestConfig = { ...loadConfig(commonConfigSchema, env), ...loadConfig(ingestConfigSchema, env) };
  const featuresConfig = { ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) };
  const rand = prng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const now = Date.now();

  // Users with raw ids that must never leave ingest.
  const tag = uniqueName("raw");
  const rawUsers = Array.from({ length: 24 }, (_, i) => `${tag}-person${i}@example.com`);
  const items = Array.from({ length: 15 }, (_, i) => `item-${i}`);

  // A recommendation served 5 minutes ago, for attribution.
  const redis = newRedisClient(infra.connection, {});
  const store = createStore(redis, ns, ingestConfig);
  const rec = {
    recId: "rec-e2e-1",
    policy: "greedy",
    servedAt: now - 5 * MIN,
    items: [{ itemId: "item-1" }, { itemId: "item-2" }, { itemId: "item-3" }],
  };
  await store.recordRecommendation(rec);

  type Raw = {
    eventId: string;
    userId: string;
    itemId: string;
    type: EventType;
    ts: number | string;
    recId?: string;
    value?: number;
    context?: Record<string, string>;
  };
  const valid: Raw[] = [];
  for (let i = 0; i < 500; i++) {
    const late = i % 25 === 0;
    const ts = late ? now - Math.floor((3 + 2 * rand()) * 60 * MIN) : now - Math.floor(rand() * 10 * MIN);
    const e: Raw = { eventId: `ev-${i}`, userId: pick(rawUsers), itemId: pick(items), type: pick(EVENT_TYPES), ts };
    if (i % 7 === 0) e.context = { page: "home", referrer: `profile of ${e.userId}` };
    if (e.type === "rating") e.value = 1 + Math.floor(rand() * 5);
    if (i % 50 === 3) e.ts = new Date(ts).toISOString(); // ISO input, normalised to epoch ms
    valid.push(e);
  }
  // Clicks answering the recommendation: inside the window, a repeat click, off the slate, before serving.
  const clicker = rawUsers[0]!;
  valid.push(
    { eventId: "click-in-1", userId: clicker, itemId: "item-1", type: "click", ts: now - 4 * MIN, recId: rec.recId },
    { eventId: "click-in-2", userId: clicker, itemId: "item-1", type: "click", ts: now - 3 * MIN, recId: rec.recId },
    {
      eventId: "click-in-3",
      userId: rawUsers[1]!,
      itemId: "item-3",
      type: "click",
      ts: now - 2 * MIN,
      recId: rec.recId,
    },
    {
      eventId: "click-off-slate",
      userId: clicker,
      itemId: "item-9",
      type: "click",
      ts: now - 2 * MIN,
      recId: rec.recId,
    },
    { eventId: "click-before", userId: clicker, itemId: "item-2", type: "click", ts: now - 6 * MIN, recId: rec.recId },
  );
  const EXPECTED_ATTRIBUTED = 2;

  // Invalid messages and the reason each must carry.
  const good = (): Raw => ({
    eventId: uniqueName("bad"),
    userId: pick(rawUsers),
    itemId: "item-1",
    type: "view",
    ts: now - 1000,
  });
  const invalid: [Buffer | string | null, string][] = [
    ['{"eventId": "x", ', "malformed_json"],
    ["not json at all", "malformed_json"],
    [Buffer.from([0xff, 0xfe, 0x00, 0x7b]), "malformed_json"],
    [null, "malformed_json"],
    ["[1,2,3]", "not_an_object"],
    ["null", "not_an_object"],
    [JSON.stringify({ ...good(), userId: 12345 }), "wrong_type"],
    [JSON.stringify({ ...good(), ts: "yesterday" }), "wrong_type"],
    [JSON.stringify({ ...good(), value: "five" }), "wrong_type"],
    [JSON.stringify({ ...good(), itemId: "x".repeat(10_000) }), "payload_too_large"],
    [JSON.stringify({ ...good(), userId: "u".repeat(10_000) }), "payload_too_large"],
    [JSON.stringify({ ...good(), userId: "user:*" }), "invalid_id"],
    [JSON.stringify({ ...good(), userId: "evil\r\nX-Injected: 1" }), "invalid_id"],
    [JSON.stringify({ ...good(), userId: "" }), "invalid_id"],
    [JSON.stringify({ ...good(), userId: "用户-ünïcødé" }), "invalid_id"],
    [JSON.stringify({ ...good(), userId: "x".repeat(129) }), "invalid_id"],
    [JSON.stringify({ ...good(), itemId: "*" }), "invalid_id"],
    [JSON.stringify({ ...good(), type: "hover" }), "unknown_enum_value"],
    [JSON.stringify({ ...good(), ts: now + 3_600_000 }), "timestamp_in_future"],
    [JSON.stringify({ ...good(), ts: 12 }), "timestamp_out_of_range"],
    [JSON.stringify({ ...good(), admin: true }), "unknown_field"],
    [JSON.stringify({ eventId: "only-an-id" }), "missing_field"],
    [JSON.stringify({ ...good(), value: 1e12 }), "value_out_of_range"],
  ];
  const hostileIds = ["user:*", "evil\r\nX-Injected: 1", "用户-ünïcødé", "u".repeat(10_000)];

  // Duplicates: exact copies (same key, so same partition), some far from the original.
  const duplicates = Array.from({ length: 60 }, (_, i) => valid[(i * 7) % 500]!);
  // Out of order: shuffle the valid events; then interleave copies and invalid messages.
  const stream: OutgoingMessage[] = [];
  const order = valid.map((_, i) => i).sort(() => rand() - 0.5);
  const asMsg = (e: Raw): OutgoingMessage => ({ key: e.userId, value: JSON.stringify(e) });
  for (const i of order) {
    stream.push(asMsg(valid[i]!));
    if (rand() < 0.12 && duplicates.length > 0) stream.push(asMsg(duplicates.pop()!));
  }
  for (const d of duplicates) stream.push(asMsg(d));
  for (const [value] of invalid)
    stream.splice(Math.floor(rand() * stream.length), 0, {
      key: `k${stream.length % 5}`,
      value: value ?? Buffer.alloc(0),
    });
  const nullIndex = stream.findIndex((m) => Buffer.isBuffer(m.value) && m.value.length === 0);
  const totalDuplicates = 60;

  const kafka = createKafka({
    brokers: infra.brokers,
    clientId: "e2e",
    logger,
    security: kafkaSecurity(infra.connection),
  });
  await ensureFleetTopics(kafka, ns, { partitions: 4 });
  const producer = await createProducer(kafka);
  for (let i = 0; i < stream.length; i += 100) await producer.send(topics.clickstream, stream.slice(i, i + 100));
  assert.ok(nullIndex >= 0);

  const ingestRegistry = createMetricsRegistry("e2e-ingest");
  const featuresRegistry = createMetricsRegistry("e2e-features");
  const ingest = await startIngestWorker(ingestConfig, { logger, registry: ingestRegistry });
  const features = await startFeaturesWorker(featuresConfig, { logger, registry: featuresRegistry });
  try {
    await waitFor(
      "every valid event to be applied",
      async () =>
        (await counter(featuresRegistry, "recfleet_features_events_total", { outcome: "applied" })) >= valid.length,
      60_000,
    );
    const dead = await readTopic(kafka, topics.clickstreamDlq, {
      until: (r) => r.length >= invalid.length,
      timeoutMs: 30_000,
    });
    const events = await readTopic(kafka, topics.events, { until: (r) => r.length >= valid.length, timeoutMs: 30_000 });
    const refreshes = await readTopic(kafka, topics.recRequests, { idleMs: 1500, timeoutMs: 30_000 });
    // Let anything extra arrive before counting exactly.
    await sleep(1000);

    // Counts match exactly.
    assert.equal(
      await counter(featuresRegistry, "recfleet_features_events_total", { outcome: "applied" }),
      valid.length,
    );
    assert.equal(await counter(featuresRegistry, "recfleet_features_events_total", { outcome: "replayed" }), 0);
    assert.equal(
      await counter(featuresRegistry, "recfleet_features_events_total", { outcome: "attributed" }),
      EXPECTED_ATTRIBUTED,
    );
    assert.equal(await counter(ingestRegistry, "recfleet_ingest_events_total", { outcome: "new" }), valid.length);
    assert.equal(
      await counter(ingestRegistry, "recfleet_ingest_events_total", { outcome: "duplicate" }),
      totalDuplicates,
    );
    assert.equal(
      await counter(ingestRegistry, "recfleet_ingest_events_total", { outcome: "late" }),
      valid.filter((e) => Number(new Date(e.ts)) < now - 60 * MIN).length,
    );
    assert.equal(dead.length, invalid.length);
    assert.deepEqual(dead.map((d) => d.headers[DLQ_HEADERS.reason]).sort(), invalid.map(([, r]) => r).sort());
    for (const [, reason] of invalid) {
      const expected = invalid.filter(([, r]) => r === reason).length;
      assert.equal(await counter(ingestRegistry, "recfleet_consumer_dead_letters_total", { reason }), expected, reason);
    }
    assert.equal(events.length, valid.length);
    // Dead letters keep reason, offsets and a redacted payload: never a raw user id (ingest's rule).
    for (const d of dead) {
      assert.equal(d.key, null);
      assert.equal(d.headers[DLQ_HEADERS.redacted], "true");
      const text = `${d.value?.toString("utf8")} ${JSON.stringify(d.headers)}`;
      for (const raw of [...rawUsers, ...hostileIds])
        assert.ok(!text.includes(raw), `raw id in a dead letter: ${raw.slice(0, 40)}`);
    }

    // `events`: canonical, keyed by pseudonym, no raw id anywhere.
    const pseudo = new Map(rawUsers.map((u) => [u, pseudonymise(SECRET, u)]));
    const pseudonyms = new Set(pseudo.values());
    const partitionOf = new Map<string, number>();
    for (const r of events) {
      const decoded = decodeMessage<CanonicalEvent>(canonicalEventSpec, r.value);
      assert.ok(decoded.ok);
      assert.equal(r.key, decoded.value.user);
      assert.ok(pseudonyms.has(decoded.value.user));
      const p = partitionOf.get(decoded.value.user);
      assert.ok(p === undefined || p === r.partition, "one user's events stay in one partition");
      partitionOf.set(decoded.value.user, r.partition);
      const text = `${r.key} ${r.value?.toString("utf8")} ${JSON.stringify(r.headers)}`;
      for (const raw of [...rawUsers, ...hostileIds])
        assert.ok(!text.includes(raw), `raw id on events: ${raw.slice(0, 40)}`);
    }
    assert.equal(
      new Set(events.map((r) => (JSON.parse(r.value!.toString()) as CanonicalEvent).eventId)).size,
      valid.length,
    );

    // Refresh on purchase: one request per purchasing user (rate-limited for an hour), by pseudonym.
    const purchasers = new Set(valid.filter((e) => e.type === "purchase").map((e) => pseudo.get(e.userId)!));
    assert.equal(refreshes.length, purchasers.size);
    assert.deepEqual(
      new Set(refreshes.map((r) => (JSON.parse(r.value!.toString()) as { user: string }).user)),
      purchasers,
    );

    // Redis equals the reference model applied to the valid, deduplicated events.
    const ref = new ReferenceStore(
      ns,
      { ...ingestConfig, refreshIntervalMs: featuresConfig.refreshIntervalMs },
      () => now,
    );
    ref.recordRecommendation(rec);
    // The reference gets each event where features consumed it: its partition and offset on `events`.
    const validById = new Map(valid.map((e) => [e.eventId, e]));
    const featureEvents: FeatureEvent[] = [...events]
      .sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
      .map((r) => {
        const e = validById.get((JSON.parse(r.value!.toString()) as CanonicalEvent).eventId)!;
        return {
          eventId: e.eventId,
          user: pseudo.get(e.userId)!,
          itemId: e.itemId,
          type: e.type,
          ts: Number(new Date(e.ts)),
          weight: DEFAULT_EVENT_WEIGHTS[e.type],
          markSeen: true,
          reward: e.type === "click" && e.recId !== undefined,
          refresh: e.type === "purchase",
          partition: r.partition,
          offset: Number(r.offset),
          ...(e.recId ? { recId: e.recId } : {}),
        };
      });
    assert.equal(ref.applyEvents(featureEvents).attributed, EXPECTED_ATTRIBUTED);
    const expected = ref.snapshot();
    const actual = await snapshotRedis(redis, `${ns}:*`);
    // Ingest's claims: one fingerprint per valid event id, spread over clickstream's partitions.
    const claimed = new Set<string>();
    for (const [k, v] of actual) {
      if (!k.startsWith(`${ns}:dd:`)) continue;
      assert.equal(v.type, "zset", k);
      for (const [fp] of (v as { value: [string, number][] }).value) claimed.add(fp);
      actual.delete(k);
    }
    assert.deepEqual(claimed, new Set(valid.map((e) => eventFingerprint(e.eventId))));
    assert.deepEqual(diffSnapshots(expected, actual), []);
    const stats = await store.readItemStats(["item-1", "item-3", "item-9"], "greedy");
    assert.deepEqual(
      stats.map((s) => [s.impressions, s.clicks, s.policy?.clicks]),
      [
        [1, 1, 1],
        [1, 1, 1],
        [0, 0, 0],
      ],
    );

    // No raw user id anywhere in Redis: every key and every value of the whole database.
    const everything = await snapshotRedis(redis, "*");
    assert.ok(everything.size >= actual.size);
    for (const raw of [...rawUsers, ...hostileIds])
      assert.deepEqual(findInSnapshot(everything, raw), [], `raw id in Redis: ${raw.slice(0, 40)}`);
    assert.equal((await scanKeys(redis, `${ns}:*${tag}*`)).length, 0);

    // erase-user: nothing derived from that user remains; everyone else is untouched; the receipt names nobody.
    await features.stop();
    const victim = rawUsers[2]!;
    const victimPseudonym = pseudo.get(victim)!;
    const before = await snapshotRedis(redis, `${ns}:*`);
    // The user's state hash (history, seen items, watermarks), at least.
    assert.ok(findInSnapshot(before, victimPseudonym).length >= 1);
    const lines: string[] = [];
    assert.equal(await runEraseUserCli(["--user", victim], env, (l) => lines.push(l)), 0);
    const receipt = JSON.parse(lines[0]!) as { receiptId: string; keysDeleted: number };
    assert.ok(receipt.keysDeleted >= 1);
    assert.ok(!lines.join("").includes(victim) && !lines.join("").includes(victimPseudonym));
    const afterErase = await snapshotRedis(redis, `${ns}:*`);
    assert.deepEqual(findInSnapshot(afterErase, victimPseudonym), []);
    for (const [k, v] of before) if (!k.includes(victimPseudonym)) assert.deepEqual(afterErase.get(k), v, k);
    const erasures = afterErase.get(store.keys.erasures);
    assert.ok(
      erasures?.type === "stream" && erasures.value.length === 1 && erasures.value[0]!.receipt === receipt.receiptId,
    );
    assert.equal(await runEraseUserCli([], env, () => {}), 2);
  } finally {
    await features.stop();
    await ingest.stop();
    await producer.close();
    redis.disconnect();
  }
});

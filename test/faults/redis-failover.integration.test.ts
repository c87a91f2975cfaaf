/**
 * Redis Cluster failover under a live stream: ingest and features run against a 3-master
 * cluster of the test's own (killing a master of the shared one would break the other test
 * files), a clickstream flows in, and one master is SIGKILLed mid-stream while its replica is
 * behind — its replication link was cut a few seconds earlier, so the replica really lacks
 * writes the master acknowledged (on loopback a replica is otherwise never behind long enough
 * for the kill to lose anything, and the test could not fail). The replica is promoted, the
 * workers go on, and the test asserts: every event applied (lost 0) and the state equal to the
 * reference of each event applied once. The workers commit Kafka offsets only after their
 * writes reached a replica (WAIT 1), so what the dead master took with it is replayed, not lost;
 * with RECFLEET_REPLICA_WAIT=0 this test fails.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import { consumerGroupId, topicNames, EVENT_TYPES, type CanonicalEvent, type EventType } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, groupLag, readTopic } from "@recfleet/bus";
import { startRedisCluster, testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import {
  createStore,
  eventFingerprint,
  keySlot,
  newRedisClient,
  pseudonymise,
  storeKeys,
  type FeatureEvent,
} from "@recfleet/store";
import { ReferenceStore, diffSnapshots, scanKeys, snapshotRedis } from "@recfleet/store/testing";
import { ingestConfigSchema, startIngestWorker } from "@recfleet/ingest";
import { featuresConfigSchema, featurePolicy, startFeaturesWorker, toFeatureEvent } from "@recfleet/features";
import { prng } from "../e2e/fleet-helpers";

const infra = testInfra();
const MIN = 60_000;
const SECRET = "failover-secret-0123456789abcdef";
const TOTAL = 3000;
/** Longer than the replication waiter's cache of replica counts (5 s): a waiter that trusts
 * "connected replicas right now" stops waiting within this time, and the kill then loses data. */
const LINK_DOWN_MS = 7_000;

async function counter(registry: Registry, name: string, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.filter((v) => v.labels.outcome === outcome).reduce((s, v) => s + v.value, 0);
}

/** One node of the cluster on a client of its own (not the cluster client). */
const nodeClient = (port: number) =>
  newRedisClient({ redisUrl: `redis://127.0.0.1:${port}` }, { maxRetriesPerRequest: 1, retryStrategy: () => null });

async function ask<T>(port: number, question: (c: ReturnType<typeof nodeClient>) => Promise<T>): Promise<T> {
  const c = nodeClient(port);
  c.on("error", () => undefined);
  try {
    return await question(c);
  } finally {
    c.disconnect();
  }
}

const decodeId = (value: Buffer | null): string => (JSON.parse(value!.toString()) as CanonicalEvent).eventId;

const replOffset = (info: string, field: "master_repl_offset" | "slave_repl_offset") =>
  Number(new RegExp(`^${field}:(\\d+)`, "m").exec(info)?.[1] ?? NaN);

test("Redis Cluster failover mid-stream: the replica (behind) takes over, the workers go on, lost 0, state equals one pass", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-failover-"));
  const cluster = await startRedisCluster({ dir });
  const ns = uniqueName("failover");
  const keys = storeKeys(ns);
  const env = {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: cluster.url,
    RECFLEET_NAMESPACE: ns,
    RECFLEET_PSEUDONYM_SECRET: SECRET,
    RECFLEET_TOPIC_PARTITIONS: "4",
    RECFLEET_ATTRIBUTION_WINDOW: "10m",
    // Small fetches: many batches, so offsets are committed all through the failover.
    INGEST_MAX_BYTES_PER_PARTITION: "2048",
    FEATURES_MAX_BYTES_PER_PARTITION: "2048",
    // RECFLEET_REPLICA_WAIT=0 npm test -- redis-failover: no waiting for replicas, and the test fails.
    ...(process.env.RECFLEET_REPLICA_WAIT ? { RECFLEET_REPLICA_WAIT: process.env.RECFLEET_REPLICA_WAIT } : {}),
  };
  // The workers' warnings, shown when the test fails (retries through the failover are expected).
  const lines: string[] = [];
  const logger = createLogger("failover", { level: "warn", write: (l) => lines.push(l) });
  const ingestConfig = { ...loadConfig(commonConfigSchema, env), ...loadConfig(ingestConfigSchema, env) };
  const featuresConfig = { ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) };
  const kafka = createKafka({ brokers: infra.brokers, clientId: "failover", logger });
  const redis = newRedisClient({ redisUrl: cluster.url }, {});
  redis.on("error", () => undefined);
  const now = Date.now();
  const rand = prng(16);
  const rawUsers = Array.from({ length: 60 }, (_, i) => `${ns}-person${i}`);
  const pseudo = new Map(rawUsers.map((u) => [u, pseudonymise(SECRET, u)]));
  const rec = {
    recId: "rec-failover",
    policy: "greedy",
    servedAt: now - 8 * MIN,
    items: ["item-0", "item-1", "item-2", "item-3"].map((itemId) => ({ itemId })),
  };
  type Raw = { eventId: string; userId: string; itemId: string; type: EventType; ts: number; recId?: string };
  const valid: Raw[] = Array.from({ length: TOTAL }, (_, i) => {
    const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!;
    const e: Raw = {
      eventId: `ev-${i}`,
      userId: rawUsers[Math.floor(rand() * rawUsers.length)]!,
      itemId: `item-${Math.floor(rand() * 30)}`,
      type,
      ts: now - Math.floor(rand() * 7 * MIN),
    };
    if (type === "click" && rand() < 0.5) e.recId = rec.recId;
    return e;
  });
  // Exact copies an app sent twice: ingest drops them.
  const stream = valid.flatMap((e) => (rand() < 0.05 ? [e, e] : [e]));

  const applied = async () => {
    let n = 0;
    for (const key of await scanKeys(redis, `${ns}:ap:*`)) if (!key.endsWith(":wm")) n += await redis.zcard(key);
    return n;
  };
  let sending = true;
  let sender: Promise<void> = Promise.resolve();
  const ingestRegistry = createMetricsRegistry("failover-ingest");
  const featuresRegistry = createMetricsRegistry("failover-features");
  const workers: { stop(): Promise<void> }[] = [];
  try {
    await ensureFleetTopics(kafka, ns, { partitions: 4 });
    await createStore(redis, ns, featuresConfig).recordRecommendation(rec);
    workers.push(await startIngestWorker(ingestConfig, { logger, registry: ingestRegistry }));
    workers.push(await startFeaturesWorker(featuresConfig, { logger, registry: featuresRegistry }));

    // The victim: the master of events partition 0's watermark (any master holds users too).
    const slot = keySlot(keys.appliedWatermark("0"));
    // The node answering may not list the replica yet (gossip is still spreading it): ask again.
    const slotNodes = async () => {
      const range = (await redis.cluster("SLOTS")).find(([from, to]) => from <= slot && slot <= to)!;
      const ports = range.slice(2).map((node) => Number((node as [string, number, ...unknown[]])[1]));
      return ports.length >= 2 ? ([ports[0]!, ports[1]!] as const) : undefined;
    };
    const [victimPort, replicaPort] = await waitFor(
      `slot ${slot} to list a master and a replica`,
      slotNodes,
      30_000,
      200,
    );
    const victim = cluster.members.find((m) => m.port === victimPort)!;

    // The clickstream, paced: it is still flowing while the replica falls behind and the master dies.
    const producer = await createProducer(kafka);
    let sent = 0;
    sender = (async () => {
      for (; sent < stream.length && sending; sent += 20) {
        await producer.send(
          topicNames(ns).clickstream,
          stream.slice(sent, sent + 20).map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
        );
        await sleep(60);
      }
      await producer.close();
    })();
    await waitFor("some events applied", async () => (await applied()) >= TOTAL / 10, 60_000, 100);

    // Cut the replica's link (it cannot re-authenticate) and let the master take writes alone.
    await ask(replicaPort, async (c) => {
      await c.config("SET", "masterauth", "not-the-password");
      await c.call("CLIENT", "KILL", "TYPE", "master");
    });
    await waitFor(
      "the victim to see no replica online",
      () => ask(victimPort, async (c) => /connected_slaves:0/.test(await c.info("replication"))),
      10_000,
      100,
    );
    const appliedAtCut = await applied();
    await sleep(LINK_DOWN_MS);
    const masterOffset = replOffset(await ask(victimPort, (c) => c.info("replication")), "master_repl_offset");
    const replicaOffset = replOffset(await ask(replicaPort, (c) => c.info("replication")), "slave_repl_offset");
    const appliedAtKill = await applied();
    victim.process.kill("SIGKILL");
    const killedAt = Date.now();
    assert.ok(masterOffset > replicaOffset, `the replica was not behind (${replicaOffset} of ${masterOffset})`);
    assert.ok(appliedAtKill < TOTAL, `the kill came after the stream (${appliedAtKill} of ${TOTAL} applied)`);

    await waitFor(
      "the replica to be promoted",
      () =>
        ask(replicaPort, async (c) => {
          const role = ((await c.call("ROLE")) as [string])[0];
          return role === "master" && /cluster_state:ok/.test(String(await c.call("CLUSTER", "INFO")));
        }).catch(() => false),
      30_000,
      100,
    );
    const promotedS = (Date.now() - killedAt) / 1000;
    await ask(replicaPort, (c) => c.config("SET", "masterauth", ""));
    assert.equal((await cluster.masterPorts()).length, 3);

    await sender;
    // Both groups committed to the end: ingest produced everything, features applied what it committed.
    let lags: number[] = [];
    await waitFor(
      "both groups to commit to the end",
      async () => {
        lags = [
          await groupLag(kafka, consumerGroupId(ns, "ingest"), topicNames(ns).clickstream),
          await groupLag(kafka, consumerGroupId(ns, "features"), topicNames(ns).events),
        ];
        return lags.every((l) => l === 0);
      },
      120_000,
      250,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; lag of ingest, features: ${lags.join(", ")}; last log lines:\n${lines.slice(-15).join("\n")}`,
      );
    });
    const finishedS = (Date.now() - killedAt) / 1000;
    const replayed = await counter(featuresRegistry, "recfleet_features_events_total", "replayed");
    for (const w of workers.splice(0)) await w.stop();
    console.log(
      `# replica ${masterOffset - replicaOffset} bytes behind at the SIGKILL (link cut at ${appliedAtCut}, kill at ${appliedAtKill} of ${TOTAL} events applied); ` +
        `promoted ${promotedS.toFixed(1)} s after the kill; everything applied ${finishedS.toFixed(1)} s after; features replayed ${replayed}`,
    );

    // Lost 0: every valid event is on `events` and in features' duplicate filters.
    const events = await readTopic(kafka, topicNames(ns).events, { timeoutMs: 30_000 });
    const byId = new Map(valid.map((e) => [e.eventId, e]));
    const onEvents = new Set(events.map((r) => decodeId(r.value)));
    assert.equal([...byId.keys()].filter((id) => !onEvents.has(id)).length, 0, "events missing from `events`");
    const actual = await snapshotRedis(redis, `${ns}:*`);
    const fingerprints = new Set<string>();
    const claimed = new Set<string>();
    for (const [k, v] of actual) {
      if (v.type !== "zset") continue;
      if (k.startsWith(`${ns}:ap:`)) for (const [fp] of v.value) fingerprints.add(fp);
      if (k.startsWith(`${ns}:dd:`)) {
        for (const [fp] of v.value) claimed.add(fp);
        actual.delete(k);
      }
    }
    const lost = valid.filter((e) => !fingerprints.has(eventFingerprint(e.eventId))).length;
    console.log(`# lost ${lost} of ${TOTAL}; ${events.length - TOTAL} extra copies on events (ingest replays)`);
    if (lost > 0) {
      const missing = events.filter((r) => !fingerprints.has(eventFingerprint(decodeId(r.value))));
      console.log(
        `# missing (partition:offset): ${missing
          .slice(0, 20)
          .map((r) => `${r.partition}:${r.offset}`)
          .join(" ")}${missing.length > 20 ? " …" : ""}`,
      );
    }
    assert.equal(lost, 0);
    assert.deepEqual(claimed, new Set(valid.map((e) => eventFingerprint(e.eventId))));

    // The state equals one pass: the reference applying each record of `events` once, in order.
    const ref = new ReferenceStore(ns, featuresConfig, () => now);
    ref.recordRecommendation(rec);
    // Each valid event as ingest should have written it (pseudonym from the raw id), mapped by the
    // features worker's own policy, at the position features consumed it.
    const policy = featurePolicy(featuresConfig);
    const featureEvents: FeatureEvent[] = [...events]
      .sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
      .map((r) => {
        const { userId, ...e } = byId.get(decodeId(r.value))!;
        const fe = toFeatureEvent({ ...e, user: pseudo.get(userId)!, ingestedAt: now, late: false }, policy);
        fe.partition = r.partition;
        fe.offset = Number(r.offset);
        return fe;
      });
    assert.ok(ref.applyEvents(featureEvents).attributed > 0);
    assert.deepEqual(diffSnapshots(ref.snapshot(), actual), []);
  } finally {
    sending = false;
    await sender.catch(() => undefined);
    for (const w of workers) await w.stop().catch(() => undefined);
    redis.disconnect();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

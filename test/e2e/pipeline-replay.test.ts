/**
 * Replay safety of the features worker: a child process is killed with SIGKILL mid-stream and
 * restarted; the final Redis state must be identical to a run without the kill (and to the
 * reference model). Then a whole second pass over `events` (a new consumer group) must change
 * nothing at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import { consumerGroupId, topicNames, EVENT_TYPES, type CanonicalEvent } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, groupLag, kafkaSecurity, readTopic } from "@recfleet/bus";
import { waitForPortFile } from "@recfleet/stack";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createStore, newRedisClient, pseudonymise, type FeatureEvent } from "@recfleet/store";
import { ReferenceStore, diffSnapshots, renamespace, snapshotRedis, scanKeys } from "@recfleet/store/testing";
import { featuresConfigSchema, startFeaturesWorker, DEFAULT_EVENT_WEIGHTS } from "@recfleet/features";

const infra = testInfra();
const MIN = 60_000;
const TOTAL = 4000;
const FEATURES_MAIN = fileURLToPath(new URL("../../services/features/src/main.ts", import.meta.url));

async function counter(registry: Registry, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric("recfleet_features_events_total");
  if (!metric) return 0;
  return (await metric.get()).values.filter((v) => v.labels.outcome === outcome).reduce((s, v) => s + v.value, 0);
}

test("features replay: SIGKILL mid-stream and restart gives the state of an uninterrupted run; a full second pass changes nothing", async () => {
  const now = Date.now();
  const [nsA, nsB] = [uniqueName("replay-a"), uniqueName("replay-b")];
  const logger = createLogger("e2e-replay", { level: "error" });
  const kafka = createKafka({
    brokers: infra.brokers,
    clientId: "e2e-replay",
    logger,
    security: kafkaSecurity(infra.connection),
  });
  const redis = newRedisClient(infra.connection, {});
  const envFor = (ns: string): Record<string, string> => ({
    ...infra.env,
    RECFLEET_NAMESPACE: ns,
    RECFLEET_TOPIC_PARTITIONS: "4",
    RECFLEET_ATTRIBUTION_WINDOW: "10m",
    FEATURES_MAX_BYTES_PER_PARTITION: "2048",
    LOG_LEVEL: "error",
  });
  const configFor = (ns: string, extra: Record<string, string> = {}) => {
    const env = { ...envFor(ns), ...extra };
    return { ...loadConfig(commonConfigSchema, env), ...loadConfig(featuresConfigSchema, env) };
  };

  // One stream of canonical events, with clicks on a served recommendation, produced to both namespaces.
  let seed = 11;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const users = Array.from({ length: 40 }, (_, i) => pseudonymise("replay-secret-0123456789", `user-${i}`));
  const rec = {
    recId: "rec-replay",
    policy: "epsilon:0.1",
    servedAt: now - 8 * MIN,
    items: ["item-0", "item-1", "item-2", "item-3"].map((itemId) => ({ itemId })),
  };
  const events: CanonicalEvent[] = Array.from({ length: TOTAL }, (_, i) => {
    const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!;
    const e: CanonicalEvent = {
      eventId: `ev-${i}`,
      user: users[Math.floor(rand() * users.length)]!,
      itemId: `item-${Math.floor(rand() * 30)}`,
      type,
      ts: now - Math.floor(rand() * 7 * MIN),
      ingestedAt: now,
      late: false,
    };
    if (type === "click" && rand() < 0.5) e.recId = rec.recId;
    return e;
  });
  // Everything after the Redis connection is inside try/finally: an early failure must not
  // leave the connection open and hang the file until the runner's timeout.
  try {
    const producer = await createProducer(kafka);
    for (const ns of [nsA, nsB]) {
      const t = topicNames(ns);
      await ensureFleetTopics(kafka, ns, { partitions: 4 });
      await createStore(redis, ns, configFor(ns)).recordRecommendation(rec);
      // Small sends make small record batches, so the consumer commits often and a kill lands between batches' effects and commits.
      for (let i = 0; i < events.length; i += 40)
        await producer.send(
          t.events,
          events.slice(i, i + 40).map((e) => ({ key: e.user, value: e })),
        );
    }
    await producer.close();
    // Events applied so far: the fingerprints in the partitions' duplicate filters (one per new event).
    const applied = async (ns: string) => {
      let n = 0;
      for (const key of await scanKeys(redis, `${ns}:ap:*`)) if (!key.endsWith(":wm")) n += await redis.zcard(key);
      return n;
    };

    // Run A: uninterrupted, in-process.
    const a = await startFeaturesWorker(configFor(nsA), { logger, registry: createMetricsRegistry("replay-a") });
    await waitFor("run A to apply every event", async () => (await applied(nsA)) === TOTAL, 60_000, 200);
    await a.stop();
    const stateA = await snapshotRedis(redis, `${nsA}:*`);

    // Run B: a child process, killed with SIGKILL mid-stream, then restarted.
    const portFile = join(mkdtempSync(join(tmpdir(), "recfleet-replay-")), "features.port");
    const child = (): ChildProcess => {
      rmSync(portFile, { force: true });
      return spawn(process.execPath, ["--import", "tsx", FEATURES_MAIN], {
        env: { ...process.env, ...envFor(nsB), METRICS_PORT: "0", METRICS_PORT_FILE: portFile },
        stdio: ["ignore", "ignore", "inherit"],
      });
    };
    const first = child();
    await waitFor("the first child to apply some events", async () => (await applied(nsB)) >= TOTAL / 5, 60_000, 20);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const atKill = await applied(nsB);
    assert.ok(atKill < TOTAL, `the kill came too late to be mid-stream (${atKill} of ${TOTAL})`);
    const second = child();
    const groupB = consumerGroupId(nsB, "features");
    await waitFor(
      "run B to apply every event and commit",
      async () => (await applied(nsB)) === TOTAL && (await groupLag(kafka, groupB, topicNames(nsB).events)) === 0,
      90_000,
      250,
    );
    const port = await waitForPortFile(portFile, second);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const replayed = /recfleet_features_events_total\{[^}]*outcome="replayed"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? "0";
    second.kill("SIGTERM");
    const code = await new Promise((r) => second.once("exit", r));
    assert.equal(code, 0, "graceful exit on SIGTERM");
    console.log(
      `# SIGKILL after ${atKill}/${TOTAL} events applied; the restarted worker saw ${replayed} already-applied events again`,
    );
    const stateB = await snapshotRedis(redis, `${nsB}:*`);
    assert.deepEqual(diffSnapshots(renamespace(stateA, `${nsA}:`, `${nsB}:`), stateB), []);

    // Both equal the reference model of each event applied once.
    const ref = new ReferenceStore(nsB, configFor(nsB), () => now);
    ref.recordRecommendation(rec);
    // Each event where features consumed it: partition and offset on `events`.
    const records = await readTopic(kafka, topicNames(nsB).events, {
      until: (r) => r.length >= TOTAL,
      timeoutMs: 30_000,
    });
    const byId = new Map(events.map((e) => [e.eventId, e]));
    const fe: FeatureEvent[] = [...records]
      .sort((x, y) => x.partition - y.partition || Number(x.offset) - Number(y.offset))
      .map((r) => ({ r, e: byId.get((JSON.parse(r.value!.toString()) as CanonicalEvent).eventId)! }))
      .map(({ r, e }) => ({
        partition: r.partition,
        offset: Number(r.offset),
        eventId: e.eventId,
        user: e.user,
        itemId: e.itemId,
        type: e.type,
        ts: e.ts,
        weight: DEFAULT_EVENT_WEIGHTS[e.type],
        markSeen: true,
        reward: e.type === "click" && e.recId !== undefined,
        refresh: false,
        ...(e.recId ? { recId: e.recId } : {}),
      }));
    const { attributed } = ref.applyEvents(fe);
    assert.ok(attributed > 0);
    assert.deepEqual(diffSnapshots(ref.snapshot(), stateB), []);

    // A whole second pass over `events` by a new consumer group: nothing applied, nothing changed.
    const registry = createMetricsRegistry("replay-full");
    const again = await startFeaturesWorker(configFor(nsB, { FEATURES_GROUP_ID: uniqueName("second-pass") }), {
      logger,
      registry,
    });
    await waitFor(
      "the second pass to see every event",
      async () => (await counter(registry, "replayed")) >= TOTAL,
      60_000,
      200,
    );
    await again.stop();
    assert.equal(await counter(registry, "applied"), 0);
    assert.deepEqual(diffSnapshots(stateB, await snapshotRedis(redis, `${nsB}:*`)), []);
  } finally {
    redis.disconnect();
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createLogger, createMetricsRegistry, loadConfig, commonConfigSchema } from "@recfleet/runtime";
import { createKafka, createProducer, readTopic, DLQ_HEADERS, ensureFleetTopics } from "@recfleet/bus";
import { topicNames, type Recommendation } from "@recfleet/contracts";
import {
  createModelRegistry,
  createStore,
  modelKeys,
  newRedisClient,
  storeKeys,
  REC_SHARDS,
  type FeatureEvent,
} from "@recfleet/store";
import { publishModelVersion } from "@recfleet/store/testing";
import { resolveConfig, trainTwoTower, exportModelArtefacts, itemVectors, type TwoTowerModel } from "@recfleet/towers";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { scorerConfigSchema } from "./config";
import { startScorerWorker } from "./worker";

const infra = testInfra();
const logger = createLogger("scorer-it", { level: "error" });
const kafka = createKafka({ brokers: infra.brokers, clientId: "scorer-it", logger });
const redis = newRedisClient({ redisUrl: infra.redisUrl }, {});
test.after(() => redis.disconnect());

const NUM_ITEMS = 40;
const itemIds = Array.from({ length: NUM_ITEMS }, (_, i) => `item${i}`);

async function trainTiny(seed: number): Promise<TwoTowerModel> {
  const examples = Array.from({ length: 200 }, (_, e) => {
    const b = (e * 3) % NUM_ITEMS;
    return { history: [b, (b + 1) % NUM_ITEMS], target: (b + 2) % NUM_ITEMS };
  });
  return trainTwoTower(
    { itemIds, itemFeatures: new Float32Array(0), examples },
    resolveConfig({ dim: 8, hidden: 16, historyLength: 10, batchSize: 32, epochs: 1, temperature: 0.2, seed }),
  );
}

async function publish(ns: string, model: TwoTowerModel, version: string): Promise<void> {
  const artefacts = exportModelArtefacts(model, { modelVersion: version });
  const registry = createModelRegistry(redis, ns);
  await publishModelVersion(registry, {
    version,
    dim: model.config.dim,
    shardSize: 16,
    artefacts,
    itemMatrix: itemVectors(model),
  });
}

async function seedHistories(ns: string, users: string[]): Promise<void> {
  const store = createStore(redis, ns);
  const events: FeatureEvent[] = users.flatMap((user, u) =>
    [0, 1, 2].map((j) => ({
      eventId: `${user}-e${j}`,
      user,
      itemId: `item${(u * 5 + j) % NUM_ITEMS}`,
      type: "click" as const,
      ts: Date.now() - 10_000 + j,
      weight: 1,
      markSeen: true,
      reward: false,
      refresh: false,
    })),
  );
  await store.applyEvents(events);
}

function configFor(ns: string, extra: Record<string, string> = {}) {
  const env = {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: ns,
    RECFLEET_PROFILE: "dev",
    EXECUTION_PROVIDERS: "cuda,cpu",
    MODEL_POLL_INTERVAL: "500ms",
    RECFLEET_TOPIC_PARTITIONS: "4",
    // These scorers run inside the test process, which trains models (seconds of synchronous
    // work) while they consume: the real-time default (6 s) would expire the session meanwhile,
    // as for any process whose event loop stops that long. Failover timing is SCALE-OUT's.
    SCORER_SESSION_TIMEOUT: "30s",
    ...extra,
  };
  return { ...loadConfig(commonConfigSchema, env), ...loadConfig(scorerConfigSchema, env) };
}

const user = (i: number) => `u${String(i).padStart(3, "0")}${"a".repeat(8)}`;

test("scorer: every request answered from the promoted version, no seen items; hot swap mid-stream; malformed → DLQ; corrupt artefact refused", async () => {
  const ns = uniqueName("scorer");
  const topics = topicNames(ns);
  const users = Array.from({ length: 20 }, (_, i) => user(i));
  await seedHistories(ns, users);
  await publish(ns, await trainTiny(1), "v1");
  const scorer = await startScorerWorker(configFor(ns), { logger, registry: createMetricsRegistry("scorer-it") });
  assert.equal(scorer.holder.version, "v1");
  const producer = await createProducer(kafka);
  const send = (from: number, n: number) =>
    producer.send(
      topics.recRequests,
      Array.from({ length: n }, (_, i) => ({
        key: users[(from + i) % users.length]!,
        value: { requestId: `q${from + i}`, user: users[(from + i) % users.length], ts: Date.now(), k: 5 },
      })),
    );

  await send(0, 100);
  // v1 answers the first requests before the swap begins (so both versions must be seen).
  await readTopic(kafka, topics.recommendations, { until: (r) => r.length >= 100, timeoutMs: 60_000 });
  // A second version arrives while requests flow.
  const swap = publish(ns, await trainTiny(2), "v2").then(() =>
    producer.send(topics.modelVersions, [
      { key: "v2", value: { version: "v2", createdAt: Date.now(), itemCount: NUM_ITEMS, dim: 8 } },
    ]),
  );
  for (let from = 100; from < 400; from += 50) {
    await send(from, 50);
    await sleep(30);
  }
  await swap;
  await waitFor("the swap to v2", () => scorer.holder.version === "v2", 20_000);
  await send(400, 50);
  await producer.send(topics.recRequests, [
    { key: "x", value: "{not json" },
    { key: "y", value: { requestId: "bad", ts: Date.now() } },
  ]);

  const recs = await readTopic(kafka, topics.recommendations, {
    until: (r) => new Set(r.map((m) => (JSON.parse(m.value!.toString()) as Recommendation).requestId)).size >= 450,
    timeoutMs: 60_000,
  });
  const byRequest = new Map<string, Recommendation>();
  for (const m of recs) {
    const rec = JSON.parse(m.value!.toString()) as Recommendation;
    byRequest.set(rec.requestId, rec);
  }
  assert.equal(byRequest.size, 450, "every request answered");
  const seen = new Map(users.map((u, i) => [u, new Set([0, 1, 2].map((j) => `item${(i * 5 + j) % NUM_ITEMS}`))]));
  const versions = new Set<string>();
  for (const rec of byRequest.values()) {
    versions.add(rec.modelVersion);
    assert.ok(["v1", "v2"].includes(rec.modelVersion), `answered by ${rec.modelVersion}`);
    assert.equal(rec.items.length, 5);
    for (const it of rec.items) assert.ok(!seen.get(rec.user)!.has(it.itemId), "a seen item was recommended");
  }
  assert.deepEqual([...versions].sort(), ["v1", "v2"], "both versions served during the swap");
  assert.equal(byRequest.get("q449")!.modelVersion, "v2");

  const dead = await readTopic(kafka, topics.recRequestsDlq, { until: (r) => r.length >= 2, timeoutMs: 20_000 });
  assert.deepEqual(dead.map((d) => d.headers[DLQ_HEADERS.reason]).sort(), ["malformed_json", "missing_field"]);

  // A corrupt artefact: v3's serving graph is damaged after registration → refused, v2 keeps serving.
  const model3 = await trainTiny(3);
  await publish(ns, model3, "v3").catch(() => undefined);
  await redis.set(modelKeys(ns).artefact("v3", "serving.onnx"), Buffer.from("garbage"));
  await producer.send(topics.modelVersions, [
    { key: "v3", value: { version: "v3", createdAt: Date.now(), itemCount: NUM_ITEMS, dim: 8 } },
  ]);
  await sleep(1500);
  assert.equal(scorer.holder.version, "v2", "a corrupt version must be refused");
  await send(500, 5);
  const after = await readTopic(kafka, topics.recommendations, {
    until: (r) => r.some((m) => (JSON.parse(m.value!.toString()) as Recommendation).requestId === "q504"),
    timeoutMs: 20_000,
  });
  const last = after.map((m) => JSON.parse(m.value!.toString()) as Recommendation).find((r) => r.requestId === "q504")!;
  assert.equal(last.modelVersion, "v2");
  await producer.close();
  await scorer.stop();
});

test("a registry that loses its current version is reported (log, gauge) and the loaded model keeps serving", async () => {
  const ns = uniqueName("scorer-lost");
  await publish(ns, await trainTiny(1), "v1");
  const lines: string[] = [];
  const registry = createMetricsRegistry("scorer-lost");
  const scorer = await startScorerWorker(configFor(ns), {
    logger: createLogger("scorer-lost", { level: "info", write: (line) => lines.push(line) }),
    registry,
  });
  const gauge = async () =>
    Number((await registry.getSingleMetric("recfleet_scorer_registry_lost")?.get())?.values[0]?.value);
  try {
    assert.equal(scorer.holder.version, "v1");
    await waitFor("the gauge to read 0", async () => (await gauge()) === 0, 10_000);
    // What a Redis restarted empty looks like to the scorer: no current version.
    await redis.del(modelKeys(ns).current);
    await waitFor("the gauge to read 1", async () => (await gauge()) === 1, 10_000);
    assert.ok(lines.some((l) => l.includes("the model registry names no current version")));
    assert.equal(scorer.holder.version, "v1", "the loaded model keeps serving");
    await redis.set(modelKeys(ns).current, "v1");
    await waitFor("the gauge to read 0 again", async () => (await gauge()) === 0, 10_000);
  } finally {
    await scorer.stop();
  }
});

// Clients choose the policy string; what the scorer keeps per policy (metric series, cached
// policies, Redis fields) must stay bounded by what the operator allowed.
test("1,000 different policy strings: only allowed policies are served and labelled, the rest dead-lettered", async () => {
  const ns = uniqueName("policies");
  const topics = topicNames(ns);
  const users = Array.from({ length: 20 }, (_, i) => user(i));
  await seedHistories(ns, users);
  await publish(ns, await trainTiny(1), "v1");
  const registry = createMetricsRegistry("scorer-policies-it");
  const allowed = "thompson:16,lift=1,prior=3; epsilon:0.1";
  const config = configFor(ns, { POLICY_SPLIT: "greedy:1", SCORER_ALLOWED_POLICIES: allowed });
  const scorer = await startScorerWorker(config, { logger, registry });
  const allowedIds = ["greedy", "thompson:16,prior=3,lift=1", "epsilon:0.1"];

  // 1,000 distinct strings: spellings of the allowed policies, valid specs the operator did not
  // allow, and strings that are no spec at all.
  const spellings = [
    "greedy",
    ...Array.from({ length: 30 }, (_, k) => `epsilon:0.1${"0".repeat(k)}`),
    ...Array.from({ length: 15 }, (_, k) => `thompson:16,lift=1,prior=3${k ? "." + "0".repeat(k) : ""}`),
    ...Array.from({ length: 15 }, (_, k) => `thompson:16,prior=3${k ? "." + "0".repeat(k) : ""},lift=1`),
  ];
  const notAllowed = Array.from({ length: 470 }, (_, k) => {
    return k % 2 ? `epsilon:0.${k + 200}` : `thompson:${k + 17},lift=1,prior=3`;
  });
  const junk = Array.from({ length: 1000 - spellings.length - notAllowed.length }, (_, k) => `no-such-policy-${k}`);
  const policies = [...spellings, ...notAllowed, ...junk];
  assert.equal(new Set(policies).size, 1000);
  const producer = await createProducer(kafka);
  // Stopped however the test ends: a scorer left running would hold the file until its timeout.
  try {
    for (let i = 0; i < policies.length; i += 100) {
      await producer.send(
        topics.recRequests,
        policies.slice(i, i + 100).map((policy, j) => {
          const u = users[(i + j) % users.length]!;
          return { key: u, value: { requestId: `p${i + j}`, user: u, ts: Date.now(), k: 5, policy } };
        }),
      );
    }

    const rejected = notAllowed.length + junk.length;
    const answers = spellings.length;
    const recs = await readTopic(kafka, topics.recommendations, {
      until: (r) => r.length >= answers,
      timeoutMs: 60_000,
    });
    const dead = await readTopic(kafka, topics.recRequestsDlq, {
      until: (r) => r.length >= rejected,
      timeoutMs: 60_000,
    });
    const answered = recs.map((m) => JSON.parse(m.value!.toString()) as Recommendation);
    const servedBy = new Set(answered.map((r) => r.policy));
    assert.equal(new Set(answered.map((r) => r.requestId)).size, spellings.length, "every allowed spelling answered");
    assert.ok(
      [...servedBy].every((p) => allowedIds.includes(p)),
      `served by ${[...servedBy].join(", ")}`,
    );
    const reasons: Record<string, number> = {};
    for (const d of dead) reasons[d.headers[DLQ_HEADERS.reason]!] = (reasons[d.headers[DLQ_HEADERS.reason]!] ?? 0) + 1;
    assert.deepEqual(reasons, { policy_not_allowed: notAllowed.length, unknown_policy: junk.length });

    // Every series with a policy label, in every metric of the scorer's registry.
    const labelled = async () => (await registry.metrics()).split("\n").filter((line) => /[{,]policy="/.test(line));
    const servedName = "recfleet_scorer_recommendations_total{";
    const servedSeries = async () => (await labelled()).filter((line) => line.startsWith(servedName));
    const valueOf = (line: string) => Number(line.slice(line.lastIndexOf(" ") + 1));
    const servedTotal = async () => (await servedSeries()).reduce((sum, line) => sum + valueOf(line), 0);
    await waitFor(
      "the served counter to count every answer",
      async () => (await servedTotal()) === spellings.length,
      10_000,
    );
    const lines = await labelled();
    const labels = new Set(lines.map((line) => /[{,]policy="([^"]*)"/.exec(line)![1]!));
    assert.deepEqual([...labels].sort(), [...allowedIds].sort(), lines.join("\n"));
    assert.ok((await servedSeries()).length <= allowedIds.length * 2, lines.join("\n"));
    console.log(`# ${lines.length} policy-labelled series for 1,000 policy strings: ${[...labels].join(" | ")}`);

    // The per-policy bandit statistics in Redis are keyed by the same bounded ids.
    const keys = storeKeys(ns);
    const fields = new Set<string>();
    for (let shard = 0; shard < REC_SHARDS; shard++) {
      for (const field of await redis.hkeys(keys.itemStats(shard))) {
        const stat = field.slice(field.indexOf("|") + 1);
        if (stat.startsWith("imp:")) fields.add(stat.slice(4));
      }
    }
    assert.ok(
      [...fields].every((p) => allowedIds.includes(p)),
      [...fields].join(", "),
    );
  } finally {
    await producer.close();
    await scorer.stop();
  }
});

test("scaling: two scorer processes share the partitions; one killed with SIGKILL mid-stream; every request is still answered", async (t) => {
  const ns = uniqueName("scale");
  const topics = topicNames(ns);
  const users = Array.from({ length: 50 }, (_, i) => user(i));
  await seedHistories(ns, users);
  await publish(ns, await trainTiny(1), "v1");
  await ensureFleetTopics(kafka, ns, { partitions: 4 });
  const child = (): ChildProcess =>
    spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./fixtures/scorer-child.ts", import.meta.url))],
      {
        env: {
          ...process.env,
          RECFLEET_NAMESPACE: ns,
          RECFLEET_PROFILE: "dev",
          EXECUTION_PROVIDERS: "cpu",
          LOG_LEVEL: "error",
        },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  const a = child();
  const b = child();
  // Whatever fails below, no scorer child outlives the test (they would keep the file running).
  t.after(() => {
    for (const c of [a, b]) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  const producer = await createProducer(kafka);
  const total = 2000;
  let sent = 0;
  const answered = new Set<string>();
  const reader = readTopic(kafka, topics.recommendations, {
    until: (r) => {
      for (const m of r) answered.add((JSON.parse(m.value!.toString()) as Recommendation).requestId);
      return answered.size >= total;
    },
    timeoutMs: 120_000,
  });
  const sendChunk = async () => {
    await producer.send(
      topics.recRequests,
      Array.from({ length: 50 }, (_, i) => ({
        key: users[(sent + i) % users.length]!,
        value: { requestId: `s${sent + i}`, user: users[(sent + i) % users.length], ts: Date.now() },
      })),
    );
    sent += 50;
  };
  // First half, then the kill once answers are flowing, then the second half.
  while (sent < total / 2) await sendChunk();
  await waitFor("answers to flow before the kill", () => answered.size > 300, 60_000, 20);
  a.kill("SIGKILL");
  const killed = true;
  while (sent < total) {
    await sendChunk();
    await sleep(20);
  }
  const records = await reader;
  b.kill("SIGTERM");
  await new Promise((r) => b.once("exit", r));
  if (a.exitCode === null && a.signalCode === null) a.kill("SIGKILL");
  const ids = records.map((m) => (JSON.parse(m.value!.toString()) as Recommendation).requestId);
  const distinct = new Set(ids);
  assert.ok(killed, "the kill never happened mid-stream");
  assert.equal(distinct.size, total, `answered ${distinct.size} of ${total}`);
  console.log(
    `# ${total} requests, ${ids.length} answers (${ids.length - total} duplicates after the SIGKILL), 0 unanswered`,
  );
  await producer.close();
});

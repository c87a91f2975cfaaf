import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import kafkajs from "kafkajs";
import { createLogger, createMetricsRegistry, type RecfleetError } from "@recfleet/runtime";
import { clickstreamEventSpec, decodeMessage, type ClickstreamEvent } from "@recfleet/contracts";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createKafka, createProducer, ensureTopics, readTopic, startConsumerLoop, DLQ_HEADERS } from "./index";

const infra = testInfra();
const logger = createLogger("faults-test", { level: "error" });
const kafka = createKafka({ brokers: infra.brokers, clientId: "faults-test", logger });
const json = (v: Buffer | null) => ({ ok: true as const, value: JSON.parse(v!.toString()) as { id: string } });

test("a consumer crashed by an error kafkajs does not restart after is restarted; out of restarts, onFatal is called", async () => {
  const topic = uniqueName("crash");
  await ensureTopics(kafka, [
    { topic, partitions: 2 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  await producer.send(
    topic,
    Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: { id: `m${i}` } })),
  );
  const registry = createMetricsRegistry("crash");
  const seen = new Set<string>();
  let thrown = 0;
  const loop = await startConsumerLoop<{ id: string }>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry,
    decode: json,
    onFatal: (err) => assert.fail(`gave up: ${err.message}`),
    handleBatch: async (ms) => {
      if (thrown++ === 0) throw new kafkajs.KafkaJSNonRetriableError("simulated: a non-retriable kafkajs error");
      for (const m of ms) seen.add(m.value.id);
    },
  });
  try {
    await waitFor("every message after the restart", () => seen.size === 20, 30_000);
    assert.match(await registry.metrics(), /recfleet_consumer_restarts_total\{[^}]*\} 1/);
  } finally {
    await loop.stop();
  }

  const fatal: RecfleetError[] = [];
  const doomed = await startConsumerLoop<{ id: string }>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry: createMetricsRegistry("doomed"),
    decode: json,
    maxRestarts: 1,
    onFatal: (err) => fatal.push(err),
    handleBatch: async () => {
      throw new kafkajs.KafkaJSNonRetriableError("simulated: always");
    },
  });
  try {
    await waitFor("onFatal after the restarts run out", () => fatal.length > 0, 30_000);
    assert.equal(fatal[0]!.name, "ConsumerCrashedError");
    assert.equal(fatal[0]!.retriable, false);
  } finally {
    await doomed.stop();
    await producer.close();
  }
});

test("an invalid message just under max.message.bytes is dead-lettered truncated; the next valid one is processed", async () => {
  const topic = uniqueName("huge");
  const dlq = `${topic}.dlq`;
  await ensureTopics(kafka, [
    { topic, partitions: 1 },
    { topic: dlq, partitions: 1 },
  ]);
  // Incompressible bytes, sent uncompressed: the broker's default limit is 1 048 588 bytes per batch.
  const huge = randomBytes(1_048_588 - 200);
  const raw = await createProducer(kafka, { compression: "none" });
  const producer = await createProducer(kafka);
  const valid = { eventId: "e1", userId: "u1", itemId: "i1", type: "view", ts: Date.now() };
  await raw.send(topic, [{ key: "big", value: huge }]);
  await raw.send(topic, [{ key: "u1", value: valid }]);
  const processed: string[] = [];
  const loop = await startConsumerLoop<ClickstreamEvent>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: dlq,
    producer,
    logger,
    registry: createMetricsRegistry("huge"),
    decode: (v) => decodeMessage<ClickstreamEvent>(clickstreamEventSpec, v),
    handleBatch: async (ms) => void processed.push(...ms.map((m) => m.value.eventId)),
    onFatal: (err) => assert.fail(`gave up: ${err.message}`),
  });
  try {
    await waitFor("the valid message after the huge one", () => processed.includes("e1"), 30_000);
    const [dead] = await readTopic(kafka, dlq, { until: (r) => r.length >= 1, timeoutMs: 30_000 });
    assert.ok(dead, "nothing in the dead-letter topic");
    assert.equal(dead.headers[DLQ_HEADERS.reason], "payload_too_large");
    assert.equal(dead.headers[DLQ_HEADERS.truncated], "true");
    assert.equal(dead.headers[DLQ_HEADERS.originalSize], String(huge.byteLength));
    assert.equal(dead.headers[DLQ_HEADERS.originalSha256], createHash("sha256").update(huge).digest("hex"));
    assert.deepEqual(dead.value, huge.subarray(0, 64 * 1024));
  } finally {
    await loop.stop();
    await Promise.all([raw.close(), producer.close()]);
  }
});

test("a batch that completes but outlives the session timeout is dead-lettered after N refused commits, not re-run forever", async () => {
  const topic = uniqueName("poison");
  await ensureTopics(kafka, [
    { topic, partitions: 1 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  await producer.send(topic, [{ key: "k", value: { id: "slow" } }]);
  const runs = new Map<string, number>();
  const loop = await startConsumerLoop<{ id: string }>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry: createMetricsRegistry("poison"),
    decode: json,
    // The broker's minimum; the slow message takes longer, without a heartbeat, so its commit is refused.
    sessionTimeoutMs: 6000,
    maxRefusedCommits: 2,
    onFatal: (err) => assert.fail(`gave up: ${err.message}`),
    handleBatch: async (ms) => {
      for (const m of ms) {
        runs.set(m.value.id, (runs.get(m.value.id) ?? 0) + 1);
        if (m.value.id === "slow") await new Promise((r) => setTimeout(r, 8000));
      }
    },
  });
  try {
    await waitFor(
      "the slow batch to be dead-lettered",
      async () => {
        const dead = await readTopic(kafka, `${topic}.dlq`, { idleMs: 500, timeoutMs: 5000 });
        return dead.length === 1 ? dead : undefined;
      },
      120_000,
      1000,
    );
    const [dead] = await readTopic(kafka, `${topic}.dlq`, { idleMs: 500, timeoutMs: 5000 });
    assert.equal(dead!.headers[DLQ_HEADERS.reason], "batch_not_committable");
    assert.equal(runs.get("slow"), 2, "run exactly maxRefusedCommits times, then dead-lettered without running");
    // The partition moves on.
    await producer.send(topic, [{ key: "k", value: { id: "after" } }]);
    await waitFor("the next message", () => runs.get("after") === 1, 60_000);
  } finally {
    await loop.stop();
    await producer.close();
  }
});

test("with keepAliveWhileHandlingMs a handler that runs past the session timeout without calling heartbeat keeps the group: its batch commits once", async () => {
  const topic = uniqueName("slow");
  await ensureTopics(kafka, [
    { topic, partitions: 1 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  await producer.send(topic, [{ key: "k", value: { id: "m0" } }]);
  const deliveries: string[] = [];
  const registry = createMetricsRegistry("slow");
  const loop = await startConsumerLoop<{ id: string }>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry,
    decode: json,
    // The broker's minimum session (6 s): the handler waits 8 s and never calls heartbeat itself.
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
    keepAliveWhileHandlingMs: 20_000,
    handleBatch: async (ms) => {
      for (const m of ms) deliveries.push(m.value.id);
      await new Promise((resolve) => setTimeout(resolve, 8000));
    },
  });
  try {
    await waitFor(
      "the batch committed",
      async () => /recfleet_consumer_messages_total\{[^}]*outcome="processed"[^}]*\} 1/.test(await registry.metrics()),
      40_000,
    );
    assert.deepEqual(deliveries, ["m0"], "delivered once: the group kept this member while its handler ran");
  } finally {
    await loop.stop();
    await producer.close();
  }
});

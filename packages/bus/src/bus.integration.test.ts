import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { clickstreamEventSpec, decodeMessage, type ClickstreamEvent } from "@recfleet/contracts";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createKafka, createProducer, ensureTopics, readTopic, startConsumerLoop, DLQ_HEADERS } from "./index";

const infra = testInfra();
const logger = createLogger("bus-test", { level: "error" });
const kafka = createKafka({ brokers: infra.brokers, clientId: "bus-test", logger });

test("kafkajs smoke: idempotent produce, group consume, commit, rejoin resumes after the commit", async () => {
  const topic = uniqueName("smoke");
  await ensureTopics(kafka, [{ topic, partitions: 3 }]);
  const producer = await createProducer(kafka);
  const registry = createMetricsRegistry("smoke");
  const send = (from: number, n: number) =>
    producer.send(
      topic,
      Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 7}`, value: { id: String(from + i) } })),
    );
  await send(0, 100);
  const group = uniqueName("g");
  const seen: string[] = [];
  const run = () =>
    startConsumerLoop<{ id: string }>({
      kafka,
      groupId: group,
      topics: [topic],
      deadLetterTopic: `${topic}.dlq`,
      producer,
      logger,
      registry,
      decode: (v) => ({ ok: true, value: JSON.parse(v!.toString()) as { id: string } }),
      handleBatch: async (ms) => void seen.push(...ms.map((m) => m.value.id)),
    });
  await ensureTopics(kafka, [{ topic: `${topic}.dlq`, partitions: 1 }]);
  const first = await run();
  await waitFor("100 messages", () => seen.length >= 100);
  await first.stop();
  assert.equal(new Set(seen).size, 100);
  await send(100, 10);
  seen.length = 0;
  const second = await run();
  await waitFor("10 new messages", () => seen.length >= 10);
  await sleep(500);
  await second.stop();
  // The rejoined consumer starts after the committed offsets: only the new messages.
  assert.deepEqual([...seen].sort(), Array.from({ length: 10 }, (_, i) => String(100 + i)).sort());
  await producer.close();
});

test("consumer group: a child killed with SIGKILL mid-stream loses nothing; a second member finishes", async () => {
  const topic = uniqueName("group");
  const group = uniqueName("g");
  const prefix = uniqueName("rec");
  const total = 3000;
  await ensureTopics(kafka, [
    { topic, partitions: 4 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  for (let from = 0; from < total; from += 500) {
    await producer.send(
      topic,
      Array.from({ length: 500 }, (_, i) => ({ key: `u${(from + i) % 13}`, value: { id: `m${from + i}` } })),
    );
  }
  await producer.close();
  const redis = new Redis(infra.redisUrl);
  const child = (delayMs: number): ChildProcess =>
    spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./fixtures/recording-consumer.ts", import.meta.url))],
      {
        env: { ...process.env, TOPIC: topic, GROUP: group, KEY_PREFIX: prefix, PROCESS_DELAY_MS: String(delayMs) },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  const a = child(40);
  await waitFor(
    "the first consumer to process some messages",
    async () => Number(await redis.get(`${prefix}:processed`)) >= 300,
    60_000,
  );
  a.kill("SIGKILL");
  await new Promise((r) => a.once("exit", r));
  const afterKill = await redis.scard(`${prefix}:seen`);
  assert.ok(afterKill < total, `the kill came too late to be mid-stream (${afterKill} of ${total} done)`);
  const b = child(0);
  await waitFor("every message to be processed", async () => (await redis.scard(`${prefix}:seen`)) === total, 90_000);
  b.kill("SIGTERM");
  await new Promise((r) => b.once("exit", r));
  const seen = new Set(await redis.smembers(`${prefix}:seen`));
  const expected = new Set(Array.from({ length: total }, (_, i) => `m${i}`));
  assert.deepEqual(seen, expected);
  const processed = Number(await redis.get(`${prefix}:processed`));
  console.log(
    `# SIGKILL after ${afterKill} distinct; processed ${processed} times for ${total} messages: ${processed - total} duplicates, 0 lost`,
  );
  assert.ok(processed >= total);
  redis.disconnect();
});

test("bad input goes to the dead-letter topic with its reason; the consumer keeps going and counts each reason", async () => {
  const topic = uniqueName("bad");
  const dlq = `${topic}.dlq`;
  await ensureTopics(kafka, [
    { topic, partitions: 2 },
    { topic: dlq, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  const now = Date.now();
  const good = (i: number) => ({ eventId: `e${i}`, userId: `u${i}`, itemId: `i${i}`, type: "view", ts: now });
  const bad: [unknown, string][] = [
    [Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]), "malformed_json"],
    ['{"eventId":', "malformed_json"],
    [{ ...good(1), userId: 123 }, "wrong_type"],
    [{ ...good(2), ts: "yesterday" }, "wrong_type"],
    [{ ...good(3), itemId: "x".repeat(10_000) }, "payload_too_large"],
    [{ ...good(4), type: "hover" }, "unknown_enum_value"],
    [{ ...good(5), type: "teleport" }, "unknown_enum_value"],
  ];
  const valid = Array.from({ length: 20 }, (_, i) => good(100 + i));
  await producer.send(topic, [
    ...bad.map(([v], i) => ({ key: `k${i}`, value: v })),
    ...valid.map((v) => ({ key: v.userId, value: v })),
  ]);
  const registry = createMetricsRegistry("bad-input");
  const processed: string[] = [];
  const loop = await startConsumerLoop<ClickstreamEvent>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: dlq,
    producer,
    logger,
    registry,
    decode: (v) => decodeMessage<ClickstreamEvent>(clickstreamEventSpec, v),
    handleBatch: async (ms) => void processed.push(...ms.map((m) => m.value.eventId)),
  });
  const dead = await readTopic(kafka, dlq, { until: (r) => r.length >= bad.length, timeoutMs: 30_000 });
  await waitFor("valid messages", () => processed.length >= valid.length);
  await loop.stop();
  assert.deepEqual(processed.sort(), valid.map((v) => v.eventId).sort());
  assert.equal(dead.length, bad.length);
  const reasons = dead.map((d) => d.headers[DLQ_HEADERS.reason]).sort();
  assert.deepEqual(reasons, bad.map(([, r]) => r).sort());
  for (const d of dead) {
    assert.equal(d.headers[DLQ_HEADERS.topic], topic);
    assert.ok(d.headers[DLQ_HEADERS.offset] !== undefined && d.headers[DLQ_HEADERS.partition] !== undefined);
  }
  // The original bytes are kept exactly.
  assert.ok(dead.some((d) => d.value?.equals(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]))));
  const text = await registry.metrics();
  assert.match(text, /recfleet_consumer_dead_letters_total\{[^}]*reason="unknown_enum_value"[^}]*\} 2/);
  assert.match(text, /recfleet_consumer_dead_letters_total\{[^}]*reason="malformed_json"[^}]*\} 2/);
  assert.match(text, /recfleet_consumer_dead_letters_total\{[^}]*reason="payload_too_large"[^}]*\} 1/);
  await producer.close();
});

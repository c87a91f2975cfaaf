import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { uniqueName, waitFor } from "@recfleet/testkit";
import { freePort, startKafka } from "@recfleet/stack";
import { createKafka, createProducer, ensureTopics, startConsumerLoop, waitForBroker } from "@recfleet/bus";

const json = (v: Buffer | null) => ({ ok: true as const, value: JSON.parse(v!.toString()) as { id: string } });

test("broker restart mid-batch: readiness goes false, the stale member's commit is not retried, consumption resumes", async () => {
  // A broker of our own: stopping the shared one would break the other test files.
  const dir = mkdtempSync(join(tmpdir(), "recfleet-restart-"));
  const port = await freePort();
  let broker = await startKafka({ dir, port, heapMb: 384 });
  const lines: string[] = [];
  const log = createLogger("restart-test", { level: "warn", write: (l) => lines.push(l) });
  const own = createKafka({ brokers: [broker.brokers], clientId: "restart-test", logger: log });
  await waitForBroker(own);
  const topic = uniqueName("restart");
  await ensureTopics(own, [
    { topic, partitions: 1 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(own);
  const registry = createMetricsRegistry("restart");
  const seen = new Set<string>();
  let entered = false;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const loop = await startConsumerLoop<{ id: string }>({
    kafka: own,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger: log,
    registry,
    decode: json,
    stallAfterMs: 2000,
    onFatal: (err) => assert.fail(`gave up: ${err.message}`),
    handleBatch: async (ms) => {
      if (ms.some((m) => m.value.id === "block") && !seen.has("block")) {
        entered = true;
        await gate;
      }
      for (const m of ms) seen.add(m.value.id);
    },
  });
  try {
    const send = (ids: string[]) =>
      producer.send(
        topic,
        ids.map((id) => ({ key: id, value: { id } })),
      );
    await send(Array.from({ length: 10 }, (_, i) => `a${i}`));
    await waitFor("the first 10 messages", () => seen.size >= 10);
    await waitFor("readiness", () => loop.isReady());
    // This batch's commit comes after the restart, with the member id of before it.
    await send(["block"]);
    await waitFor("the handler to hold a batch", () => entered);
    await broker.stop();
    const down = Date.now();
    await waitFor("readiness to go false while the broker is down", () => !loop.isReady(), 10_000);
    await sleep(Math.max(0, 15_000 - (Date.now() - down)));
    broker = await startKafka({ dir, port, controllerPort: broker.controllerPort, heapMb: 384 });
    await waitForBroker(own);
    // Past the session timeout (10 s) after the coordinator reloads the group: the old member is gone.
    await sleep(12_000);
    release();
    await send(Array.from({ length: 10 }, (_, i) => `b${i}`));
    await waitFor("every message after the restart", () => seen.size >= 21, 90_000);
    await waitFor("readiness to come back", () => loop.isReady(), 30_000);
    const membership = lines.filter((l) => l.includes("group membership lost before the commit")).length;
    console.log(`# membership-lost commits handed back to kafkajs: ${membership}`);
    assert.doesNotMatch(
      await registry.metrics(),
      /recfleet_consumer_restarts_total\{[^}]*\} [1-9]/,
      "the consumer crashed instead of rejoining",
    );
  } finally {
    release();
    await loop.stop();
    await producer.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

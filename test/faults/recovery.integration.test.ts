import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { uniqueName, waitFor } from "@recfleet/testkit";
import { freePort, startKafka } from "@recfleet/stack";
import { createKafka, createProducer, ensureTopics, startConsumerLoop, waitForBroker } from "@recfleet/bus";

test("after a 15 s broker outage, sends and consumption resume within seconds of the broker's return", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-recovery-"));
  const port = await freePort();
  let broker = await startKafka({ dir, port, heapMb: 384 });
  const logger = createLogger("recovery-test", { level: "error", write: () => {} });
  const kafka = createKafka({ brokers: [broker.brokers], clientId: "recovery-test", logger });
  await waitForBroker(kafka);
  const topic = uniqueName("recovery");
  await ensureTopics(kafka, [
    { topic, partitions: 1 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  const producer = await createProducer(kafka);
  const consumed: number[] = [];
  const loop = await startConsumerLoop<number>({
    kafka,
    groupId: uniqueName("g"),
    topics: [topic],
    deadLetterTopic: `${topic}.dlq`,
    producer,
    logger,
    registry: createMetricsRegistry("recovery"),
    decode: (v) => ({ ok: true, value: Number(v!.toString()) }),
    handleBatch: async (ms) => void consumed.push(...ms.map(() => Date.now())),
    onFatal: (err) => assert.fail(`gave up: ${err.message}`),
  });
  const sent: number[] = [];
  let sending = true;
  const sender: Promise<void> = (async () => {
    for (let i = 0; sending; i++) {
      await producer.send(topic, [{ key: "k", value: String(i) }]);
      sent.push(Date.now());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await waitFor("sends and consumption before the outage", () => sent.length > 5 && consumed.length > 5);
    await broker.stop();
    await new Promise((r) => setTimeout(r, 15_000));
    broker = await startKafka({ dir, port, controllerPort: broker.controllerPort, heapMb: 384 });
    const back = Date.now();
    const firstSend = await waitFor("a send after the restart", () => sent.find((t) => t > back), 60_000);
    const firstConsumed = await waitFor(
      "a message consumed after the restart",
      () => consumed.find((t) => t > back),
      60_000,
    );
    const sendS = (firstSend - back) / 1000;
    const consumeS = (firstConsumed - back) / 1000;
    console.log(
      `# broker back (port open) → first send ${sendS.toFixed(1)} s, first message consumed ${consumeS.toFixed(1)} s`,
    );
    assert.ok(sendS < 10, `sends resumed only ${sendS.toFixed(1)} s after the broker returned`);
    assert.ok(consumeS < 20, `consumption resumed only ${consumeS.toFixed(1)} s after the broker returned`);
  } finally {
    sending = false;
    await sender.catch(() => undefined);
    await loop.stop();
    await producer.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createKafka, createProducer, ensureTopics, startConsumerLoop } from "./index";

const infra = testInfra();
const logger = createLogger("codecs-test", { level: "error" });
const kafka = createKafka({ brokers: infra.brokers, clientId: "codecs-test", logger });
const kcat = spawnSync("kcat", ["-V"], { encoding: "utf8" });
const noKcat = kcat.error
  ? "kcat is not installed (Debian: apt-get install kcat); it is the non-kafkajs producer here"
  : false;

// kcat (librdkafka) compresses the way other clients do; kafkajs alone ships only GZIP.
for (const codec of ["gzip", "snappy", "lz4", "zstd"]) {
  test(`a batch compressed with ${codec} by another client is consumed, not a crash`, { skip: noKcat }, async () => {
    const topic = uniqueName(`codec-${codec}`);
    await ensureTopics(kafka, [
      { topic, partitions: 1 },
      { topic: `${topic}.dlq`, partitions: 1 },
    ]);
    const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `${codec}-${i}` }));
    const produced = spawnSync(
      "kcat",
      ["-P", "-b", infra.brokers.join(","), "-t", topic, "-z", codec, "-X", "linger.ms=50"],
      {
        input: lines.join("\n") + "\n",
        encoding: "utf8",
      },
    );
    assert.equal(produced.status, 0, `kcat failed: ${produced.stderr}`);
    const producer = await createProducer(kafka);
    const seen: string[] = [];
    const loop = await startConsumerLoop<{ id: string }>({
      kafka,
      groupId: uniqueName("g"),
      topics: [topic],
      deadLetterTopic: `${topic}.dlq`,
      producer,
      logger,
      registry: createMetricsRegistry("codecs"),
      decode: (v) => ({ ok: true, value: JSON.parse(v!.toString()) as { id: string } }),
      handleBatch: async (ms) => void seen.push(...ms.map((m) => m.value.id)),
      onFatal: (err) => assert.fail(`the consumer gave up: ${String(err)}`),
    });
    try {
      await waitFor(`5 ${codec} messages`, () => seen.length >= 5, 20_000);
      assert.deepEqual(seen.sort(), lines.map((l) => (JSON.parse(l) as { id: string }).id).sort());
    } finally {
      await loop.stop();
      await producer.close();
    }
  });
}

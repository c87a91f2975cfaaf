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

// What we produce, another client must read: the broker validates each compressed batch on
// append, and kcat (librdkafka) decompresses it on the way out.
for (const compression of ["lz4", "gzip", "snappy"] as const) {
  test(
    `a batch we compress with ${compression} is accepted by the broker and read by another client`,
    { skip: noKcat },
    async () => {
      const topic = uniqueName(`produce-${compression}`);
      await ensureTopics(kafka, [{ topic, partitions: 1 }]);
      const producer = await createProducer(kafka, { compression });
      // Above COMPRESS_MIN_BYTES, so the batch is compressed.
      const values = Array.from({ length: 50 }, (_, i) =>
        JSON.stringify({ id: `${compression}-${i}`, pad: "x".repeat(200) }),
      );
      try {
        await producer.send(
          topic,
          values.map((value) => ({ key: null, value })),
        );
      } finally {
        await producer.close();
      }
      const read = spawnSync(
        "kcat",
        ["-C", "-b", infra.brokers.join(","), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\\n"],
        {
          encoding: "utf8",
          timeout: 20_000,
        },
      );
      assert.equal(read.status, 0, `kcat failed: ${read.stderr}`);
      assert.deepEqual(read.stdout.trim().split("\n"), values);
    },
  );
}

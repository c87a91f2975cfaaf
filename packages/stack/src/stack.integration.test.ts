import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createKafka, createProducer, ensureTopics, readTopic } from "@recfleet/bus";
import { createLogger } from "@recfleet/runtime";
import { readStackState, stackDown, stackRestart, stackUp } from "./stack";

const quiet = () => {};

async function redisAnswers(url: string, key: string): Promise<string | null> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    assert.equal(await redis.ping(), "PONG");
    return await redis.get(key);
  } finally {
    redis.disconnect();
  }
}

test("stack: restart redis and kafka one at a time on the same ports; status follows the new pids; up keeps a running stack's data", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-stack-"));
  const kafkaClient = (brokers: string) =>
    createKafka({ brokers: [brokers], clientId: "stack-test", logger: createLogger("stack-test", { level: "error" }) });
  try {
    const up = await stackUp(dir, quiet);
    assert.ok(up.kafkaControllerPort);
    await ensureTopics(kafkaClient(up.brokers), [{ topic: "survives", partitions: 1 }]);
    const producer = await createProducer(kafkaClient(up.brokers));
    await producer.send("survives", [{ key: "k", value: { id: "before" } }]);
    await producer.close();
    const survived = async (brokers: string) =>
      (await readTopic(kafkaClient(brokers), "survives", { until: (r) => r.length >= 1, timeoutMs: 30_000 })).length;
    const seed = new Redis(up.redisUrl);
    await seed.set("k", "v");
    seed.disconnect();

    const afterRedis = await stackRestart("redis", dir, quiet);
    assert.equal(afterRedis.redisUrl, up.redisUrl);
    assert.notEqual(afterRedis.redisPid, up.redisPid);
    assert.equal(afterRedis.kafkaPid, up.kafkaPid);
    assert.deepEqual(readStackState(dir), afterRedis);
    // The dev stack runs Redis without persistence: a restart empties it.
    assert.equal(await redisAnswers(afterRedis.redisUrl, "k"), null);

    const afterKafka = await stackRestart("kafka", dir, quiet);
    assert.equal(afterKafka.brokers, up.brokers);
    assert.equal(afterKafka.kafkaControllerPort, up.kafkaControllerPort);
    assert.notEqual(afterKafka.kafkaPid, up.kafkaPid);
    assert.deepEqual(readStackState(dir), afterKafka);
    assert.equal(await survived(afterKafka.brokers), 1, "the record written before the restart is gone");

    // `up` on a running stack changes nothing and wipes nothing.
    assert.deepEqual(await stackUp(dir, quiet), afterKafka);
    assert.equal(await survived(afterKafka.brokers), 1);
    assert.equal(await redisAnswers(afterKafka.redisUrl, "k"), null);
  } finally {
    await stackDown(dir, quiet);
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKafka, createProducer, ensureTopics, startConsumerLoop } from "@recfleet/bus";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { TOPIC_REPLICATION } from "@recfleet/contracts";
import { uniqueName, waitFor } from "@recfleet/testkit";
import { startKafkaCluster } from "./kafka-cluster";

/** Kafka's partition of __consumer_offsets for a group: Utils.abs(groupId.hashCode()) % partitions. */
function offsetsPartitionOf(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

test("a 3-broker cluster: topics get RF 3 and min.insync.replicas 2; SIGKILLing the group coordinator's node loses no acknowledged message and consumption goes on", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-cluster-"));
  const cluster = await startKafkaCluster({ dir, nodes: 3, heapMb: 256 });
  const logLines: string[] = [];
  const logger = createLogger("cluster-test", { level: "warn", write: (line) => void logLines.push(line) });
  const kafka = createKafka({ brokers: cluster.brokers.split(","), clientId: "cluster-test", logger });
  const topic = uniqueName("replicated");
  const groupId = uniqueName("g");
  let loop: Awaited<ReturnType<typeof startConsumerLoop<number>>> | undefined;
  let producer: Awaited<ReturnType<typeof createProducer>> | undefined;
  let sending = true;
  let sender: Promise<void> = Promise.resolve();
  try {
    await ensureTopics(kafka, [
      { topic, partitions: 3 },
      { topic: `${topic}.dlq`, partitions: 1 },
    ]);
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const configs = await admin.describeConfigs({
      resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ["min.insync.replicas"] }],
      includeSynonyms: false,
    });
    await admin.disconnect();
    const partitions = meta.topics[0]!.partitions;
    for (const p of partitions) assert.equal(p.replicas.length, TOPIC_REPLICATION.replicationFactor);
    assert.equal(configs.resources[0]!.configEntries[0]!.configValue, String(TOPIC_REPLICATION.minInsyncReplicas));

    producer = await createProducer(kafka);
    const consumed = new Set<number>();
    loop = await startConsumerLoop<number>({
      kafka,
      groupId,
      topics: [topic],
      deadLetterTopic: `${topic}.dlq`,
      producer,
      logger,
      registry: createMetricsRegistry("cluster-test"),
      decode: (v) => ({ ok: true, value: Number(v!.toString()) }),
      handleBatch: async (ms) => void ms.forEach((m) => consumed.add(m.value)),
      onFatal: (err) => assert.fail(`the consumer gave up: ${err.message}`),
    });
    const acked: number[] = [];
    const p = producer;
    sender = (async () => {
      for (let i = 0; sending; i++) {
        await p.send(topic, [{ key: `k${i % 7}`, value: String(i) }]);
        acked.push(i);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor("messages flowing before the kill", () => consumed.size > 50, 60_000);
    // The node that coordinates the consumer's group (the leader of its __consumer_offsets
    // partition), so the kill moves the coordinator as well as that node's partition leaders.
    const offsetsAdmin = kafka.admin();
    await offsetsAdmin.connect();
    const offsetsMeta = await offsetsAdmin.fetchTopicMetadata({ topics: ["__consumer_offsets"] });
    await offsetsAdmin.disconnect();
    const offsetsPartitions = offsetsMeta.topics[0]!.partitions;
    const groupPartition = offsetsPartitionOf(groupId, offsetsPartitions.length);
    const victimId = offsetsPartitions.find((p) => p.partitionId === groupPartition)!.leader;
    const leads = partitions.filter((p) => p.leader === victimId).length;
    const victim = cluster.nodes.find((n) => n.nodeId === victimId)!;
    const t0 = Date.now();
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    await victim.kill();
    const killedAt = acked.length;
    await waitFor("sends acknowledged after the kill", () => acked.length > killedAt + 100, 60_000);
    const sendsBack = since();
    // The group coordinator may have been on the victim: a commit that cannot reach it makes the
    // loop rejoin (kafkajs looks the coordinator up again) instead of retrying against the dead
    // broker for a minute (CoordinatorUnreachableError in packages/bus/src/consumer.ts).
    await t.test("consumption goes on with the coordinator's node down", async () => {
      try {
        await waitFor(
          "every acknowledged message consumed with one broker down",
          () => acked.every((i) => consumed.has(i)),
          60_000,
        );
        console.log(
          `# node ${victimId} (group coordinator, leader of ${leads} of 3 partitions) killed: 100 more sends acknowledged by ${sendsBack}, all consumed by ${since()}`,
        );
      } catch (err) {
        console.log(logLines.slice(-20).join("\n"));
        throw err;
      }
    });
    await victim.restart();
    const restartedAt = acked.length;
    await waitFor("sends acknowledged after the restart", () => acked.length > restartedAt + 50, 60_000);
    sending = false;
    await sender;
    await waitFor("every acknowledged message consumed", () => acked.every((i) => consumed.has(i)), 60_000);
    console.log(`# ${acked.length} acknowledged, ${consumed.size} consumed; node ${victimId} killed and restarted`);
  } finally {
    sending = false;
    await sender.catch(() => undefined);
    await loop?.stop();
    await producer?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

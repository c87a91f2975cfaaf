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

test("a 3-broker cluster: topics get RF 3 and min.insync.replicas 2; SIGKILLing the busiest leader loses no acknowledged message", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-cluster-"));
  const cluster = await startKafkaCluster({ dir, nodes: 3, heapMb: 256 });
  const logLines: string[] = [];
  const logger = createLogger("cluster-test", { level: "warn", write: (line) => void logLines.push(line) });
  const kafka = createKafka({ brokers: cluster.brokers.split(","), clientId: "cluster-test", logger });
  const topic = uniqueName("replicated");
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
      groupId: uniqueName("g"),
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
    // The node leading most partitions: its death moves every one of them.
    const leads = new Map<number, number>();
    for (const part of partitions) leads.set(part.leader, (leads.get(part.leader) ?? 0) + 1);
    const victimId = [...leads].sort((a, b) => b[1] - a[1])[0]![0];
    const victim = cluster.nodes.find((n) => n.nodeId === victimId)!;
    const t0 = Date.now();
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    await victim.kill();
    const killedAt = acked.length;
    await waitFor("sends acknowledged after the kill", () => acked.length > killedAt + 100, 60_000);
    const sendsBack = since();
    // Known to fail on loaded machines (issue 9): the loop's commits stay pinned to a coordinator
    // on the dead broker (KafkaJSBrokerNotFound, restart after restart) until the broker is back.
    // A todo subtest: it runs and reports, and the durability claim below is still asserted.
    await t.test(
      "consumption goes on with the busiest leader down",
      { todo: "commits pinned to a dead coordinator (KafkaJSBrokerNotFound) seen in CI; issue 9" },
      async () => {
        try {
          await waitFor(
            "every acknowledged message consumed with one broker down",
            () => acked.every((i) => consumed.has(i)),
            60_000,
          );
          console.log(
            `# node ${victimId} killed: 100 more sends acknowledged by ${sendsBack}, all consumed by ${since()}`,
          );
        } catch (err) {
          console.log(logLines.slice(-20).join("\n"));
          throw err;
        }
      },
    );
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

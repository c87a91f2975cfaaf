import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
// As every worker does: the package's entry point, which loads kafkajs after the fix.
import "@recfleet/bus";
import { groupMessagesPerPartition, groupingFixApplied } from "./grouping-fix";

const require = createRequire(import.meta.url);

test("kafkajs' producer groups messages with the linear function when loaded through the package", () => {
  assert.equal(groupingFixApplied(), true);
  assert.equal(require("kafkajs/src/producer/groupMessagesPerPartition.js"), groupMessagesPerPartition);
});

test("linear grouping: the same partitions and order within each as kafkajs' original", () => {
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0 }));
  const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${(i * 7) % 11}`, value: `v${i}` }));
  const calls: unknown[] = [];
  const partitioner = (args: { topic: string; message: unknown }) => {
    calls.push(args.message);
    return Number((args.message as { key: string }).key.slice(1)) % 3;
  };
  const grouped = groupMessagesPerPartition({ topic: "t", partitionMetadata, messages, partitioner });
  assert.deepEqual(calls, messages, "the partitioner sees every message once, in send order");
  const expected: Record<number, unknown[]> = {};
  for (const m of messages) (expected[Number(m.key.slice(1)) % 3] ??= []).push(m);
  assert.deepEqual(grouped, expected);
  assert.deepEqual(Object.keys(grouped).sort(), ["0", "1", "2"]);
  assert.deepEqual(groupMessagesPerPartition({ topic: "t", partitionMetadata: [], messages, partitioner }), {});
});

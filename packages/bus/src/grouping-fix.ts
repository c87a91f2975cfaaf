/**
 * kafkajs 2.2.4 groups a send's messages by partition with `[...current, message]` per message
 * (src/producer/groupMessagesPerPartition.js), which copies a partition's list once per message:
 * quadratic in messages per partition. A 512 KiB produce request of ~300-byte events (ingest's)
 * is ~1,700 messages, and grouping them took 2.3 ms against 0.05 ms for a linear pass on this
 * machine (docs/benchmarks.md). kafkajs is no longer maintained upstream, so the fix lives here:
 * the same grouping (same partitioner calls, same order within a partition) in one pass.
 *
 * kafkajs' producer binds the function when its module is first loaded, so this module must be
 * evaluated before kafkajs: it is the first import of this package's index.ts and of kafka.ts.
 * It puts the linear function in Node's module cache under kafkajs' path; if kafkajs was loaded
 * first, nothing changes (the original is correct, only slower) and `groupingFixApplied` says so.
 */
import { createRequire } from "node:module";

interface GroupArgs {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly unknown[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: unknown }) => number;
}

/** kafkajs' groupMessagesPerPartition in one pass: partition → its messages, in send order. */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: GroupArgs): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const grouped: Record<number, unknown[]> = {};
  for (const message of messages) (grouped[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
  return grouped;
}

const require = createRequire(import.meta.url);
const GROUPING_MODULE = require.resolve("kafkajs/src/producer/groupMessagesPerPartition.js");
const SEND_MESSAGES_MODULE = require.resolve("kafkajs/src/producer/sendMessages.js");

// Only before kafkajs' producer is loaded: after, its binding to the original cannot change.
if (!require.cache[SEND_MESSAGES_MODULE]) {
  require(GROUPING_MODULE);
  require.cache[GROUPING_MODULE]!.exports = groupMessagesPerPartition;
}

/** Whether kafkajs' producer groups with the linear function (it was loaded after this module). */
export function groupingFixApplied(): boolean {
  return require.cache[GROUPING_MODULE]?.exports === groupMessagesPerPartition && !!require.cache[SEND_MESSAGES_MODULE];
}

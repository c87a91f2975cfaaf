/**
 * Replays a topic from a point in time up to the end it had when the replay began, one fetched
 * batch at a time, through a caller's handler — the way a worker's consumer loop would have
 * delivered it. Operators rebuild derived state this way (Kafka is the source of truth). Nothing
 * is committed: the throwaway group leaves no trace in the worker's groups.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Kafka } from "kafkajs";
import type { BatchContext, ConsumedMessage } from "./consumer";

export interface ReplayOptions<T> {
  /** Epoch ms: start at the first record at or after it (Kafka's offsets-by-timestamp); default the beginning. */
  from?: number;
  /** Turns a raw value into the handler's value, or says why not (counted as rejected, skipped). */
  decode: (value: Buffer | null) => { ok: true; value: T } | { ok: false; reason: string };
  /** One fetched batch of one partition, in offset order; awaited before the next (back-pressure). */
  handleBatch: (messages: ConsumedMessage<T>[], ctx: BatchContext) => Promise<void>;
  /** Progress after each batch: records read so far and the total to read. */
  onProgress?: (read: number, total: number) => void;
  timeoutMs?: number;
}

export interface ReplayResult {
  read: number;
  rejected: number;
  partitions: number;
}

export async function replayTopic<T>(kafka: Kafka, topic: string, options: ReplayOptions<T>): Promise<ReplayResult> {
  const admin = kafka.admin();
  await admin.connect();
  const range = new Map<number, { start: bigint; end: bigint }>();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const starts =
      options.from === undefined
        ? ends.map((p) => ({ partition: p.partition, offset: p.low }))
        : await admin.fetchTopicOffsetsByTimestamp(topic, options.from);
    for (const p of ends) {
      const high = BigInt(p.high);
      const low = BigInt(p.low);
      // Offsets-by-timestamp answers -1 (or the high watermark) when nothing is that recent.
      const s = BigInt(starts.find((x) => x.partition === p.partition)?.offset ?? p.low);
      const start = s < 0n || s > high ? high : s < low ? low : s;
      if (start < high) range.set(p.partition, { start, end: high });
    }
  } finally {
    await admin.disconnect();
  }
  const total = [...range.values()].reduce((n, r) => n + Number(r.end - r.start), 0);
  const result: ReplayResult = { read: 0, rejected: 0, partitions: range.size };
  if (range.size === 0) return result;
  const done = new Set<number>();
  const consumer = kafka.consumer({
    groupId: `recfleet-replay-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    maxWaitTimeInMs: 250,
  });
  let failure: unknown;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
        const r = range.get(batch.partition);
        if (!r || done.has(batch.partition)) return;
        const messages: ConsumedMessage<T>[] = [];
        let last = -1n;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < r.start || offset >= r.end) continue;
          last = offset;
          result.read++;
          const decoded = options.decode(m.value);
          if (!decoded.ok) {
            result.rejected++;
            continue;
          }
          messages.push({
            value: decoded.value,
            key: m.key?.toString("utf8") ?? null,
            topic,
            partition: batch.partition,
            offset: m.offset,
            timestamp: Number(m.timestamp),
            raw: m.value,
          });
        }
        try {
          if (messages.length > 0)
            await options.handleBatch(messages, { topic, partition: batch.partition, heartbeat });
        } catch (err) {
          failure ??= err;
          return;
        }
        if (batch.messages.length > 0) resolveOffset(batch.messages.at(-1)!.offset);
        if (last + 1n >= r.end || BigInt(batch.lastOffset()) + 1n >= r.end) done.add(batch.partition);
        options.onProgress?.(result.read, total);
        if (!isRunning()) return;
      },
    });
    // A fresh group starts at the beginning; move each partition to where the replay starts.
    for (const [partition, r] of range) consumer.seek({ topic, partition, offset: r.start.toString() });
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    while (done.size < range.size && failure === undefined) {
      if (Date.now() > deadline)
        throw new Error(`replay of ${topic} timed out after reading ${result.read} of ${total} records`);
      await sleep(100);
    }
    if (failure !== undefined) throw failure;
    return result;
  } finally {
    await consumer.disconnect();
  }
}

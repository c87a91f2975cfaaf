/**
 * Bounded reads of a topic: an offset range per partition, taken once (from a point in time up to
 * the end the topic had then), and a reader that delivers exactly that range, one fetched batch
 * at a time, through a caller's handler — the way a worker's consumer loop would have delivered
 * it. Operators rebuild derived state this way (replayTopic: Kafka is the source of truth), and
 * the trainer reads a run's training window this way (the same range gives the same records).
 * Nothing is committed: the throwaway group leaves no trace in the workers' groups.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Kafka } from "kafkajs";
import type { BatchContext, ConsumedMessage } from "./consumer";

/** Offsets [start, end) of one partition (decimal strings, as Kafka gives them). */
export interface PartitionRange {
  partition: number;
  start: string;
  end: string;
}

export interface RangeReadOptions<T> {
  /** Turns a raw value into the handler's value, or says why not (counted as rejected, skipped). */
  decode: (value: Buffer | null) => { ok: true; value: T } | { ok: false; reason: string };
  /** One fetched batch of one partition, in offset order; awaited before the next (back-pressure). */
  handleBatch: (messages: ConsumedMessage<T>[], ctx: BatchContext) => Promise<void>;
  /** Progress after each batch: records read so far and the total to read. */
  onProgress?: (read: number, total: number) => void;
  timeoutMs?: number;
  /**
   * The throwaway group's id (default `recfleet-replay-<pid>-<time>-<random>`). A secured cluster
   * grants a worker its groups by prefix: pass one under it, unique per read (a shared group would
   * split the partitions between readers).
   */
  groupId?: string;
  /** Stops the read (it throws the signal's reason): a worker shutting down does not wait for the rest. */
  signal?: AbortSignal;
}

export interface ReplayOptions<T> extends RangeReadOptions<T> {
  /** Epoch ms: start at the first record at or after it (Kafka's offsets-by-timestamp); default the beginning. */
  from?: number;
}

export interface ReplayResult {
  read: number;
  rejected: number;
  partitions: number;
}

/**
 * A topic created a moment ago may still be electing leaders (NOT_LEADER_FOR_PARTITION): retry
 * the retriable answers for about 10 s, as a consumer would.
 */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if ((err as { retriable?: boolean }).retriable !== true || attempt >= 40) throw err;
      await sleep(250);
    }
  }
}

/**
 * Every partition's range from the first record at or after `from` (epoch ms, by record
 * timestamp; default the log start) to the current end (high watermark). Empty partitions are
 * listed too (start = end), so the range says what the whole topic held at that moment.
 */
export async function topicOffsetRange(kafka: Kafka, topic: string, from?: number): Promise<PartitionRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await retrying(() => admin.fetchTopicOffsets(topic));
    const starts =
      from === undefined
        ? ends.map((p) => ({ partition: p.partition, offset: p.low }))
        : await retrying(() => admin.fetchTopicOffsetsByTimestamp(topic, from));
    return ends
      .map((p) => {
        const high = BigInt(p.high);
        const low = BigInt(p.low);
        // Offsets-by-timestamp answers -1 (or the high watermark) when nothing is that recent.
        const s = BigInt(starts.find((x) => x.partition === p.partition)?.offset ?? p.low);
        const start = s < 0n || s > high ? high : s < low ? low : s;
        return { partition: p.partition, start: start.toString(), end: high.toString() };
      })
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads exactly `ranges` of `topic`. Records retention has already deleted are skipped (the
 * read starts at the log start then); the read ends once every partition reached its end.
 */
export async function readOffsetRange<T>(
  kafka: Kafka,
  topic: string,
  ranges: readonly PartitionRange[],
  options: RangeReadOptions<T>,
): Promise<ReplayResult> {
  const range = new Map<number, { start: bigint; end: bigint }>();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const lows = new Map(
      (await retrying(() => admin.fetchTopicOffsets(topic))).map((p) => [p.partition, BigInt(p.low)]),
    );
    for (const r of ranges) {
      const end = BigInt(r.end);
      const low = lows.get(r.partition) ?? 0n;
      const start = BigInt(r.start) < low ? low : BigInt(r.start);
      if (start < end) range.set(r.partition, { start, end });
    }
  } finally {
    await admin.disconnect();
  }
  const total = [...range.values()].reduce((n, r) => n + Number(r.end - r.start), 0);
  const result: ReplayResult = { read: 0, rejected: 0, partitions: range.size };
  if (range.size === 0) return result;
  const done = new Set<number>();
  const consumer = kafka.consumer({
    groupId: options.groupId ?? `recfleet-replay-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    maxWaitTimeInMs: 250,
  });
  let failure: unknown;
  // A partition read to its end is paused: fetched on, it would return its newer records (or the
  // same ones again, nothing resolves them) until every other partition is done.
  const pauseDone = (partition: number) => consumer.pause([{ topic, partitions: [partition] }]);
  // A fresh group starts at the beginning; move each partition to where the range (still) starts.
  // On every join: kafkajs restarts a consumer whose join failed for a retriable reason (a
  // coordinator still loading), and the new group starts at the beginning again.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, r] of range) consumer.seek({ topic, partition, offset: r.start.toString() });
  });
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) failure ??= event.payload.error;
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
        const r = range.get(batch.partition);
        if (!r || done.has(batch.partition)) return pauseDone(batch.partition);
        const messages: ConsumedMessage<T>[] = [];
        let last = -1n;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          // r.start advances past each record handled: a batch fetched again is not delivered twice.
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
        if (last >= 0n) r.start = last + 1n;
        if (batch.messages.length > 0) resolveOffset(batch.messages.at(-1)!.offset);
        if (last + 1n >= r.end || BigInt(batch.lastOffset()) + 1n >= r.end) {
          done.add(batch.partition);
          pauseDone(batch.partition);
        }
        options.onProgress?.(result.read, total);
        if (!isRunning()) return;
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    while (done.size < range.size && failure === undefined) {
      options.signal?.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`reading ${topic} timed out after ${result.read} of ${total} records`);
      await sleep(100);
    }
    if (failure !== undefined) throw failure;
    return result;
  } finally {
    await consumer.disconnect();
  }
}

/** Replays a topic from a point in time up to the end it had when the replay began. */
export async function replayTopic<T>(kafka: Kafka, topic: string, options: ReplayOptions<T>): Promise<ReplayResult> {
  return readOffsetRange(kafka, topic, await topicOffsetRange(kafka, topic, options.from), options);
}

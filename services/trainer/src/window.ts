/**
 * The training window, read from Kafka: a run takes an offset range of `events` (per partition,
 * from the first record of the last TRAIN_WINDOW_MAX_AGE to the end the topic has then, capped
 * to the newest TRAIN_WINDOW_MAX_EVENTS), keeps it with its job, and reads exactly that range.
 * Redis holds nothing per event: the range is a few numbers per partition. Replays are harmless:
 * the same range gives the same records in the same order (partition, then offset), and events
 * Kafka holds twice (a producer retry) are de-duplicated by eventId when examples are built.
 *
 * Erasure: events are sealed per user on Kafka when a master key is configured; they are opened
 * with keys fetched afresh (no cache), so an erased user's events are unreadable to any run that
 * reads after the erasure — counted as shredded, never trained on.
 */
import { randomBytes } from "node:crypto";
import { readOffsetRange, topicOffsetRange, type Kafka, type PartitionRange } from "@recfleet/bus";
import { canonicalEventSpec, consumerGroupId, type CanonicalEvent } from "@recfleet/contracts";
import { decodeSealedOr, openSealed, type SealedEnvelope, type UserKeyring } from "@recfleet/store";
import type { WindowEvent } from "./examples";

/** What a run reads: offsets of `events` per partition, and the oldest event time it keeps. */
export interface WindowRange {
  /** Events older than this (epoch ms, event time) are left out even when inside the offsets. */
  minTs: number;
  partitions: PartitionRange[];
}

export interface WindowRead {
  /** The range's events in partition order, then offset order. */
  events: WindowEvent[];
  /** Records in the range that were read. */
  records: number;
  /** Sealed with a data key that is gone (an erased user). */
  shredded: number;
  /** Not a valid event, or sealed but does not open. */
  invalid: number;
  /** Older than the range's minTs. */
  old: number;
}

export interface TrainingWindowSource {
  /** The range a run starting at `now` reads. */
  plan(now: number): Promise<WindowRange>;
  /** `signal` (shutdown) stops the read. */
  read(range: WindowRange, signal?: AbortSignal): Promise<WindowRead>;
}

/** Records in a range. */
export function rangeSize(partitions: readonly PartitionRange[]): number {
  return partitions.reduce((n, p) => n + Number(BigInt(p.end) - BigInt(p.start)), 0);
}

/**
 * At most `maxEvents` records: every partition keeps the same share of its newest records
 * (floor(n·max/total)). Deterministic and bounded without reading anything; partitions filled at
 * similar rates (events are keyed by user) keep about the same time span.
 */
export function capRange(partitions: readonly PartitionRange[], maxEvents: number): PartitionRange[] {
  const total = rangeSize(partitions);
  if (total <= maxEvents) return partitions.map((p) => ({ ...p }));
  return partitions.map((p) => {
    const n = Number(BigInt(p.end) - BigInt(p.start));
    const keep = Math.floor((n * maxEvents) / total);
    return { partition: p.partition, start: (BigInt(p.end) - BigInt(keep)).toString(), end: p.end };
  });
}

export function createKafkaTrainingWindow(options: {
  kafka: Kafka;
  namespace: string;
  topic: string;
  maxEvents: number;
  maxAgeMs: number;
  keyring?: UserKeyring;
  timeoutMs?: number;
}): TrainingWindowSource {
  const { kafka, topic, keyring } = options;
  return {
    async plan(now) {
      const minTs = now - options.maxAgeMs;
      return { minTs, partitions: capRange(await topicOffsetRange(kafka, topic, minTs), options.maxEvents) };
    },
    async read(range, signal) {
      const byPartition = new Map<number, WindowEvent[]>();
      const out: Omit<WindowRead, "events"> = { records: 0, shredded: 0, invalid: 0, old: 0 };
      const result = await readOffsetRange<CanonicalEvent | SealedEnvelope>(kafka, topic, range.partitions, {
        // Under the trainer's per-process group prefix (the ACLs grant it), unique to this read.
        groupId: consumerGroupId(options.namespace, "trainer", `window-${randomBytes(6).toString("hex")}`),
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        ...(signal ? { signal } : {}),
        decode: (value) => decodeSealedOr<CanonicalEvent>(canonicalEventSpec, value),
        handleBatch: async (messages) => {
          // Keys fetched afresh: an erasure is never outlived by a cached key during a run.
          const opened = await openSealed<CanonicalEvent>(
            keyring,
            messages.map((m) => m.value),
            canonicalEventSpec,
            { fresh: true },
          );
          const list = byPartition.get(messages[0]!.partition) ?? [];
          byPartition.set(messages[0]!.partition, list);
          for (const o of opened) {
            if (!o.ok) {
              if (o.shredded) out.shredded++;
              else out.invalid++;
            } else if (o.value.ts < range.minTs) out.old++;
            else list.push({ user: o.value.user, itemId: o.value.itemId, ts: o.value.ts, eventId: o.value.eventId });
          }
        },
      });
      out.records = result.read;
      out.invalid += result.rejected;
      const events = [...byPartition.keys()].sort((a, b) => a - b).flatMap((p) => byPartition.get(p)!);
      return { events, ...out };
    },
  };
}

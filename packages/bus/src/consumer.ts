import type { Kafka, Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import type { Registry } from "prom-client";
import { errorMessage, shouldRetry, type Logger } from "@recfleet/runtime";
import type { BusProducer } from "./producer";
import { consumerMetrics } from "./metrics";

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };
export type Decoder<T> = (value: Buffer | null) => Decoded<T>;

export interface ConsumedMessage<T> {
  value: T;
  key: string | null;
  topic: string;
  partition: number;
  offset: string;
  /** Broker append time (or producer create time), epoch ms. */
  timestamp: number;
  raw: Buffer | null;
}

export interface Rejection<T> {
  message: ConsumedMessage<T>;
  reason: string;
  detail: string;
}

export interface BatchContext {
  topic: string;
  partition: number;
  heartbeat(): Promise<void>;
}

/** Valid messages of one fetched batch; return the ones that must go to the dead-letter topic. */
export type BatchHandler<T> = (messages: ConsumedMessage<T>[], ctx: BatchContext) => Promise<{ rejected?: Rejection<T>[] } | void>;

export interface ConsumerLoopOptions<T> {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  decode: Decoder<T>;
  handleBatch: BatchHandler<T>;
  /** Dead-letter topic for undecodable, invalid or rejected messages. */
  deadLetterTopic: string;
  producer: BusProducer;
  logger: Logger;
  registry: Registry;
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  sessionTimeoutMs?: number;
  maxWaitTimeMs?: number;
  maxBytesPerPartition?: number;
  /** Attempts at one batch's effects before the consumer restarts from the last commit. */
  maxAttempts?: number;
}

export interface ConsumerLoop {
  /** Stops fetching, lets the in-flight batch finish and commit, then leaves the group. */
  stop(): Promise<void>;
  readonly consumer: Consumer;
}

export const DLQ_HEADERS = {
  reason: "recfleet-reason",
  detail: "recfleet-detail",
  topic: "recfleet-source-topic",
  partition: "recfleet-source-partition",
  offset: "recfleet-source-offset",
  failedAt: "recfleet-failed-at",
} as const;

function deadLetter(topic: string, partition: number, m: KafkaMessage, reason: string, detail: string) {
  return {
    key: m.key ? m.key.toString("utf8") : null,
    // The original bytes, untouched, so the message can be fixed and replayed.
    value: m.value ?? Buffer.alloc(0),
    headers: {
      [DLQ_HEADERS.reason]: reason,
      [DLQ_HEADERS.detail]: detail.slice(0, 500),
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: m.offset,
      [DLQ_HEADERS.failedAt]: String(Date.now()),
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * At-least-once consumer loop: decode a fetched batch, dead-letter what is invalid, run the
 * handler on the rest, and commit the batch's offsets only after its effects (handler and
 * dead letters) are done. A crash before the commit replays the batch, so handlers must be
 * idempotent. Failing effects are retried with jittered backoff; after `maxAttempts` the
 * error is thrown and kafkajs restarts the consumer from the last committed offset.
 */
export async function startConsumerLoop<T>(options: ConsumerLoopOptions<T>): Promise<ConsumerLoop> {
  const { kafka, groupId, logger } = options;
  const metrics = consumerMetrics(options.registry);
  const maxAttempts = options.maxAttempts ?? 5;
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 3)),
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
    rebalanceTimeout: 10_000,
    allowAutoTopicCreation: false,
  });
  await consumer.connect();
  for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });

  const processBatch = async ({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload) => {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const started = performance.now();
    const { topic, partition } = batch;
    const valid: ConsumedMessage<T>[] = [];
    const dead: ReturnType<typeof deadLetter>[] = [];
    const reasons: string[] = [];
    for (const m of batch.messages) {
      const decoded = options.decode(m.value);
      if (decoded.ok) {
        valid.push({ value: decoded.value, key: m.key ? m.key.toString("utf8") : null, topic, partition, offset: m.offset, timestamp: Number(m.timestamp), raw: m.value });
      } else {
        dead.push(deadLetter(topic, partition, m, decoded.reason, decoded.detail));
        reasons.push(decoded.reason);
      }
    }

    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = valid.length > 0 ? await options.handleBatch(valid, { topic, partition, heartbeat }) : undefined;
        const rejected = outcome?.rejected ?? [];
        const byOffset = new Map(batch.messages.map((m) => [m.offset, m]));
        const allDead = [...dead];
        const allReasons = [...reasons];
        for (const r of rejected) {
          const original = byOffset.get(r.message.offset);
          if (original) {
            allDead.push(deadLetter(topic, partition, original, r.reason, r.detail));
            allReasons.push(r.reason);
          }
        }
        await options.producer.send(options.deadLetterTopic, allDead);
        const next = (BigInt(batch.lastOffset()) + 1n).toString();
        await consumer.commitOffsets([{ topic, partition, offset: next }]);
        resolveOffset(batch.lastOffset());
        for (const reason of allReasons) metrics.deadLetters.inc({ group: groupId, topic, reason });
        metrics.messages.inc({ group: groupId, topic, outcome: "dead_lettered" }, allDead.length);
        metrics.messages.inc({ group: groupId, topic, outcome: "processed" }, batch.messages.length - allDead.length);
        const high = BigInt(batch.highWatermark);
        metrics.lag.set(`${topic}/${partition}`, { group: groupId, topic, partition, lag: Number(high > BigInt(next) ? high - BigInt(next) : 0n) });
        metrics.batchSeconds.observe({ group: groupId, topic }, (performance.now() - started) / 1000);
        return;
      } catch (err) {
        if (attempt >= maxAttempts || !shouldRetry(err) || !isRunning()) {
          logger.error("batch failed; the consumer will restart from the last committed offset", { topic, partition, firstOffset: batch.firstOffset(), attempts: attempt, error: errorMessage(err) });
          throw err;
        }
        const backoff = Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        logger.warn("batch effects failed; retrying", { topic, partition, attempt, backoffMs: Math.round(backoff), error: errorMessage(err) });
        await sleep(backoff);
        await heartbeat().catch(() => undefined);
      }
    }
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
    eachBatch: processBatch,
  });

  let stopped: Promise<void> | undefined;
  return {
    consumer,
    stop() {
      // disconnect() waits for the running batch (and its commit) before leaving the group.
      stopped ??= consumer.disconnect();
      return stopped;
    },
  };
}

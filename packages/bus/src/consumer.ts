import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Kafka, Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import type { Registry } from "prom-client";
import { errorMessage, RecfleetError, shouldRetry, type Logger, type Readiness } from "@recfleet/runtime";
import type { BusProducer } from "./producer";
import { consumerMetrics } from "./metrics";
import { RETRY } from "./kafka";

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

/** What a batch handler reports back; nothing means "done, commit". */
export interface BatchOutcome<T> {
  /** Messages that must go to the dead-letter topic. */
  rejected?: Rejection<T>[];
  /**
   * Read the batch's partition again from this offset instead of committing (the handler found
   * its state behind the consumer: e.g. Redis restarted empty). Nothing of the batch is
   * committed or dead-lettered; an offset below the log start replays from the log start.
   */
  rewindTo?: string;
}

/** Valid messages of one fetched batch; returns the ones to dead-letter, or a rewind. */
export type BatchHandler<T> = (messages: ConsumedMessage<T>[], ctx: BatchContext) => Promise<BatchOutcome<T> | void>;

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
  /**
   * How long the group waits for a silent member before giving its partitions to others (default
   * 10 s). The broker refuses values outside group.min/max.session.timeout.ms (default 6–1800 s).
   */
  sessionTimeoutMs?: number;
  /** Heartbeats to the group coordinator (default a third of the session timeout, at most 3 s). */
  heartbeatIntervalMs?: number;
  /**
   * While a batch handler runs, heartbeats go on for up to this long (like the Java client's
   * max.poll.interval.ms): a handler that waits (its batch queued behind another partition's, a
   * slow Redis) keeps the group, so the session timeout can be short and still mean "the process
   * is gone". Past it they stop and the group takes the partitions back (a stuck handler).
   * Default 0: kafkajs' own heartbeats only (between batches, and when the handler calls heartbeat).
   */
  keepAliveWhileHandlingMs?: number;
  maxWaitTimeMs?: number;
  maxBytesPerPartition?: number;
  /** Attempts at one batch's effects before the consumer restarts from the last commit. */
  maxAttempts?: number;
  /**
   * Deliveries of one batch whose effects all completed but whose commit the group refused
   * (membership lost: the batch outlived the session timeout) before the next delivery is
   * dead-lettered (reason batch_not_committable) instead of run again (default 3). Handler
   * failures (a Redis or broker outage) never count, only refused commits.
   */
  maxRefusedCommits?: number;
  /** Attempts at writing a batch's dead letters before they are logged, counted and skipped (default 3). */
  deadLetterAttempts?: number;
  /** Bytes of the original value a dead letter keeps (default 64 KiB); its headers carry size and sha256. */
  maxDeadLetterValueBytes?: number;
  /** What a dead letter may keep of key, value and detail (e.g. no raw user id); default: all of it. */
  redactDeadLetter?: DeadLetterRedaction;
  /** Restarts of a consumer that kafkajs gave up on, in a row, before `onFatal` (default 5). */
  maxRestarts?: number;
  /**
   * Called once the consumer cannot be restarted; the process should exit non-zero so its
   * supervisor restarts it (workers pass their context's `fail`). Default: log and exit 1.
   */
  onFatal?: (err: RecfleetError) => void;
  /** Not ready when assigned partitions saw no fetch or batch progress for this long (default 10 s). */
  stallAfterMs?: number;
  /** Registers this loop's readiness probe (`consumer:<group>`). */
  readiness?: Pick<Readiness, "addReadinessCheck">;
}

export interface ConsumerLoop {
  /** Stops fetching, lets the in-flight batch finish and commit, then leaves the group. */
  stop(): Promise<void>;
  /** The kafkajs consumer running now (a restart after a crash replaces it). */
  readonly consumer: Consumer;
}

export interface RunningConsumerLoop extends ConsumerLoop {
  /** A member of its group and fetching (or working through a batch) recently. */
  isReady(): boolean;
}

/** A consumer that crashed more often in a row than `maxRestarts` allows. */
export class ConsumerCrashedError extends RecfleetError {
  constructor(groupId: string, restarts: number, cause: unknown) {
    super(
      `the consumer of group ${groupId} crashed ${restarts} times in a row and is not restarted again; ` +
        "exiting so the supervisor restarts the process (raise maxRestarts or fix the cause below)",
      { retriable: false, cause, context: { groupId, restarts } },
    );
  }
}

export const DLQ_HEADERS = {
  reason: "recfleet-reason",
  detail: "recfleet-detail",
  topic: "recfleet-source-topic",
  partition: "recfleet-source-partition",
  offset: "recfleet-source-offset",
  failedAt: "recfleet-failed-at",
  /** Bytes of the original value; more than the dead letter's value when it was truncated. */
  originalSize: "recfleet-original-size",
  /** sha256 (hex) of the original value, to match a truncated dead letter with its source record. */
  originalSha256: "recfleet-original-sha256",
  truncated: "recfleet-truncated",
  /** The service's redaction rule rewrote key, value and detail (see DeadLetterRedaction). */
  redacted: "recfleet-redacted",
} as const;

export const DEFAULT_MAX_DEAD_LETTER_VALUE_BYTES = 64 * 1024;

/**
 * A service's rule for what its dead letters keep: bus stays generic, and the service that
 * knows where identities sit in its payloads (ingest: the raw user id) supplies the rule.
 */
export type DeadLetterRedaction = (dead: { key: string | null; value: Buffer; detail: string }) => {
  key: string | null;
  value: Buffer;
  detail: string;
};
const MAX_DEAD_LETTER_KEY_CHARS = 1024;

/**
 * A dead letter that always fits the broker's limit: a message the broker accepted can be
 * about max.message.bytes, and its bytes plus our headers would not be, so the value is cut
 * to `maxValueBytes`. Smaller values are kept exactly, so they can be fixed and replayed.
 */
export function deadLetter(
  topic: string,
  partition: number,
  m: KafkaMessage,
  reason: string,
  detail: string,
  maxValueBytes = DEFAULT_MAX_DEAD_LETTER_VALUE_BYTES,
  redact?: DeadLetterRedaction,
) {
  const original = m.value ?? Buffer.alloc(0);
  const kept = redact?.({ key: m.key ? m.key.toString("utf8") : null, value: original, detail });
  const value = kept ? kept.value : original;
  const truncated = value.byteLength > maxValueBytes;
  const key = kept ? kept.key : m.key ? m.key.toString("utf8") : null;
  if (kept) detail = kept.detail;
  return {
    key: key && key.length > MAX_DEAD_LETTER_KEY_CHARS ? key.slice(0, MAX_DEAD_LETTER_KEY_CHARS) : key,
    value: truncated ? value.subarray(0, maxValueBytes) : value,
    headers: {
      [DLQ_HEADERS.reason]: reason,
      [DLQ_HEADERS.detail]: detail.slice(0, 500),
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: m.offset,
      [DLQ_HEADERS.failedAt]: String(Date.now()),
      [DLQ_HEADERS.originalSize]: String(original.byteLength),
      [DLQ_HEADERS.originalSha256]: createHash("sha256").update(original).digest("hex"),
      ...(truncated ? { [DLQ_HEADERS.truncated]: "true" } : {}),
      ...(kept ? { [DLQ_HEADERS.redacted]: "true" } : {}),
    },
  };
}

const jitter = (ms: number) => ms * (0.5 + Math.random() / 2);

/**
 * Errors that say this member's generation is gone (the broker dropped it, or the group is
 * rebalancing). A commit retried with the same member id cannot succeed; kafkajs rejoins when
 * it gets one of these back from eachBatch, and the uncommitted batch is delivered again.
 */
const MEMBERSHIP_ERRORS = new Set([
  "UNKNOWN_MEMBER_ID",
  "ILLEGAL_GENERATION",
  "REBALANCE_IN_PROGRESS",
  "NOT_COORDINATOR_FOR_GROUP",
]);

export function membershipLost(err: unknown): Error | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === "string" && MEMBERSHIP_ERRORS.has(type)) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * The group coordinator cannot be reached for a commit: its broker died or is unreachable.
 * kafkajs' offset manager keeps asking the broker it was given at the last join (by node id),
 * and its own retries would replay the batch against that broker for about a minute. Typed as
 * NOT_COORDINATOR_FOR_GROUP, it makes kafkajs look the coordinator up again and rejoin.
 */
export class CoordinatorUnreachableError extends RecfleetError {
  readonly type = "NOT_COORDINATOR_FOR_GROUP";
  constructor(groupId: string, cause: unknown) {
    super(`the coordinator of group ${groupId} is unreachable for a commit; looking it up again and rejoining`, {
      retriable: true,
      cause,
      context: { groupId },
    });
  }
}

const COORDINATOR_GONE_NAMES = new Set([
  "KafkaJSBrokerNotFound",
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
]);
const COORDINATOR_GONE_TYPES = new Set(["COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS"]);

/** A commit failure that says the coordinator's broker is gone (not that this member is). */
export function coordinatorUnreachable(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current instanceof Error; depth++) {
    const type = (current as { type?: unknown }).type;
    if (COORDINATOR_GONE_NAMES.has(current.name) || (typeof type === "string" && COORDINATOR_GONE_TYPES.has(type)))
      return true;
    current = current.cause;
  }
  return false;
}

export interface DeadLetterTarget {
  producer: Pick<BusProducer, "send">;
  topic: string;
  /** Attempts before the records are skipped. */
  attempts: number;
  /** A send that hangs this long counts as failed (the producer retries a missing topic forever). */
  timeoutMs: number;
  logger: Logger;
}

/**
 * Writes dead letters with bounded, jittered retries. Holding a partition for a dead letter
 * that cannot be written would stop every message behind it, so after the last attempt the
 * records are logged with their offsets, counted through `onSkipped`, and skipped.
 */
export async function writeDeadLetters(
  target: DeadLetterTarget,
  records: ReturnType<typeof deadLetter>[],
  heartbeat: () => Promise<void>,
  onSkipped: (count: number) => void,
): Promise<void> {
  if (records.length === 0) return;
  for (let attempt = 1; ; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RecfleetError(`dead-letter write took over ${target.timeoutMs} ms`)),
          target.timeoutMs,
        );
      });
      await Promise.race([target.producer.send(target.topic, records), timeout]);
      return;
    } catch (err) {
      if (attempt >= target.attempts || !shouldRetry(err)) {
        const first = records[0]!.headers;
        target.logger.error("dead letters could not be written; skipping them", {
          deadLetterTopic: target.topic,
          topic: first[DLQ_HEADERS.topic],
          partition: first[DLQ_HEADERS.partition],
          offsets: records.map((r) => r.headers[DLQ_HEADERS.offset]),
          attempts: attempt,
          error: errorMessage(err),
        });
        onSkipped(records.length);
        return;
      }
      await sleep(jitter(Math.min(2000, 100 * 2 ** attempt)));
      await heartbeat().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * At-least-once consumer loop: decode a fetched batch, dead-letter what is invalid, run the
 * handler on the rest, and commit the batch's offsets only after its effects (handler and
 * dead letters) are done. A crash before the commit replays the batch, so handlers must be
 * idempotent. Failing effects are retried with jittered backoff; after `maxAttempts` the
 * error is thrown and kafkajs restarts the consumer from the last committed offset. A crash
 * kafkajs does not restart itself (a non-retriable error) is restarted here, up to
 * `maxRestarts` times in a row, then `onFatal` is called.
 */
export async function startConsumerLoop<T>(options: ConsumerLoopOptions<T>): Promise<RunningConsumerLoop> {
  const { kafka, groupId, logger } = options;
  const metrics = consumerMetrics(options.registry);
  const maxAttempts = options.maxAttempts ?? 5;
  const deadLetterAttempts = options.deadLetterAttempts ?? 3;
  const maxValueBytes = options.maxDeadLetterValueBytes ?? DEFAULT_MAX_DEAD_LETTER_VALUE_BYTES;
  const maxRestarts = options.maxRestarts ?? 5;
  const stallAfterMs = options.stallAfterMs ?? 10_000;
  const onFatal =
    options.onFatal ??
    ((err: RecfleetError) => {
      logger.error("consumer cannot recover; exiting with code 1", { groupId, error: errorMessage(err) });
      process.exit(1);
    });

  // What readiness looks at, for the consumer running now.
  const health = { member: false, assigned: 0, lastProgress: 0 };
  const progressed = () => (health.lastProgress = Date.now());

  const dlq = {
    producer: options.producer,
    topic: options.deadLetterTopic,
    attempts: deadLetterAttempts,
    timeoutMs: 30_000,
    logger,
  };
  const skipped = (topic: string, n: number) => metrics.deadLetterFailures.inc({ group: groupId, topic }, n);
  // Refused commits per batch start ("topic/partition/firstOffset"). In memory: the loop it
  // breaks is one process re-running a batch it cannot commit; bounded so it cannot grow.
  const maxRefusedCommits = options.maxRefusedCommits ?? 3;
  const refusedCommits = new Map<string, number>();
  const countRefusedCommit = (key: string) => {
    refusedCommits.set(key, (refusedCommits.get(key) ?? 0) + 1);
    if (refusedCommits.size > 1000) refusedCommits.delete(refusedCommits.keys().next().value!);
  };

  // kafkajs heartbeats only between batches or when a handler calls heartbeat(); with
  // keepAliveWhileHandlingMs they also go on while a handler runs, up to that long.
  const heartbeatMs =
    options.heartbeatIntervalMs ?? Math.min(3000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 3));
  const keepAliveMs = options.keepAliveWhileHandlingMs ?? 0;
  const whileBeating = async <R>(heartbeat: () => Promise<void>, work: () => Promise<R>): Promise<R> => {
    if (keepAliveMs <= 0) return work();
    const until = Date.now() + keepAliveMs;
    const timer = setInterval(() => {
      if (Date.now() < until) void heartbeat().catch(() => undefined);
      else clearInterval(timer);
    }, heartbeatMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  };

  const processBatch = async ({
    batch,
    heartbeat: kafkaHeartbeat,
    isRunning,
    isStale,
    resolveOffset,
    commitOffsetsIfNecessary,
  }: EachBatchPayload) => {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    progressed();
    const heartbeat = async () => {
      await kafkaHeartbeat();
      progressed();
    };
    const started = performance.now();
    const { topic, partition } = batch;
    const batchKey = `${topic}/${partition}/${batch.firstOffset()}`;
    const refused = refusedCommits.get(batchKey) ?? 0;
    const valid: ConsumedMessage<T>[] = [];
    const dead: ReturnType<typeof deadLetter>[] = [];
    const reasons: string[] = [];
    if (refused >= maxRefusedCommits) {
      // Its effects ran `refused` times (handlers are idempotent) and no commit could follow:
      // running it again would loop for good. Dead-letter it so the partition moves on.
      logger.error("batch ran to completion but its commit was refused every time; dead-lettering it", {
        topic,
        partition,
        firstOffset: batch.firstOffset(),
        messages: batch.messages.length,
        refusedCommits: refused,
      });
      const detail = `its effects completed ${refused} times but the group refused every commit (the batch outlives the session timeout?)`;
      for (const m of batch.messages) {
        dead.push(deadLetter(topic, partition, m, "batch_not_committable", detail, maxValueBytes));
        reasons.push("batch_not_committable");
      }
    }
    for (const m of refused >= maxRefusedCommits ? [] : batch.messages) {
      const decoded = options.decode(m.value);
      if (decoded.ok) {
        valid.push({
          value: decoded.value,
          key: m.key ? m.key.toString("utf8") : null,
          topic,
          partition,
          offset: m.offset,
          timestamp: Number(m.timestamp),
          raw: m.value,
        });
      } else {
        dead.push(
          deadLetter(topic, partition, m, decoded.reason, decoded.detail, maxValueBytes, options.redactDeadLetter),
        );
        reasons.push(decoded.reason);
      }
    }

    let coordinatorFailures = 0;
    for (let attempt = 1; ; attempt++) {
      let effectsDone = false;
      try {
        const outcome =
          valid.length > 0
            ? await whileBeating(heartbeat, () => options.handleBatch(valid, { topic, partition, heartbeat }))
            : undefined;
        if (outcome?.rewindTo !== undefined) {
          logger.warn("the handler rewinds its partition; the batch is not committed", {
            topic,
            partition,
            firstOffset: batch.firstOffset(),
            rewindTo: outcome.rewindTo,
          });
          running?.seek({ topic, partition, offset: outcome.rewindTo });
          metrics.rewinds.inc({ group: groupId, topic });
          progressed();
          return;
        }
        const rejected = outcome?.rejected ?? [];
        const byOffset = new Map(batch.messages.map((m) => [m.offset, m]));
        const allDead = [...dead];
        const allReasons = [...reasons];
        for (const r of rejected) {
          const original = byOffset.get(r.message.offset);
          if (original) {
            allDead.push(
              deadLetter(topic, partition, original, r.reason, r.detail, maxValueBytes, options.redactDeadLetter),
            );
            allReasons.push(r.reason);
          }
        }
        await writeDeadLetters(dlq, allDead, heartbeat, (n) => skipped(topic, n));
        effectsDone = true;
        const next = (BigInt(batch.lastOffset()) + 1n).toString();
        // Straight to the group coordinator: kafkajs' consumer.commitOffsets would retry a commit
        // whose member id the broker has dropped; that error must reach kafkajs so it rejoins.
        await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
        resolveOffset(batch.lastOffset());
        refusedCommits.delete(batchKey);
        progressed();
        for (const reason of allReasons) metrics.deadLetters.inc({ group: groupId, topic, reason });
        metrics.messages.inc({ group: groupId, topic, outcome: "dead_lettered" }, allDead.length);
        metrics.messages.inc({ group: groupId, topic, outcome: "processed" }, batch.messages.length - allDead.length);
        const high = BigInt(batch.highWatermark);
        metrics.lag.set(`${topic}/${partition}`, {
          group: groupId,
          topic,
          partition,
          lag: Number(high > BigInt(next) ? high - BigInt(next) : 0n),
        });
        metrics.batchSeconds.observe({ group: groupId, topic }, (performance.now() - started) / 1000);
        return;
      } catch (err) {
        const lost = membershipLost(err);
        if (lost) {
          health.member = false;
          if (effectsDone) countRefusedCommit(batchKey);
          logger.warn("group membership lost before the commit; kafkajs rejoins and the batch is delivered again", {
            topic,
            partition,
            firstOffset: batch.firstOffset(),
            error: errorMessage(lost),
          });
          throw lost;
        }
        // The effects are done and the commit cannot reach the coordinator twice in a row: its
        // broker is gone. Rejoin (kafkajs finds the new coordinator) instead of retrying against
        // it; the batch is delivered again and its idempotent effects run once more.
        if (effectsDone && coordinatorUnreachable(err) && ++coordinatorFailures >= 2) {
          health.member = false;
          logger.warn("the group coordinator is unreachable for the commit; rejoining the group", {
            topic,
            partition,
            firstOffset: batch.firstOffset(),
            error: errorMessage(err),
          });
          throw new CoordinatorUnreachableError(groupId, err);
        }
        if (attempt >= maxAttempts || !shouldRetry(err) || !isRunning()) {
          logger.error("batch failed; the consumer will restart from the last committed offset", {
            topic,
            partition,
            firstOffset: batch.firstOffset(),
            attempts: attempt,
            error: errorMessage(err),
          });
          throw err;
        }
        const backoff = jitter(Math.min(5000, 100 * 2 ** attempt));
        logger.warn("batch effects failed; retrying", {
          topic,
          partition,
          attempt,
          backoffMs: Math.round(backoff),
          error: errorMessage(err),
        });
        await sleep(backoff);
        await heartbeat().catch(() => undefined);
      }
    }
  };

  let stopping = false;
  let wake: () => void = () => {};
  let restarts = 0;
  let startedAt = 0;
  let restarting: Promise<void> | undefined;

  // The consumer whose batches run now (seek from inside a batch needs it before start returns).
  let running: Consumer | undefined;
  const start = async (): Promise<Consumer> => {
    const c = kafka.consumer({
      groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: heartbeatMs,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
      rebalanceTimeout: 10_000,
      allowAutoTopicCreation: false,
      // kafkajs' consumer default is 5 retries with backoff up to 30 s; see RETRY.
      retry: RETRY,
    });
    running = c;
    const { GROUP_JOIN, FETCH, REBALANCING, CRASH, STOP, DISCONNECT } = c.events;
    c.on(GROUP_JOIN, ({ payload }) => {
      health.member = true;
      health.assigned = Object.values(payload.memberAssignment).reduce((n, ps) => n + ps.length, 0);
      progressed();
    });
    c.on(FETCH, progressed);
    for (const event of [REBALANCING, STOP, DISCONNECT]) c.on(event, () => (health.member = false));
    c.on(CRASH, ({ payload }) => {
      health.member = false;
      // kafkajs restarts after retriable errors itself; the others would leave this consumer dead.
      if (payload.restart || stopping) return;
      restarting = restart(payload.error);
    });
    await c.connect();
    for (const topic of options.topics) await c.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: processBatch,
    });
    startedAt = Date.now();
    return c;
  };

  const restart = async (cause: unknown): Promise<void> => {
    // A consumer that ran for a while before crashing starts a new series of restarts.
    if (Date.now() - startedAt > 10 * 60_000) restarts = 0;
    while (!stopping) {
      restarts++;
      metrics.restarts.inc({ group: groupId });
      if (restarts > maxRestarts) {
        onFatal(new ConsumerCrashedError(groupId, restarts - 1, cause));
        return;
      }
      const backoff = jitter(Math.min(30_000, 1000 * 2 ** (restarts - 1)));
      logger.error("consumer crashed and kafkajs does not restart it; restarting", {
        groupId,
        restart: restarts,
        maxRestarts,
        backoffMs: Math.round(backoff),
        error: errorMessage(cause),
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopping) return;
      try {
        consumer = await start();
        return;
      } catch (err) {
        cause = err;
      }
    }
  };

  let consumer = await start();
  let stopped: Promise<void> | undefined;
  const name = `consumer:${groupId}`;
  const isReady = () => health.member && (health.assigned === 0 || Date.now() - health.lastProgress < stallAfterMs);
  options.readiness?.addReadinessCheck(name, isReady);
  return {
    get consumer() {
      return consumer;
    },
    isReady,
    stop() {
      // disconnect() waits for the running batch (and its commit) before leaving the group.
      stopped ??= (async () => {
        stopping = true;
        wake();
        await restarting;
        await consumer.disconnect();
      })();
      return stopped;
    },
  };
}

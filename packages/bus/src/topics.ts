import { setTimeout as sleep } from "node:timers/promises";
import type { Kafka } from "kafkajs";
import { TOPIC_CATALOG, TOPIC_KEYS, topicNames, topicPartitions, topicReplication } from "@recfleet/contracts";

export interface TopicSpec {
  topic: string;
  partitions: number;
  config?: Record<string, string>;
}

/**
 * Creates missing topics and grows partition counts that are below the configured number. New
 * topics are replicated as the catalog says for the cluster's size (topicReplication: RF 3 and
 * min.insync.replicas 2 from three brokers on, one copy on the dev stack's single broker).
 */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const replication = topicReplication((await admin.describeCluster()).brokers.length);
    // Kafka 4.x can answer metadata for a just-created topic with UNKNOWN_TOPIC_OR_PARTITION, and
    // workers starting together race to create the same topics: retry with jittered backoff
    // until every topic exists, for at most 30 s.
    const deadline = Date.now() + 30_000;
    for (let attempt = 0; ; attempt++) {
      const now = attempt === 0 ? existing : new Set(await admin.listTopics());
      const missing = specs.filter((s) => !now.has(s.topic));
      if (missing.length === 0) break;
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((s) => ({
            topic: s.topic,
            numPartitions: s.partitions,
            replicationFactor: replication.replicationFactor,
            configEntries: Object.entries({
              "min.insync.replicas": String(replication.minInsyncReplicas),
              ...s.config,
            }).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(Math.min(1000, 50 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
    // A topic another process just created may not have leaders yet ("does not host this
    // topic-partition" on subscribe): wait until every partition has one.
    for (let attempt = 0; ; attempt++) {
      const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) }).catch(() => undefined);
      if (meta && meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) break;
      if (attempt >= 60)
        throw new Error(`topics ${specs.map((s) => s.topic).join(", ")} have partitions without a leader after 15 s`);
      await sleep(250);
    }
    const present = specs.filter((s) => existing.has(s.topic));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
      const grow = present.filter(
        (s) => (meta.topics.find((t) => t.name === s.topic)?.partitions.length ?? s.partitions) < s.partitions,
      );
      if (grow.length > 0)
        await admin.createPartitions({ topicPartitions: grow.map((s) => ({ topic: s.topic, count: s.partitions })) });
    }
  } finally {
    await admin.disconnect();
  }
}

/** Every catalog topic of a namespace; partitioned topics get `partitions` (default DEFAULT_PARTITIONS). */
export function fleetTopicSpecs(namespace: string, options: { partitions?: number } = {}): TopicSpec[] {
  const names = topicNames(namespace);
  return TOPIC_KEYS.map((key) => ({
    topic: names[key],
    partitions: topicPartitions(key, options.partitions),
    ...(TOPIC_CATALOG[key].config ? { config: { ...TOPIC_CATALOG[key].config } } : {}),
  }));
}

/**
 * Creates every topic of the catalog under a namespace (and grows partitioned topics up to
 * `partitions`). Each worker calls it at start with the whole catalog, not only its own
 * topics, so whichever starts first leaves the namespace complete and consistent.
 */
export async function ensureFleetTopics(
  kafka: Kafka,
  namespace: string,
  options: { partitions?: number } = {},
): Promise<void> {
  await ensureTopics(kafka, fleetTopicSpecs(namespace, options));
}

/** Sum over partitions of (high watermark − committed offset) for a group: what it has yet to process. */
export async function groupLag(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    let lag = 0;
    for (const p of ends) {
      const c = done.get(p.partition) ?? -1;
      lag += Number(p.high) - (c < 0 ? Number(p.low) : c);
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

/**
 * Reads a topic from the beginning with a throwaway group until `until` says enough, or else until
 * every partition's end offset at the start of the read is reached (idle for `idleMs` after the
 * group join as a fallback). Tools, tests and the OPE command read logs this way.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: { until?: (records: RawRecord[]) => boolean; idleMs?: number; timeoutMs?: number } = {},
): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  // What "the end" is when the read starts: per partition, the offset after its last record. The
  // read stops once every partition got there (or on `until`), so a slow broker cannot make an
  // existing topic look empty; idle time is only the fallback (e.g. records removed meanwhile).
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    // A topic created a moment ago may still be electing leaders (NOT_LEADER_FOR_PARTITION): retry
    // the retriable answers for a few seconds, as a consumer would.
    for (let attempt = 0; ; attempt++) {
      try {
        for (const p of await admin.fetchTopicOffsets(topic))
          if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high));
        break;
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable !== true || attempt >= 40) throw err;
        await sleep(250);
      }
    }
  } finally {
    await admin.disconnect();
  }
  const reached = new Map<number, bigint>();
  const atEnd = () => [...ends].every(([partition, end]) => (reached.get(partition) ?? -1n) + 1n >= end);
  const consumer = kafka.consumer({
    groupId: `recfleet-reader-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    maxWaitTimeInMs: 100,
  });
  // Idle time counts from the group join: on a loaded broker joining alone can take longer than
  // idleMs, and counting from the start then read an existing topic as empty.
  let joinedAt: number | undefined;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt = Date.now();
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let lastMessageAt = Date.now();
  const started = Date.now();
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      lastMessageAt = Date.now();
      const offset = BigInt(message.offset);
      if (offset > (reached.get(partition) ?? -1n)) reached.set(partition, offset);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {}))
        if (v !== undefined) headers[k] = Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
      records.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString("utf8") ?? null,
        value: message.value,
        headers,
        timestamp: Number(message.timestamp),
      });
    },
  });
  const idleMs = options.idleMs ?? 3000;
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    for (;;) {
      await sleep(50);
      if (options.until?.(records)) break;
      if (!options.until && atEnd()) break;
      if (Date.now() - started > timeoutMs) break;
      // Fallback when the end cannot be reached (records removed meanwhile): a long silence after the join.
      if (!options.until && joinedAt !== undefined && Date.now() - Math.max(lastMessageAt, joinedAt) > 10 * idleMs)
        break;
    }
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Resolves once the broker answers metadata requests (a port that accepts TCP is not enough). */
export async function waitForBroker(kafka: Kafka, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

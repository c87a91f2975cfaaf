/**
 * The topic catalog: every Kafka topic of a fleet, what flows on it and who reads it. Workers,
 * the CLI, tests and benches take names, partition counts, DLQs and consumer groups from here
 * (ensureFleetTopics in @recfleet/bus creates them), and docs/architecture.md has a table of it
 * that a unit test keeps in step.
 */
import type { MessageSpec } from "./schema";
import {
  canonicalEventSpec,
  clickstreamEventSpec,
  decisionLogSpec,
  modelVersionSpec,
  recommendationSpec,
  recRequestSpec,
  REPLY_PARTITIONS,
} from "./messages";
import { catalogItemSpec } from "./items";

/** Consumer groups of the fleet, by the suffix of their group id under the namespace. */
export type ConsumerGroup =
  | "ingest"
  | "features"
  | "catalog"
  | "trainer"
  | "scorer"
  | "scorer-versions"
  | "simulator"
  | "gateway-replies"
  | "client";

/**
 * Who writes a topic: a worker, an app outside the fleet, or an operator's CLI. Kafka ACLs
 * (one principal per writer, apps/deploy) are derived from this and from `consumers`.
 */
export type TopicWriter = "app" | "ingest" | "features" | "trainer" | "scorer" | "gateway" | "operator";

export interface TopicConsumer {
  group: ConsumerGroup;
  /** Where this group dead-letters what it cannot decode or process (a catalog key). */
  dlq: TopicKey;
  /**
   * One group per process (consumerGroupId with an instance tag), so each process gets every
   * message instead of sharing the partitions. The reason is in `note`.
   */
  perProcess?: true;
  note?: string;
}

export interface TopicEntry {
  /** Name under the namespace: `<namespace>.<base>`. */
  base: string;
  description: string;
  /** Spec of the message values; absent for dead-letter topics (rejected bytes as they came). */
  message?: MessageSpec;
  /** What producers put in the message key (the key picks the partition, so it fixes ordering). */
  key: string;
  /**
   * Partitioned topics get the fleet's partition count (RECFLEET_TOPIC_PARTITIONS, default
   * DEFAULT_PARTITIONS); the others have one partition: DLQs are small and read in order, and
   * model announcements must stay in order.
   */
  partitioned: boolean;
  /** A fixed partition count instead (rec.replies: one partition per gateway instance). */
  partitions?: number;
  /** Topic configs (Kafka topic-level settings) given when the topic is created. */
  config?: Readonly<Record<string, string>>;
  /** Who produces to it (Kafka ACLs grant Write to exactly these). */
  producers: readonly TopicWriter[];
  consumers: readonly TopicConsumer[];
}

export type TopicKey =
  | "clickstream"
  | "clickstreamDlq"
  | "events"
  | "eventsDlq"
  | "eventsTrainerDlq"
  | "recRequests"
  | "recRequestsDlq"
  | "recommendations"
  | "recommendationsDlq"
  | "recReplies"
  | "recLog"
  | "modelVersions"
  | "modelVersionsDlq"
  | "items"
  | "itemsDlq";

/** Partition count of partitioned topics when RECFLEET_TOPIC_PARTITIONS is not set. */
export const DEFAULT_PARTITIONS = 4;

const DLQ_KEY = "original key";

/** A dead-letter topic, written by the workers that consume `of`. */
function deadLetters(of: string, producers: readonly TopicWriter[]): TopicEntry {
  const description = `Dead letters of ${of}, with DLQ_HEADERS saying why.`;
  return { base: `${of}.dlq`, description, key: DLQ_KEY, partitioned: false, producers, consumers: [] };
}

export const TOPIC_CATALOG: Readonly<Record<TopicKey, TopicEntry>> = {
  clickstream: {
    base: "clickstream",
    description: "Raw interactions from apps, keyed so one user's events stay in order.",
    message: clickstreamEventSpec,
    key: "userId (raw)",
    partitioned: true,
    // Raw ids live here until ingest pseudonymises them: three days bounds how long a raw copy
    // outlives an erasure (docs/privacy.md) while covering an ingest outage over a weekend.
    config: { "retention.ms": String(3 * 86_400_000) },
    producers: ["app", "gateway"],
    consumers: [{ group: "ingest", dlq: "clickstreamDlq" }],
  },
  clickstreamDlq: deadLetters("clickstream", ["ingest"]),
  events: {
    base: "events",
    description: "Validated, deduplicated, pseudonymous events written by ingest.",
    message: canonicalEventSpec,
    key: "user (pseudonym)",
    partitioned: true,
    producers: ["ingest"],
    consumers: [
      { group: "features", dlq: "eventsDlq" },
      {
        group: "trainer",
        dlq: "eventsTrainerDlq",
        perProcess: true,
        note: "each training run reads its own offset range with a group of its own and commits nothing",
      },
    ],
  },
  eventsDlq: deadLetters("events", ["features"]),
  eventsTrainerDlq: {
    ...deadLetters("events", ["trainer"]),
    base: "events.trainer.dlq",
    description:
      "Dead letters of the trainer's events consumer (none since runs read offset ranges: what does not decode is counted, not dead-lettered).",
  },
  recRequests: {
    base: "rec.requests",
    description: "Requests for recommendations, from apps and the features worker (refresh on event).",
    message: recRequestSpec,
    key: "userId (raw) or user (pseudonym)",
    partitioned: true,
    // A request is worth answering for seconds; a day bounds replays, and with them how long the
    // store keeps each request's idempotency marker (RECFLEET_REPLAY_HORIZON, the same day).
    config: { "retention.ms": String(86_400_000) },
    producers: ["app", "features", "gateway"],
    consumers: [{ group: "scorer", dlq: "recRequestsDlq" }],
  },
  recRequestsDlq: deadLetters("rec.requests", ["scorer"]),
  recommendations: {
    base: "recommendations",
    description: "The scorer's answers; apps read them.",
    message: recommendationSpec,
    key: "user (pseudonym)",
    partitioned: true,
    // Answers are read within seconds; a day bounds how long what a user was shown outlives an erasure.
    config: { "retention.ms": String(86_400_000) },
    producers: ["scorer"],
    consumers: [
      {
        group: "simulator",
        dlq: "recommendationsDlq",
        perProcess: true,
        note: "the simulator stands in for an app; each run reads every answer from the start",
      },
      {
        group: "client",
        dlq: "recommendationsDlq",
        perProcess: true,
        note: "@recfleet/client's Kafka transport (a backend): reads every answer from its start on, keeps its own",
      },
    ],
  },
  recommendationsDlq: deadLetters("recommendations", ["app", "gateway"]),
  recReplies: {
    base: "rec.replies",
    description:
      "The scorer's answers to requests naming a replyPartition: each gateway instance leases one partition and reads only it.",
    message: recommendationSpec,
    key: "user (pseudonym)",
    partitioned: false,
    partitions: REPLY_PARTITIONS,
    // Answers are useful for a request's deadline only; a day bounds what a dead gateway leaves behind.
    config: { "retention.ms": String(24 * 3600_000) },
    producers: ["scorer"],
    consumers: [
      {
        group: "gateway-replies",
        dlq: "recommendationsDlq",
        perProcess: true,
        note: "each gateway reads only the partition it leased (an assigner that takes that one partition), from its end at start",
      },
    ],
  },
  recLog: {
    base: "rec.log",
    description: "The scorer's decision log (candidates, item stats, propensities); `recfleet ope` reads it.",
    message: decisionLogSpec,
    key: "recId",
    partitioned: true,
    producers: ["scorer"],
    consumers: [],
  },
  modelVersions: {
    base: "model.versions",
    description: "Announcements of the model version to serve (trainer promotion, `model rollback`).",
    message: modelVersionSpec,
    key: '"model"',
    partitioned: false,
    producers: ["trainer", "gateway", "operator"],
    consumers: [
      {
        group: "scorer-versions",
        dlq: "modelVersionsDlq",
        perProcess: true,
        note: "every scorer process must swap models, so each has its own group, reading from now on",
      },
    ],
  },
  modelVersionsDlq: deadLetters("model.versions", ["scorer"]),
  items: {
    base: "items",
    description: "The item catalog: upserts and deletions, compacted so the catalog can be rebuilt from it.",
    message: catalogItemSpec,
    key: "itemId",
    partitioned: true,
    // Compaction keeps the newest change per item (deletions included, as op "delete").
    config: { "cleanup.policy": "compact" },
    producers: ["app"],
    consumers: [
      {
        group: "catalog",
        dlq: "itemsDlq",
        note: "the features worker's catalog loop; it keeps the catalog in Redis and tells scorers",
      },
    ],
  },
  itemsDlq: deadLetters("items", ["features"]),
};

export const TOPIC_KEYS = Object.keys(TOPIC_CATALOG) as readonly TopicKey[];

export type TopicNames = Record<TopicKey, string>;

const namespaced = (namespace: string, base: string) => (namespace ? `${namespace}.${base}` : base);

/** Topic names under a namespace ("" → bare names), so several fleets or tests share a broker. */
export function topicNames(namespace = "recfleet"): TopicNames {
  const names = TOPIC_KEYS.map((key) => [key, namespaced(namespace, TOPIC_CATALOG[key].base)]);
  return Object.fromEntries(names) as TopicNames;
}

/**
 * Replication of every fleet topic in production: three copies, and a write (producers use
 * acks=all, idempotent) is acknowledged once two hold it, so one broker can die without losing
 * an acknowledged event or stopping writes.
 */
export const TOPIC_REPLICATION = { replicationFactor: 3, minInsyncReplicas: 2 } as const;

/**
 * Replication for a cluster of `brokers` brokers: TOPIC_REPLICATION from three brokers on; a
 * smaller cluster (the dev stack's single broker) keeps one copy per broker and min.insync 1.
 */
export function topicReplication(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  if (brokers >= TOPIC_REPLICATION.replicationFactor) return { ...TOPIC_REPLICATION };
  return { replicationFactor: Math.max(1, brokers), minInsyncReplicas: 1 };
}

/** Partitions of a catalog topic for a fleet whose partitioned topics have `fleetPartitions`. */
export function topicPartitions(key: TopicKey, fleetPartitions = DEFAULT_PARTITIONS): number {
  const entry = TOPIC_CATALOG[key];
  return entry.partitions ?? (entry.partitioned ? fleetPartitions : 1);
}

/**
 * Group id of a catalog consumer group: `<namespace>.<group>`, plus `-<instance>` for the
 * per-process groups (see TopicConsumer.perProcess).
 */
export function consumerGroupId(namespace: string, group: ConsumerGroup, instance?: string): string {
  return namespaced(namespace, instance === undefined ? group : `${group}-${instance}`);
}

/** The Kafka principal that owns a consumer group (the simulator stands in for an app). */
export const GROUP_OWNER: Readonly<Record<ConsumerGroup, TopicWriter>> = {
  ingest: "ingest",
  features: "features",
  trainer: "trainer",
  catalog: "features",
  scorer: "scorer",
  "scorer-versions": "scorer",
  simulator: "app",
  client: "app",
  "gateway-replies": "gateway",
};

/** What a principal may do on Kafka: produce to, consume from, and which groups it joins. */
export interface TopicGrants {
  writes: TopicKey[];
  reads: TopicKey[];
  groups: { group: ConsumerGroup; perProcess: boolean }[];
}

/**
 * A principal's grants, straight from the catalog's writers and consumers: the ACLs of a secured
 * cluster (bus's applyFleetAcls for a local broker, apps/deploy's Strimzi KafkaUsers) are these.
 */
export function topicGrants(principal: TopicWriter): TopicGrants {
  const grants: TopicGrants = { writes: [], reads: [], groups: [] };
  for (const key of TOPIC_KEYS) {
    const entry = TOPIC_CATALOG[key];
    if (entry.producers.includes(principal)) grants.writes.push(key);
    for (const consumer of entry.consumers) {
      if (GROUP_OWNER[consumer.group] !== principal) continue;
      if (!grants.reads.includes(key)) grants.reads.push(key);
      if (!grants.groups.some((g) => g.group === consumer.group))
        grants.groups.push({ group: consumer.group, perProcess: consumer.perProcess === true });
    }
  }
  return grants;
}

/** Every principal the catalog names. */
export const TOPIC_WRITERS: readonly TopicWriter[] = [
  "app",
  "ingest",
  "features",
  "trainer",
  "scorer",
  "gateway",
  "operator",
];

/** One permission of a secured cluster, in neutral terms (bus maps it to kafkajs, apps/deploy to Strimzi). */
export interface FleetAcl {
  /** The principal's user name (User:<name>). */
  principal: string;
  resource: { type: "topic" | "group"; name: string; pattern: "literal" | "prefix" };
  operation: "Describe" | "Read" | "Write";
}

/**
 * Every ACL of a namespace: each principal may Describe the namespace's topics (workers list them
 * at start), Write exactly the topics the catalog says it produces, Read the topics and groups it
 * consumes (per-process groups by prefix). The authorizer refuses everything else.
 */
export function fleetAcls(namespace: string, principalOf: (writer: TopicWriter) => string): FleetAcl[] {
  const names = topicNames(namespace);
  const acls: FleetAcl[] = [];
  for (const writer of TOPIC_WRITERS) {
    const principal = principalOf(writer);
    const grants = topicGrants(writer);
    const topic = (name: string, pattern: "literal" | "prefix" = "literal") => ({
      type: "topic" as const,
      name,
      pattern,
    });
    acls.push({ principal, resource: topic(namespaced(namespace, ""), "prefix"), operation: "Describe" });
    for (const key of grants.writes) acls.push({ principal, resource: topic(names[key]), operation: "Write" });
    for (const key of grants.reads) acls.push({ principal, resource: topic(names[key]), operation: "Read" });
    for (const { group, perProcess } of grants.groups) {
      const id = consumerGroupId(namespace, group);
      const resource = perProcess
        ? { type: "group" as const, name: `${id}-`, pattern: "prefix" as const }
        : { type: "group" as const, name: id, pattern: "literal" as const };
      acls.push({ principal, resource, operation: "Read" });
    }
  }
  return acls;
}

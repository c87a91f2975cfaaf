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

/** Consumer groups of the fleet, by the suffix of their group id under the namespace. */
export type ConsumerGroup =
  "ingest" | "features" | "trainer" | "scorer" | "scorer-versions" | "simulator" | "gateway-replies" | "client";

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
  | "modelVersionsDlq";

/** Partition count of partitioned topics when RECFLEET_TOPIC_PARTITIONS is not set. */
export const DEFAULT_PARTITIONS = 4;

const DLQ_KEY = "original key";

function deadLetters(of: string): TopicEntry {
  const description = `Dead letters of ${of}, with DLQ_HEADERS saying why.`;
  return { base: `${of}.dlq`, description, key: DLQ_KEY, partitioned: false, consumers: [] };
}

export const TOPIC_CATALOG: Readonly<Record<TopicKey, TopicEntry>> = {
  clickstream: {
    base: "clickstream",
    description: "Raw interactions from apps, keyed so one user's events stay in order.",
    message: clickstreamEventSpec,
    key: "userId (raw)",
    partitioned: true,
    consumers: [{ group: "ingest", dlq: "clickstreamDlq" }],
  },
  clickstreamDlq: deadLetters("clickstream"),
  events: {
    base: "events",
    description: "Validated, deduplicated, pseudonymous events written by ingest.",
    message: canonicalEventSpec,
    key: "user (pseudonym)",
    partitioned: true,
    consumers: [
      { group: "features", dlq: "eventsDlq" },
      { group: "trainer", dlq: "eventsTrainerDlq" },
    ],
  },
  eventsDlq: deadLetters("events"),
  eventsTrainerDlq: {
    ...deadLetters("events"),
    base: "events.trainer.dlq",
    description: "Dead letters of the trainer's events consumer.",
  },
  recRequests: {
    base: "rec.requests",
    description: "Requests for recommendations, from apps and the features worker (refresh on event).",
    message: recRequestSpec,
    key: "userId (raw) or user (pseudonym)",
    partitioned: true,
    consumers: [{ group: "scorer", dlq: "recRequestsDlq" }],
  },
  recRequestsDlq: deadLetters("rec.requests"),
  recommendations: {
    base: "recommendations",
    description: "The scorer's answers; apps read them.",
    message: recommendationSpec,
    key: "user (pseudonym)",
    partitioned: true,
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
  recommendationsDlq: deadLetters("recommendations"),
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
    consumers: [],
  },
  modelVersions: {
    base: "model.versions",
    description: "Announcements of the model version to serve (trainer promotion, `model rollback`).",
    message: modelVersionSpec,
    key: '"model"',
    partitioned: false,
    consumers: [
      {
        group: "scorer-versions",
        dlq: "modelVersionsDlq",
        perProcess: true,
        note: "every scorer process must swap models, so each has its own group, reading from now on",
      },
    ],
  },
  modelVersionsDlq: deadLetters("model.versions"),
};

export const TOPIC_KEYS = Object.keys(TOPIC_CATALOG) as readonly TopicKey[];

export type TopicNames = Record<TopicKey, string>;

const namespaced = (namespace: string, base: string) => (namespace ? `${namespace}.${base}` : base);

/** Topic names under a namespace ("" → bare names), so several fleets or tests share a broker. */
export function topicNames(namespace = "recfleet"): TopicNames {
  const names = TOPIC_KEYS.map((key) => [key, namespaced(namespace, TOPIC_CATALOG[key].base)]);
  return Object.fromEntries(names) as TopicNames;
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

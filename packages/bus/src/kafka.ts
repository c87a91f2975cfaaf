import { Kafka, logLevel, type LogEntry } from "kafkajs";
import type { Logger } from "@recfleet/runtime";
import { registerCodecs } from "./codecs";

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

const LEVEL_NAMES: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/**
 * Retry policy for a real-time fleet (docs/architecture.md, "Failure handling"): kafkajs'
 * default backoff grows to 30 s, so after a broker restart clients idled up to that long
 * before their next try. Capped at 2 s, a client retries often enough to resume within a few
 * seconds of the broker's return. 30 retries (about a minute) before an operation fails: with
 * fewer, a 15 s outage already exhausted the retries of the producer's inner connection and
 * failed its send (the producer's own send retries are unbounded, see producer.ts).
 */
export const RETRY = { initialRetryTime: 100, maxRetryTime: 2000, retries: 30 } as const;

/** kafkajs client whose logs go through our structured logger, able to read every Kafka codec. */
export function createKafka(options: KafkaOptions): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= "1";
  registerCodecs();
  const log = options.logger.child({ component: "kafkajs" });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    retry: RETRY,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // Protocol answers that kafkajs handles itself (coordinator loading after a broker start,
      // a rebalance in progress, metadata not yet propagated) are not errors of ours.
      const level = LEVEL_NAMES[entry.level] ?? "info";
      const handled =
        level === "error" &&
        entry.namespace === "Connection" &&
        /coordinator|rebalanc|does not host|leader/i.test(String(fields.error ?? ""));
      log[handled ? "debug" : level](message, { namespace: entry.namespace, ...fields });
    },
  });
}

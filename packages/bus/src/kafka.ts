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

/** kafkajs client whose logs go through our structured logger, able to read every Kafka codec. */
export function createKafka(options: KafkaOptions): Kafka {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= "1";
  registerCodecs();
  const log = options.logger.child({ component: "kafkajs" });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 10 },
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // Protocol answers that kafkajs handles itself (coordinator loading after a broker start,
      // a rebalance in progress, metadata not yet propagated) are not errors of ours.
      const level = LEVEL_NAMES[entry.level] ?? "info";
      const handled = level === "error" && entry.namespace === "Connection" && /coordinator|rebalanc|does not host|leader/i.test(String(fields.error ?? ""));
      log[handled ? "debug" : level](message, { namespace: entry.namespace, ...fields });
    },
  });
}

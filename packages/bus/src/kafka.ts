// First: kafkajs must load after its grouping fix (grouping-fix.ts).
import { groupingFixApplied } from "./grouping-fix";
import { readFileSync } from "node:fs";
import { Kafka, logLevel, type LogEntry, type SASLOptions } from "kafkajs";
import { ConfigError, type CommonConfig, type Logger } from "@recfleet/runtime";
import { registerCodecs } from "./codecs";
import { fixIdleRequestQueueLoop } from "./request-queue-fix";

/** How a client proves the brokers are ours (TLS) and who it is (SASL). */
export interface KafkaSecurity {
  ssl: boolean;
  /** PEM of the CA that signed the brokers' certificates; absent: the system's CAs. */
  ca?: string;
  sasl?: { mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; username: string; password: string };
}

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  security?: KafkaSecurity;
}

export type KafkaSecurityConfig = Pick<
  CommonConfig,
  "kafkaSsl" | "kafkaCaFile" | "kafkaSaslMechanism" | "kafkaSaslUsername" | "kafkaSaslPassword"
>;

/** Kafka security from the worker's config; errors name the variable to fix (and never show a password). */
export function kafkaSecurity(config: Partial<KafkaSecurityConfig>): KafkaSecurity {
  const security: KafkaSecurity = { ssl: config.kafkaSsl ?? false };
  if (config.kafkaCaFile !== undefined) {
    if (!config.kafkaSsl) throw new ConfigError("KAFKA_SSL", "true when KAFKA_CA_FILE is set", "false");
    try {
      security.ca = readFileSync(config.kafkaCaFile, "utf8");
    } catch (err) {
      throw new ConfigError("KAFKA_CA_FILE", `a readable PEM file (${(err as Error).message})`, config.kafkaCaFile);
    }
  }
  if (config.kafkaSaslMechanism === undefined || config.kafkaSaslMechanism === "none") return security;
  if (!config.kafkaSaslUsername)
    throw new ConfigError(
      "KAFKA_SASL_USERNAME",
      `a principal, since KAFKA_SASL_MECHANISM is ${config.kafkaSaslMechanism}`,
      undefined,
    );
  if (!config.kafkaSaslPassword)
    throw new ConfigError("KAFKA_SASL_PASSWORD", `the password of ${config.kafkaSaslUsername}`, undefined);
  security.sasl = {
    mechanism: config.kafkaSaslMechanism,
    username: config.kafkaSaslUsername,
    password: config.kafkaSaslPassword,
  };
  return security;
}

/**
 * The broker refused who we are or we refused the broker's certificate: no retry can fix that,
 * so it becomes a ConfigError naming the variable (the worker stops at start with that one line).
 * Anything else is returned as it was.
 */
export function explainKafkaAccessError(err: unknown, security: KafkaSecurity | undefined): unknown {
  const name = (err as { name?: string } | undefined)?.name ?? "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "KafkaJSSASLAuthenticationError" || /SASL .*authentication failed/i.test(message))
    return new ConfigError(
      "KAFKA_SASL_PASSWORD",
      `credentials the brokers accept for KAFKA_SASL_USERNAME "${security?.sasl?.username ?? ""}" (${message})`,
      "a password the brokers refused",
      "Set KAFKA_SASL_PASSWORD (and KAFKA_SASL_USERNAME) to the worker's Kafka credentials.",
    );
  if (/self[- ]signed|unable to verify|certificate/i.test(message))
    return new ConfigError(
      "KAFKA_CA_FILE",
      `the CA that signed the brokers' certificates (${message})`,
      security?.ca ? "another CA" : "the system's CAs",
      "Set KAFKA_CA_FILE to the brokers' CA certificate (PEM).",
    );
  return err;
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
  fixIdleRequestQueueLoop();
  const log = options.logger.child({ component: "kafkajs" });
  if (!groupingFixApplied())
    log.warn(
      "kafkajs was loaded before packages/bus/src/grouping-fix.ts: large sends group their messages in quadratic time",
      {
        hint: "import @recfleet/bus before anything that loads kafkajs",
      },
    );
  const { security } = options;
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(security?.ssl ? { ssl: security.ca ? { ca: [security.ca] } : true } : {}),
    ...(security?.sasl ? { sasl: security.sasl as SASLOptions } : {}),
    logLevel: logLevel.WARN,
    retry: RETRY,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // Protocol answers that kafkajs handles itself (coordinator loading after a broker start,
      // a rebalance in progress, metadata not yet propagated) are not errors of ours.
      const level = LEVEL_NAMES[entry.level] ?? "info";
      const handled =
        level === "error" &&
        ((entry.namespace === "Connection" &&
          /coordinator|rebalanc|does not host|leader/i.test(String(fields.error ?? ""))) ||
          // Our own "rejoin" from a batch whose commit lost its coordinator (consumer.ts logs it).
          (fields.error as { name?: unknown } | undefined)?.name === "CoordinatorUnreachableError" ||
          // A refused login: connectFleetKafka turns it into the one line naming the variable.
          /authentication failed|invalid credentials/i.test(`${message} ${String(fields.error ?? "")}`));
      log[handled ? "debug" : level](message, { namespace: entry.namespace, ...fields });
    },
  });
}

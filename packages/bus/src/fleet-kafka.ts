import type { Kafka } from "kafkajs";
import type { CommonConfig, Logger } from "@recfleet/runtime";
import { createKafka, explainKafkaAccessError, kafkaSecurity, type KafkaSecurityConfig } from "./kafka";
import { ensureFleetTopics } from "./topics";

/**
 * A worker's Kafka client: brokers and security from its config, and the namespace's topics
 * ensured. A refused password or an unknown CA stops the worker here with a ConfigError that
 * names the variable, instead of a retry loop that can never succeed.
 */
/** Brokers, namespace and partitions; the security settings default to none (plaintext, no SASL). */
export type FleetKafkaConfig = Pick<CommonConfig, "kafkaBrokers" | "namespace"> &
  Partial<KafkaSecurityConfig> &
  Partial<Pick<CommonConfig, "kafkaCompression">> & { partitions: number };

export async function connectFleetKafka(config: FleetKafkaConfig, clientId: string, logger: Logger): Promise<Kafka> {
  const security = kafkaSecurity(config);
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId, logger, security });
  try {
    await ensureFleetTopics(kafka, config.namespace, { partitions: config.partitions });
  } catch (err) {
    throw explainKafkaAccessError(err, security);
  }
  return kafka;
}

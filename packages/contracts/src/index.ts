export {
  type ReasonCode,
  REASON_CODES,
  ID_PATTERN,
  MAX_ID_LENGTH,
  type FieldSpec,
  type MessageSpec,
  type Limits,
  DEFAULT_LIMITS,
  ISO_TIMESTAMP_PATTERN,
  type Validation,
  validateValue,
  decodeMessage,
  toJsonSchema,
  toOpenApiSchema,
} from "./schema";
export * from "./messages";
export * from "./items";
export {
  TOPIC_CATALOG,
  TOPIC_KEYS,
  DEFAULT_PARTITIONS,
  topicNames,
  topicPartitions,
  consumerGroupId,
  type TopicNames,
  type TopicKey,
  type TopicEntry,
  type TopicConsumer,
  type ConsumerGroup,
  type TopicWriter,
  GROUP_OWNER,
  TOPIC_WRITERS,
  topicGrants,
  fleetAcls,
  type TopicGrants,
  type FleetAcl,
} from "./topics";
export { redactRawUserIds, REDACTED, type DeadLetterView } from "./redact";

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
} from "./schema";
export * from "./messages";
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
} from "./topics";
export { redactRawUserIds, REDACTED, type DeadLetterView } from "./redact";

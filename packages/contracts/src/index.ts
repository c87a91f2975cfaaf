export {
  type ReasonCode,
  REASON_CODES,
  ID_PATTERN,
  MAX_ID_LENGTH,
  type FieldSpec,
  type MessageSpec,
  type Limits,
  DEFAULT_LIMITS,
  type Validation,
  validateValue,
  decodeMessage,
  toJsonSchema,
} from "./schema";
export * from "./messages";
export { topicNames, type TopicNames, type TopicKey, TOPIC_BASE_NAMES } from "./topics";

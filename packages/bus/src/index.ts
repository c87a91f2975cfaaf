// First: kafkajs must load after its grouping fix (grouping-fix.ts).
import "./grouping-fix";
export { connectFleetKafka, type FleetKafkaConfig } from "./fleet-kafka";
export { applyFleetAcls } from "./acls";
export { createKafka, kafkaSecurity, explainKafkaAccessError, type KafkaOptions, type KafkaSecurity } from "./kafka";
export { ensureTopics, groupLag, readTopic, waitForBroker, type TopicSpec, type RawRecord } from "./topics";
export { ensureFleetTopics, fleetTopicSpecs } from "./topics";
export {
  createProducer,
  encodeValue,
  type BusProducer,
  type OutgoingMessage,
  type ProduceCompression,
  type SendOptions,
} from "./producer";
export {
  startConsumerLoop,
  deadLetter,
  writeDeadLetters,
  type DeadLetterTarget,
  type DeadLetterRedaction,
  membershipLost,
  ConsumerCrashedError,
  DLQ_HEADERS,
  DEFAULT_MAX_DEAD_LETTER_VALUE_BYTES,
  type ConsumerLoop,
  type RunningConsumerLoop,
  type ConsumerLoopOptions,
  type ConsumedMessage,
  type BatchHandler,
  type BatchOutcome,
  type BatchContext,
  type Rejection,
  type Decoder,
  type Decoded,
} from "./consumer";
export { consumerMetrics } from "./metrics";
export type { Kafka } from "kafkajs";
export {
  startStreamWorker,
  type StreamWorker,
  type StreamWorkerOptions,
  type StreamWorkerConfig,
} from "./stream-worker";
export { openingHandler, type Opened } from "./opening";
export {
  replayTopic,
  topicOffsetRange,
  readOffsetRange,
  type PartitionRange,
  type RangeReadOptions,
  type ReplayOptions,
  type ReplayResult,
} from "./replay";
export { startPartitionReader, type PartitionReader, type PartitionReaderOptions } from "./partition-reader";
// Measurement-only candidate client (issue 13 item 5, bench/kafka-client.ts); not used by any worker.
export { startCandidateEchoWorker, type CandidateEchoOptions, type CandidateEchoWorker } from "./candidate-client";

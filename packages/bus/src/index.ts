export { createKafka, type KafkaOptions } from "./kafka";
export { ensureTopics, groupLag, readTopic, waitForBroker, type TopicSpec, type RawRecord } from "./topics";
export { ensureFleetTopics, fleetTopicSpecs } from "./topics";
export { createProducer, encodeValue, type BusProducer, type OutgoingMessage } from "./producer";
export {
  startConsumerLoop,
  DLQ_HEADERS,
  type ConsumerLoop,
  type ConsumerLoopOptions,
  type ConsumedMessage,
  type BatchHandler,
  type BatchContext,
  type Rejection,
  type Decoder,
  type Decoded,
} from "./consumer";
export { consumerMetrics } from "./metrics";
export type { Kafka } from "kafkajs";

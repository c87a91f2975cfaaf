/**
 * The skeleton every consume-transform-produce worker shares: a Kafka client named after the
 * service, the namespace's topics, one idempotent producer, and one consumer loop whose topic,
 * consumer group and dead-letter topic come from the topic catalog. The service supplies the
 * decoder and the batch handler (its logic); this file owns the wiring and the stop order.
 */
import type { Registry } from "prom-client";
import type { Logger, Readiness } from "@recfleet/runtime";
import {
  consumerGroupId,
  TOPIC_CATALOG,
  topicNames,
  type ConsumerGroup,
  type TopicKey,
  type TopicNames,
} from "@recfleet/contracts";
import { connectFleetKafka, type FleetKafkaConfig } from "./fleet-kafka";
import { createProducer, type BusProducer } from "./producer";
import {
  startConsumerLoop,
  type BatchHandler,
  type DeadLetterRedaction,
  type Decoder,
  type RunningConsumerLoop,
} from "./consumer";

export interface StreamWorkerConfig extends FleetKafkaConfig {
  /** Overrides the catalog's consumer group name ("" keeps it). */
  groupId?: string;
  maxBytesPerPartition?: number;
  partitionsConsumedConcurrently?: number;
  /** The consumer loop's keepAliveWhileHandlingMs: how long a batch handler keeps the group while it works. */
  maxBatchTimeMs?: number;
}

export interface StreamWorkerOptions<T> {
  /** The service's name: Kafka client id `<namespace>-<service>`, and the words of a fatal error. */
  service: string;
  config: StreamWorkerConfig;
  logger: Logger;
  registry: Registry;
  readiness?: Pick<Readiness, "addReadinessCheck">;
  /** Called when the consumer cannot be restarted (workers pass their context's `fail`). */
  fail?: (reason: string, err?: unknown) => void;
  /** The catalog topic consumed, and the consumer group reading it (its DLQ comes from the catalog). */
  input: TopicKey;
  group: ConsumerGroup;
  decode: Decoder<T>;
  /** What dead letters keep (see DeadLetterRedaction); default: the whole message. */
  redactDeadLetter?: DeadLetterRedaction;
  /** Builds the batch handler once the producer exists. */
  createHandler(io: { producer: BusProducer; topics: TopicNames }): BatchHandler<T>;
  /** Closes what the service opened for the handler (its Redis), after the consumer and producer. */
  closeAfter?: () => Promise<void>;
}

export interface StreamWorker {
  loop: RunningConsumerLoop;
  producer: BusProducer;
  /** Stops the consumer (the in-flight batch finishes and commits), closes the producer, then `closeAfter`. */
  stop(): Promise<void>;
}

export async function startStreamWorker<T>(options: StreamWorkerOptions<T>): Promise<StreamWorker> {
  const { config, logger, service } = options;
  const consumer = TOPIC_CATALOG[options.input].consumers.find((c) => c.group === options.group);
  if (!consumer) throw new TypeError(`the topic catalog has no consumer group "${options.group}" on ${options.input}`);
  const topics = topicNames(config.namespace);
  const kafka = await connectFleetKafka(config, `${config.namespace}-${service}`, logger);
  const producer = await createProducer(kafka, { compression: config.kafkaCompression });
  const fail = options.fail;
  const loop = await startConsumerLoop<T>({
    kafka,
    groupId: config.groupId || consumerGroupId(config.namespace, options.group),
    topics: [topics[options.input]],
    deadLetterTopic: topics[consumer.dlq],
    producer,
    logger,
    registry: options.registry,
    decode: options.decode,
    redactDeadLetter: options.redactDeadLetter,
    handleBatch: options.createHandler({ producer, topics }),
    maxBytesPerPartition: config.maxBytesPerPartition,
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    keepAliveWhileHandlingMs: config.maxBatchTimeMs,
    readiness: options.readiness,
    onFatal: fail && ((err) => fail(`the ${service} consumer cannot recover`, err)),
  });
  let stopped: Promise<void> | undefined;
  return {
    loop,
    producer,
    stop() {
      stopped ??= (async () => {
        await loop.stop();
        await producer.close();
        await options.closeAfter?.();
      })();
      return stopped;
    },
  };
}

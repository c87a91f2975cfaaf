/**
 * Answers on a fleet's recommendations topic, matched to the requests that wait for them by
 * requestId — what every client of the fleet in this package and the demo needs. The consumer
 * joins when this starts, so the first request does not wait for a group join.
 */
import { startConsumerLoop, type BusProducer } from "@recfleet/bus";
import {
  consumerGroupId,
  decodeMessage,
  recommendationSpec,
  topicNames,
  type Recommendation,
} from "@recfleet/contracts";
import { createMetricsRegistry, type Logger } from "@recfleet/runtime";

type Kafka = Parameters<typeof startConsumerLoop>[0]["kafka"];

export interface AnswerListener {
  /** The answer to requestId, or undefined after timeoutMs. Call it before sending the request. */
  answerOf(requestId: string, timeoutMs: number): Promise<Recommendation | undefined>;
  stop(): Promise<void>;
}

export async function listenForAnswers(options: {
  kafka: Kafka;
  namespace: string;
  /** Names this listener's consumer group (`<namespace>.simulator.<run>`) and its metrics registry. */
  run: string;
  /** Where undecodable answers are dead-lettered. */
  producer: BusProducer;
  logger: Logger;
}): Promise<AnswerListener> {
  const topics = topicNames(options.namespace);
  const pending = new Map<string, (rec: Recommendation) => void>();
  const loop = await startConsumerLoop<Recommendation>({
    kafka: options.kafka,
    groupId: consumerGroupId(options.namespace, "simulator", options.run),
    topics: [topics.recommendations],
    deadLetterTopic: topics.recommendationsDlq,
    producer: options.producer,
    logger: options.logger,
    registry: createMetricsRegistry(`answers-${options.run}`),
    fromBeginning: true,
    decode: (v) => decodeMessage<Recommendation>(recommendationSpec, v),
    handleBatch: async (messages) => {
      for (const m of messages) pending.get(m.value.requestId)?.(m.value);
    },
  });
  return {
    answerOf: (requestId, timeoutMs) =>
      new Promise<Recommendation | undefined>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(requestId);
          resolve(undefined);
        }, timeoutMs);
        pending.set(requestId, (rec) => {
          clearTimeout(timer);
          pending.delete(requestId);
          resolve(rec);
        });
      }),
    stop: () => loop.stop(),
  };
}

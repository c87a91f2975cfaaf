/**
 * The Kafka transport of @recfleet/client, for backends that run Kafka: events are validated
 * with contracts (the reason codes the gateway and ingest's dead letters use) and produced to
 * `clickstream`; requests go to `rec.requests` and answers are read from `recommendations` with a
 * consumer group of this client's own (like any app reading the topic), matched by requestId.
 */
import { randomBytes } from "node:crypto";
import { createLogger, createMetricsRegistry, type Logger } from "@recfleet/runtime";
import {
  createKafka,
  createProducer,
  startConsumerLoop,
  type KafkaSecurity,
  type RunningConsumerLoop,
} from "@recfleet/bus";
import {
  clickstreamEventSpec,
  consumerGroupId,
  decodeMessage,
  recommendationSpec,
  recRequestSpec,
  topicNames,
  validateValue,
  type ClickstreamEvent,
  type ReasonCode,
  type Recommendation,
  type RecRequest,
} from "@recfleet/contracts";
import { RecfleetClientError, type EventResult, type RecfleetClient } from "./client";

export interface KafkaClientOptions {
  brokers: string[];
  namespace?: string;
  /** How long `recommend` waits for the answer (default 2 s, like the gateway's deadline). */
  deadlineMs?: number;
  logger?: Logger;
  /** TLS and SASL for a secured cluster (the app's principal: the "app" role of the topic catalog's ACLs). */
  security?: KafkaSecurity;
}

export async function createKafkaClient(options: KafkaClientOptions): Promise<RecfleetClient> {
  const namespace = options.namespace ?? "recfleet";
  const deadlineMs = options.deadlineMs ?? 2000;
  const logger = options.logger ?? createLogger("recfleet-client", { level: "warn" });
  const topics = topicNames(namespace);
  const instance = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const kafka = createKafka({
    brokers: options.brokers,
    clientId: `${namespace}-client`,
    logger,
    ...(options.security ? { security: options.security } : {}),
  });
  const producer = await createProducer(kafka);
  const waiting = new Map<string, (rec: Recommendation) => void>();
  const answers: RunningConsumerLoop = await startConsumerLoop<Recommendation>({
    kafka,
    groupId: consumerGroupId(namespace, "client", instance),
    topics: [topics.recommendations],
    deadLetterTopic: topics.recommendationsDlq,
    producer,
    logger,
    registry: createMetricsRegistry("client"),
    fromBeginning: false,
    maxWaitTimeMs: 50,
    decode: (v) => decodeMessage<Recommendation>(recommendationSpec, v),
    handleBatch: async (messages) => {
      for (const m of messages) waiting.get(m.value.requestId)?.(m.value);
      return Promise.resolve();
    },
  });
  // Requests sent before the consumer has a position could have answers it starts after.
  const ready = (async () => {
    const until = Date.now() + 30_000;
    while (!answers.isReady() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  })();
  let sequence = 0;
  return {
    async sendEvents(events) {
      const valid: ClickstreamEvent[] = [];
      const results: EventResult[] = events.map((event, index) => {
        const decoded = decodeMessage<ClickstreamEvent>(clickstreamEventSpec, JSON.stringify(event));
        if (!decoded.ok)
          return {
            index,
            eventId: String(event.eventId).slice(0, 128),
            status: "rejected",
            reason: decoded.reason as ReasonCode,
            detail: decoded.detail,
          };
        valid.push(decoded.value);
        return { index, eventId: decoded.value.eventId, status: "accepted" };
      });
      if (valid.length > 0)
        await producer.send(
          topics.clickstream,
          valid.map((e) => ({ key: e.userId, value: e })),
        );
      return { accepted: valid.length, rejected: events.length - valid.length, results };
    },
    async recommend(params) {
      const request: RecRequest = {
        requestId: `cl-${instance}-${++sequence}`,
        userId: params.user,
        ts: Date.now(),
        ...(params.k !== undefined ? { k: params.k } : {}),
        ...(params.policy !== undefined ? { policy: params.policy } : {}),
        ...(params.exclude?.length ? { exclude: params.exclude } : {}),
      };
      const checked = validateValue<RecRequest>(recRequestSpec, request);
      if (!checked.ok) throw new RecfleetClientError(checked.reason, checked.detail, 400);
      await ready;
      // Past the time this client stops waiting, the scorer sends no answer.
      request.deadline = Date.now() + deadlineMs;
      const answer = new Promise<Recommendation | undefined>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(request.requestId);
          resolve(undefined);
        }, deadlineMs);
        waiting.set(request.requestId, (rec) => {
          clearTimeout(timer);
          waiting.delete(request.requestId);
          resolve(rec);
        });
      });
      await producer.send(topics.recRequests, [{ key: params.user, value: request }]);
      const rec = await answer;
      if (!rec) throw new RecfleetClientError("deadline_exceeded", `no answer within ${deadlineMs} ms`, 504);
      return rec;
    },
    async close() {
      await answers.stop();
      await producer.close();
    },
  };
}

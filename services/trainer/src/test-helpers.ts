/** Shared by the trainer's integration tests: a config for a test namespace, synthetic events, a run leader. */
import { FlowProducer, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { commonConfigSchema, createMetricsRegistry, loadConfig, type Logger } from "@recfleet/runtime";
import { topicNames, type CanonicalEvent } from "@recfleet/contracts";
import { connectFleetKafka, createProducer } from "@recfleet/bus";
import { createModelRegistry, connectRedis, createTrainerState } from "@recfleet/store";
import { createBullConnection } from "./bull";
import { trainerConfigSchema, type TrainerConfig } from "./config";
import { evaluateModel } from "./evaluate-candidate";
import { createEmbedFanOut } from "./fan-out";
import type { PromoteJobData } from "./jobs";
import { queueNames } from "./keys";
import { trainerMetrics } from "./metrics";
import type { TrainRunDeps } from "./train-run";
import { createKafkaTrainingWindow } from "./window";

export function testEnv(
  namespace: string,
  infra: { brokers: string[]; redisUrl: string },
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: namespace,
    RECFLEET_TOPIC_PARTITIONS: "2",
    TRAIN_INTERVAL: "0",
    TRAIN_MIN_EVENTS: "50",
    TRAIN_EPOCHS: "2",
    TRAIN_DIM: "16",
    TRAIN_HIDDEN: "32",
    TRAIN_BATCH_SIZE: "64",
    EXECUTION_PROVIDERS: "cpu",
    EMBED_BACKOFF: "200ms",
    EMBED_TIMEOUT: "60s",
    ...extra,
  };
}

export function testConfig(env: NodeJS.ProcessEnv): TrainerConfig {
  return { ...loadConfig(commonConfigSchema, env), ...loadConfig(trainerConfigSchema, env) };
}

/**
 * Users in `groups` taste groups walk through their group's items in order, so the next item is
 * predictable from the history: a model that learns anything beats chance on the held-out slice.
 */
export function syntheticEvents(options: {
  users: number;
  eventsPerUser: number;
  items: number;
  groups: number;
  itemOffset?: number;
  startTs: number;
  tag: string;
}): CanonicalEvent[] {
  const out: CanonicalEvent[] = [];
  const perGroup = Math.floor(options.items / options.groups);
  for (let u = 0; u < options.users; u++) {
    const g = u % options.groups;
    for (let j = 0; j < options.eventsPerUser; j++) {
      const item = (options.itemOffset ?? 0) + g * perGroup + ((u + j) % perGroup);
      const ts = options.startTs + u * 10 + j * 1000;
      out.push({
        eventId: `${options.tag}-${u}-${j}`,
        user: `u${u}`,
        itemId: `i${item}`,
        type: "click",
        ts,
        ingestedAt: ts,
        late: false,
      });
    }
  }
  return out;
}

/** Produces events to the namespace's `events` topic as ingest would (keyed by user); resolves once acknowledged. */
export async function produceEvents(config: TrainerConfig, events: readonly CanonicalEvent[], logger: Logger) {
  const kafka = await connectFleetKafka(config, "trainer-test-events", logger);
  const producer = await createProducer(kafka);
  try {
    await producer.send(
      topicNames(config.namespace).events,
      events.map((e) => ({ key: e.user, value: e })),
    );
  } finally {
    await producer.close();
  }
}

export interface RunLeader {
  deps: TrainRunDeps;
  redis: Redis;
  close(): Promise<void>;
}

/**
 * What a process needs to lead training runs (events' offset range → train → register → fan-out) without
 * taking any BullMQ jobs itself: the scaling test leaves the embedding to child processes.
 */
export async function openRunLeader(config: TrainerConfig, logger: Logger): Promise<RunLeader> {
  const redis = await connectRedis(config, logger);
  const kafka = await connectFleetKafka(config, "run-leader", logger);
  const bull = createBullConnection(config, logger);
  const queues = queueNames(config.namespace);
  const promoteQueue = new Queue<PromoteJobData>(queues.promote, bull);
  const flow = new FlowProducer(bull);
  const models = createModelRegistry(redis, config.namespace);
  const deps: TrainRunDeps = {
    config,
    logger,
    models,
    window: createKafkaTrainingWindow({
      kafka,
      namespace: config.namespace,
      topic: topicNames(config.namespace).events,
      maxEvents: config.windowMaxEvents,
      maxAgeMs: config.windowMaxAgeMs,
    }),
    state: createTrainerState(redis, config.namespace),
    metrics: trainerMetrics(createMetricsRegistry("run-leader"), async () => undefined),
    evaluate: (model, cases, k) => evaluateModel(model, cases, k),
    embedding: createEmbedFanOut({
      flow,
      promoteQueue,
      queues,
      attempts: config.embedAttempts,
      backoffMs: config.embedBackoffMs,
    }),
  };
  return {
    deps,
    redis,
    async close() {
      await Promise.all([promoteQueue.close(), flow.close()]);
      await bull.connection.quit();
      await redis.quit();
    },
  };
}

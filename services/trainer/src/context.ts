import { hostname } from "node:os";
import { Redis } from "ioredis";
import { FlowProducer, Queue } from "bullmq";
import type { Logger, Registry } from "@recfleet/runtime";
import type { ModelVersionAnnouncement } from "@recfleet/contracts";
import { createModelRegistry, createRedis, createTrainingWindow, type ModelRegistry, type TrainingWindow } from "@recfleet/store";
import type { TrainerConfig } from "./config";
import { evaluateModel, type EvaluateFn } from "./evaluate-candidate";
import { trainerKeys, type TrainerKeys } from "@recfleet/store";
import { queueNames, type QueueNames } from "./keys";
import { trainerMetrics, type TrainerMetrics } from "./metrics";
import type { EmbedJobData, PromoteJobData, TrainJobData } from "./jobs";

export interface TrainerContextDeps {
  logger: Logger;
  registry: Registry;
  /** Held-out evaluation; default evaluateModel. Tests pass their own to force a rejection. */
  evaluate?: EvaluateFn;
  /** Publishes on model.versions; absent in processes without Kafka (then nothing is announced). */
  announce?: (announcement: ModelVersionAnnouncement) => Promise<void>;
}

/** Everything the trainer's jobs share: Redis, the registry, the window, BullMQ queues, metrics. */
export interface TrainerContext {
  config: TrainerConfig;
  logger: Logger;
  workerId: string;
  redis: Redis;
  /** BullMQ's own connection (it needs maxRetriesPerRequest: null and blocking commands). */
  bullConnection: Redis;
  models: ModelRegistry;
  window: TrainingWindow;
  keys: TrainerKeys;
  queues: QueueNames;
  trainQueue: Queue<TrainJobData>;
  embedQueue: Queue<EmbedJobData>;
  promoteQueue: Queue<PromoteJobData>;
  flow: FlowProducer;
  metrics: TrainerMetrics;
  evaluate: EvaluateFn;
  announce?: (announcement: ModelVersionAnnouncement) => Promise<void>;
  close(): Promise<void>;
}

export function createTrainerContext(config: TrainerConfig, deps: TrainerContextDeps): TrainerContext {
  const redis = createRedis(config.redisUrl, deps.logger);
  const bullConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  bullConnection.on("error", (err: Error) => deps.logger.warn("bullmq redis connection error; ioredis reconnects", { error: err.message }));
  const models = createModelRegistry(redis, config.namespace);
  const window = createTrainingWindow(redis, config.namespace, { maxEvents: config.windowMaxEvents, markerTtlMs: config.windowDedupeMs });
  const queues = queueNames(config.namespace);
  const trainQueue = new Queue<TrainJobData>(queues.train, { connection: bullConnection });
  const embedQueue = new Queue<EmbedJobData>(queues.embedItems, { connection: bullConnection });
  const promoteQueue = new Queue<PromoteJobData>(queues.promote, { connection: bullConnection });
  const flow = new FlowProducer({ connection: bullConnection });
  const onError = (err: Error) => deps.logger.warn("bullmq error", { error: err.message });
  trainQueue.on("error", onError);
  embedQueue.on("error", onError);
  promoteQueue.on("error", onError);
  flow.on("error", onError);
  const metrics = trainerMetrics(deps.registry, async () => {
    const current = await models.currentVersion();
    return current === undefined ? undefined : (await models.getMeta(current))?.createdAt;
  });
  let closed: Promise<void> | undefined;
  return {
    config,
    logger: deps.logger,
    workerId: config.workerId ?? `${hostname()}-${process.pid}`,
    redis,
    bullConnection,
    models,
    window,
    keys: trainerKeys(config.namespace),
    queues,
    trainQueue,
    embedQueue,
    promoteQueue,
    flow,
    metrics,
    evaluate: deps.evaluate ?? ((model, cases, k) => evaluateModel(model, cases, k)),
    ...(deps.announce ? { announce: deps.announce } : {}),
    close() {
      closed ??= (async () => {
        await Promise.all([trainQueue.close(), embedQueue.close(), promoteQueue.close(), flow.close()]);
        await bullConnection.quit();
        await redis.quit();
      })();
      return closed;
    },
  };
}

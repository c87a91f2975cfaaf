import { hostname } from "node:os";
import { FlowProducer, Queue, Worker, type Job } from "bullmq";
import { errorMessage, type Logger, type Registry, type WorkerContext } from "@recfleet/runtime";
import { topicNames, type ModelVersionAnnouncement } from "@recfleet/contracts";
import { connectFleetKafka, createProducer, type BusProducer } from "@recfleet/bus";
import {
  createKeyringFromConfig,
  createModelRegistry,
  connectRedis,
  createCatalogStore,
  type StoredCatalogItem,
  createTrainerState,
  type ModelRegistry,
  type TrainerState,
} from "@recfleet/store";
import { createBullConnection, failFastUnlessRetriable } from "./bull";
import type { TrainerConfig } from "./config";
import { createItemTowerSessions, processEmbedJob, processPromoteJob } from "./embed";
import { evaluateModel, type EvaluateFn } from "./evaluate-candidate";
import { createEmbedFanOut } from "./fan-out";
import {
  JOB_NAMES,
  type EmbedJobData,
  type EmbedJobResult,
  type PromoteJobData,
  type PromoteJobResult,
  type TrainJobData,
} from "./jobs";
import { queueNames } from "./keys";
import { trainerMetrics } from "./metrics";
import { trainOnce, type TrainOutcome, type TrainRunDeps } from "./train-run";
import { createKafkaTrainingWindow, type TrainingWindowSource } from "./window";

export interface TrainerDeps extends Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">> {
  logger: Logger;
  registry: Registry;
  /** Test-only evaluation hook (default: evaluateModel on the held-out slice). */
  evaluate?: EvaluateFn;
}

export interface Trainer {
  models: ModelRegistry;
  /** The offset ranges of `events` runs read (window.ts). */
  window: TrainingWindowSource;
  state: TrainerState;
  /** Runs one training in this process (outside BullMQ), under the same fleet-wide lock. */
  trainOnce(reason?: string): Promise<TrainOutcome>;
  /**
   * Aborts a training run in progress (it ends as "aborted" within a training step), stops the
   * workers, then closes Kafka and Redis. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Starts a trainer in this process. role "all": the train worker (BullMQ global concurrency 1,
 * each run reading an offset range of `events`) and its schedule, plus the embed-items and promote workers.
 * role "embed-only": only the embed-items and promote workers (to scale embedding out).
 */
export async function startTrainer(config: TrainerConfig, deps: TrainerDeps): Promise<Trainer> {
  const { logger } = deps;
  const topics = topicNames(config.namespace);
  const kafka = await connectFleetKafka(config, `${config.namespace}-trainer`, logger);
  const producer: BusProducer = await createProducer(kafka, { compression: config.kafkaCompression });
  const redis = await connectRedis(config, logger, deps.readiness);
  const bull = createBullConnection(config, logger);
  const models = createModelRegistry(redis, config.namespace);
  const keyring = createKeyringFromConfig(redis, config.namespace, config);
  const window = createKafkaTrainingWindow({
    kafka,
    namespace: config.namespace,
    topic: topics.events,
    maxEvents: config.windowMaxEvents,
    maxAgeMs: config.windowMaxAgeMs,
    ...(keyring ? { keyring } : {}),
  });
  const state = createTrainerState(redis, config.namespace);
  const catalog = createCatalogStore(redis, config.namespace);
  const metrics = trainerMetrics(deps.registry, async () => {
    const current = await models.currentVersion();
    return current === undefined ? undefined : (await models.getMeta(current))?.createdAt;
  });
  const workerId = config.workerId ?? `${hostname()}-${process.pid}`;
  const queues = queueNames(config.namespace);
  const trainQueue = new Queue<TrainJobData>(queues.train, bull);
  const promoteQueue = new Queue<PromoteJobData>(queues.promote, bull);
  const flow = new FlowProducer(bull);
  const onError = (err: Error) => logger.warn("bullmq error", { error: err.message });
  trainQueue.on("error", onError);
  promoteQueue.on("error", onError);
  flow.on("error", onError);
  const runDeps: TrainRunDeps = {
    config,
    logger,
    models,
    window,
    state,
    metrics,
    evaluate: deps.evaluate ?? ((model, cases, k) => evaluateModel(model, cases, k)),
    contentOf: async (itemIds) => {
      const items: (StoredCatalogItem | undefined)[] = [];
      for (let i = 0; i < itemIds.length; i += 5000) items.push(...(await catalog.read(itemIds.slice(i, i + 5000))));
      return items.map((item) => (item && !item.deleted ? item : undefined));
    },
    embedding: createEmbedFanOut({
      flow,
      promoteQueue,
      queues,
      attempts: config.embedAttempts,
      backoffMs: config.embedBackoffMs,
    }),
  };
  // Fired first by stop(): a training run must not hold shutdown past its deadline.
  const stopping = new AbortController();

  const sessions = createItemTowerSessions({ models, executionProviders: config.executionProviders, logger });
  const embedDeps = { models, state, sessions, workerId, throttleMs: config.embedThrottleMs, logger, metrics };
  const announce = (a: ModelVersionAnnouncement) => producer.send(topics.modelVersions, [{ key: "model", value: a }]);
  const promoteDeps = { models, state, gcGraceMs: config.gcGraceMs, logger, metrics, announce };
  const workerOpts = {
    ...bull,
    lockDuration: config.jobLockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: 2,
  };
  const workers: Worker[] = [
    new Worker<EmbedJobData, EmbedJobResult>(queues.embedItems, (job) => processEmbedJob(embedDeps, job), {
      ...workerOpts,
      concurrency: config.embedConcurrency,
    }),
    new Worker<PromoteJobData, PromoteJobResult>(queues.promote, (job) => processPromoteJob(promoteDeps, job), {
      ...workerOpts,
      concurrency: 1,
    }),
  ];

  let scheduleRefresh: NodeJS.Timeout | undefined;
  const reassertSchedule = () =>
    void assertSchedule(trainQueue, config.trainIntervalMs).catch((err: unknown) =>
      logger.warn("could not write the training schedule; trying again later", { error: errorMessage(err) }),
    );
  if (config.role === "all") {
    // Before the train worker exists, so it never runs without the fleet-wide limit of one.
    await assertSchedule(trainQueue, config.trainIntervalMs);
    // The first attempt keeps its offset range in the job's data; a retried or stalled-and-rerun
    // job reads that same range again instead of a newer one.
    const train = (job: Job<TrainJobData>) =>
      failFastUnlessRetriable(() =>
        trainOnce(runDeps, {
          reason: job.data.reason,
          signal: stopping.signal,
          ...(job.data.window ? { range: job.data.window } : {}),
          // A job whose keys are gone (Redis lost them) cannot be retried anyway: the run goes on.
          onRange: (window) =>
            job.updateData({ ...job.data, window }).catch((err: unknown) =>
              logger.warn("could not keep the run's offset range with its job; a retry would take a new range", {
                job: job.id,
                error: errorMessage(err),
              }),
            ),
        }),
      );
    workers.push(
      new Worker<TrainJobData, TrainOutcome>(queues.train, train, {
        ...workerOpts,
        concurrency: 1,
      }),
    );
    // Both live only in Redis: a Redis that restarts empty would never train again. ioredis
    // emits 'ready' on every reconnect; the timer covers a restart between two reconnects' checks.
    scheduleRefresh = setInterval(reassertSchedule, config.scheduleRefreshMs);
    scheduleRefresh.unref();
    bull.connection.on("ready", reassertSchedule);
  }
  for (const w of workers)
    w.on("error", (err) => logger.warn("bullmq worker error", { queue: w.name, error: errorMessage(err) }));
  logger.info("trainer started", {
    role: config.role,
    workerId,
    queues,
    bullPrefix: bull.prefix,
    trainIntervalMs: config.trainIntervalMs,
  });

  let stopped: Promise<void> | undefined;
  return {
    models,
    window,
    state,
    trainOnce: (reason) => trainOnce(runDeps, { reason: reason ?? "direct", signal: stopping.signal }),
    stop() {
      stopped ??= (async () => {
        stopping.abort(new Error("trainer stopping"));
        clearInterval(scheduleRefresh);
        bull.connection.off("ready", reassertSchedule);
        // Workers finish their active jobs; an aborted train job completes with outcome "aborted".
        await Promise.all(workers.map((w) => w.close()));
        await sessions.close();
        await producer.close();
        await Promise.all([trainQueue.close(), promoteQueue.close(), flow.close()]);
        await bull.connection.quit();
        await redis.quit();
      })();
      return stopped;
    },
  };
}

const SCHEDULE_ID = "train-schedule";

/**
 * Writes the queue's global concurrency of 1 (one train job at a time across the fleet) and the
 * TRAIN_INTERVAL schedule. Idempotent, so it runs at start and again periodically. A schedule
 * already there with the same interval is left alone: upserting it again could move its next run.
 */
async function assertSchedule(trainQueue: Queue<TrainJobData>, intervalMs: number): Promise<void> {
  await trainQueue.setGlobalConcurrency(1);
  if (intervalMs <= 0) {
    await trainQueue.removeJobScheduler(SCHEDULE_ID);
    return;
  }
  const existing = await trainQueue.getJobScheduler(SCHEDULE_ID);
  if (existing?.every === intervalMs) return;
  await trainQueue.upsertJobScheduler(
    SCHEDULE_ID,
    { every: intervalMs },
    {
      name: JOB_NAMES.train,
      data: { reason: "schedule", requestedAt: 0 },
      opts: { removeOnComplete: 100, removeOnFail: 100 },
    },
  );
}

import { Worker } from "bullmq";
import { errorMessage, type Logger, type Registry } from "@recfleet/runtime";
import { canonicalEventSpec, consumerGroupId, decodeMessage, topicNames, type CanonicalEvent } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, startConsumerLoop, type BusProducer, type ConsumerLoop } from "@recfleet/bus";
import type { TrainerConfig } from "./config";
import { createTrainerContext, type TrainerContext } from "./context";
import { createItemTowerSessions, processEmbedJob, processPromoteJob } from "./embed";
import type { EvaluateFn } from "./evaluate-candidate";
import { JOB_NAMES, type EmbedJobData, type EmbedJobResult, type PromoteJobData, type PromoteJobResult, type TrainJobData } from "./jobs";
import { trainOnce, type TrainOutcome } from "./train-run";

export interface TrainerDeps {
  logger: Logger;
  registry: Registry;
  /** Test-only evaluation hook (default: evaluateModel on the held-out slice). */
  evaluate?: EvaluateFn;
}

export interface Trainer {
  ctx: TrainerContext;
  /** Runs one training in this process (outside BullMQ), under the same fleet-wide lock. */
  trainOnce(reason?: string): Promise<TrainOutcome>;
  /** Stops the consumer, the workers, then closes Kafka and Redis. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a trainer in this process. role "all": events → training window, the train worker
 * (BullMQ global concurrency 1) and its schedule, plus the embed-items and promote workers.
 * role "embed-only": only the embed-items and promote workers (to scale embedding out).
 */
export async function startTrainer(config: TrainerConfig, deps: TrainerDeps): Promise<Trainer> {
  const { logger } = deps;
  const topics = topicNames(config.namespace);
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.namespace}-trainer`, logger });
  await ensureFleetTopics(kafka, config.namespace, { partitions: config.partitions });
  const producer: BusProducer = await createProducer(kafka);
  const ctx = createTrainerContext(config, {
    ...deps,
    announce: (a) => producer.send(topics.modelVersions, [{ key: "model", value: a }]),
  });
  const sessions = createItemTowerSessions(ctx);
  const workerOpts = { connection: ctx.bullConnection, lockDuration: config.jobLockDurationMs, stalledInterval: config.stalledIntervalMs, maxStalledCount: 2 };
  const workers: Worker[] = [];
  workers.push(new Worker<EmbedJobData, EmbedJobResult>(ctx.queues.embedItems, (job) => processEmbedJob(ctx, sessions, job), { ...workerOpts, concurrency: config.embedConcurrency }));
  workers.push(new Worker<PromoteJobData, PromoteJobResult>(ctx.queues.promote, (job) => processPromoteJob(ctx, job), { ...workerOpts, concurrency: 1 }));

  let loop: ConsumerLoop | undefined;
  if (config.role === "all") {
    // One train job at a time across the fleet, whichever process takes it.
    await ctx.trainQueue.setGlobalConcurrency(1);
    workers.push(
      new Worker<TrainJobData, TrainOutcome>(ctx.queues.train, (job) => trainOnce(ctx, { reason: job.data.reason }), { ...workerOpts, concurrency: 1 }),
    );
    if (config.trainIntervalMs > 0) {
      await ctx.trainQueue.upsertJobScheduler("train-schedule", { every: config.trainIntervalMs }, { name: JOB_NAMES.train, data: { reason: "schedule", requestedAt: 0 }, opts: { removeOnComplete: 100, removeOnFail: 100 } });
    } else {
      await ctx.trainQueue.removeJobScheduler("train-schedule");
    }
    loop = await startConsumerLoop<CanonicalEvent>({
      kafka,
      groupId: config.groupId || consumerGroupId(config.namespace, "trainer"),
      topics: [topics.events],
      deadLetterTopic: topics.eventsTrainerDlq,
      producer,
      logger,
      registry: deps.registry,
      decode: (value) => decodeMessage<CanonicalEvent>(canonicalEventSpec, value),
      handleBatch: async (messages) => {
        const minTs = Date.now() - config.windowMaxAgeMs;
        const appended = await ctx.window.append(messages.map((m) => ({ user: m.value.user, itemId: m.value.itemId, type: m.value.type, ts: m.value.ts, eventId: m.value.eventId })), minTs);
        ctx.metrics.windowEvents.inc({ outcome: "appended" }, appended);
        if (messages.length > appended) ctx.metrics.windowEvents.inc({ outcome: "skipped" }, messages.length - appended);
      },
    });
  }
  for (const w of workers) w.on("error", (err) => logger.warn("bullmq worker error", { queue: w.name, error: errorMessage(err) }));
  logger.info("trainer started", { role: config.role, workerId: ctx.workerId, queues: ctx.queues, trainIntervalMs: config.trainIntervalMs });

  let stopped: Promise<void> | undefined;
  return {
    ctx,
    trainOnce: (reason) => trainOnce(ctx, { reason: reason ?? "direct" }),
    stop() {
      stopped ??= (async () => {
        await loop?.stop();
        await Promise.all(workers.map((w) => w.close()));
        await sessions.close();
        await producer.close();
        await ctx.close();
      })();
      return stopped;
    },
  };
}

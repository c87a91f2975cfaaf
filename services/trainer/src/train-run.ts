/**
 * One training run: window → examples → warm-started training → evaluation of candidate and
 * current on the same held-out slice → promotion gate → (on acceptance) artefacts in the
 * registry and an embed-items fan-out whose parent job flips the version and announces it.
 */
import { randomBytes } from "node:crypto";
import { errorMessage, shouldRetry } from "@recfleet/runtime";
import { CorruptArtefactError } from "@recfleet/store";
import {
  deserializeModel,
  exportModelArtefacts,
  ModelFormatError,
  trainTwoTower,
  type TwoTowerConfig,
  type TwoTowerModel,
} from "@recfleet/towers";
import type { TrainerContext } from "./context";
import { buildDataset } from "./examples";
import { decidePromotion, type EvalMetrics, type PromotionCode } from "./evaluate-candidate";
import { embedJobId, JOB_NAMES, promoteJobId, type PromoteJobResult } from "./jobs";
import { tryAcquireLock } from "@recfleet/store";

const HISTORY_LENGTH = 50;

export interface WarmStart {
  /** The version warm-started from, when one was used. */
  from?: string;
  used: boolean;
  /** Why no warm start was used although a current version exists. */
  reason?: string;
}

interface RunStats {
  durationSeconds: number;
  events: number;
  examples: number;
  itemCount: number;
  newItems: number;
  warmStart: WarmStart;
}

export type TrainOutcome =
  | { status: "skipped"; reason: "another_run_in_progress" | "not_enough_events" | "no_examples"; detail: string; events: number }
  | ({ status: "rejected"; reason: PromotionCode; detail: string; candidate: EvalMetrics; current?: EvalMetrics; currentVersion?: string } & RunStats)
  | ({ status: "promoted"; reason: PromotionCode; detail: string; version: string; dim: number; candidate: EvalMetrics; current?: EvalMetrics; previous?: string; embeddedBy: Record<string, number> } & RunStats)
  | ({ status: "failed"; reason: string; detail: string; version?: string } & Partial<RunStats>);

/** Sortable, unique, ≤ 64 chars, no ":" (BullMQ job ids embed it). */
export function newVersionId(now: number): string {
  return `${new Date(now).toISOString().replace(/[-:.]/g, "").replace("T", "-")}-${randomBytes(3).toString("hex")}`;
}

export function towerConfig(ctx: TrainerContext): Partial<TwoTowerConfig> {
  const c = ctx.config;
  return { dim: c.dim, hidden: c.hidden, historyLength: HISTORY_LENGTH, batchSize: c.batchSize, learningRate: c.learningRate, epochs: c.epochs, seed: c.seed, threads: 1 };
}

/** The current version's model, or why it cannot be used (corrupt, unreadable). */
async function loadCurrent(ctx: TrainerContext): Promise<{ version?: string; model?: TwoTowerModel; unusable?: string }> {
  const version = await ctx.models.currentVersion();
  if (version === undefined) return {};
  try {
    return { version, model: deserializeModel(await ctx.models.loadArtefact(version, "model.bin")) };
  } catch (err) {
    if (err instanceof CorruptArtefactError || err instanceof ModelFormatError) return { version, unusable: errorMessage(err) };
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the version's promote job (the fan-out's parent) to complete or fail. */
async function awaitPromotion(ctx: TrainerContext, version: string): Promise<{ ok: true; result: PromoteJobResult } | { ok: false; detail: string }> {
  const deadline = Date.now() + ctx.config.embedTimeoutMs;
  const jobId = promoteJobId(version);
  for (;;) {
    const job = await ctx.promoteQueue.getJob(jobId);
    const state = job ? await job.getState() : "unknown";
    if (job && state === "completed") return { ok: true, result: job.returnvalue as unknown as PromoteJobResult };
    if (job && state === "failed") return { ok: false, detail: `promote job failed: ${job.failedReason}` };
    if (Date.now() > deadline) return { ok: false, detail: `version ${version} not promoted within EMBED_TIMEOUT=${ctx.config.embedTimeoutMs}ms (promote job state ${state}); are any trainer processes taking embed-items jobs?` };
    await sleep(200);
  }
}

/**
 * One training run under the fleet-wide lock. Returns what happened; records it in Redis
 * (`model list` shows it), in metrics and in the log.
 */
export async function trainOnce(ctx: TrainerContext, options: { reason?: string; now?: number } = {}): Promise<TrainOutcome> {
  const { config, logger, metrics } = ctx;
  const lock = await tryAcquireLock(ctx.redis, ctx.keys.lock, config.trainLockTtlMs, logger);
  if (!lock) {
    const outcome: TrainOutcome = { status: "skipped", reason: "another_run_in_progress", detail: "another trainer holds the training lock", events: 0 };
    metrics.runs.inc({ outcome: "skipped" });
    logger.info("training skipped", outcome);
    return outcome;
  }
  metrics.inProgress.set(1);
  const started = performance.now();
  let outcome: TrainOutcome;
  try {
    outcome = await run(ctx, options.now ?? Date.now(), started);
  } catch (err) {
    outcome = { status: "failed", reason: shouldRetry(err) ? "error" : "non_retriable_error", detail: errorMessage(err) };
  } finally {
    metrics.inProgress.set(0);
    await lock.release().catch(() => undefined);
  }
  metrics.runs.inc({ outcome: outcome.status });
  const log = outcome.status === "failed" ? logger.error : outcome.status === "rejected" ? logger.warn : logger.info;
  log(`training ${outcome.status}`, { trigger: options.reason ?? "direct", ...outcome });
  await ctx.redis.set(ctx.keys.lastOutcome, JSON.stringify({ at: Date.now(), ...outcome })).catch(() => undefined);
  return outcome;
}

async function run(ctx: TrainerContext, now: number, started: number): Promise<TrainOutcome> {
  const { config, logger, metrics } = ctx;
  const events = await ctx.window.read(now - config.windowMaxAgeMs);
  if (events.length < config.minEvents) {
    return { status: "skipped", reason: "not_enough_events", detail: `${events.length} events in the window, TRAIN_MIN_EVENTS=${config.minEvents}`, events: events.length };
  }
  const current = await loadCurrent(ctx);
  const warmStart: WarmStart = { used: false };
  let warm: TwoTowerModel | undefined;
  if (current.model) {
    const mismatch = (["dim", "hidden"] as const).find((key) => current.model!.config[key] !== config[key]);
    if (mismatch) warmStart.reason = `current model has ${mismatch}=${current.model.config[mismatch]}, config says ${config[mismatch]}: training from scratch`;
    else {
      warm = current.model;
      warmStart.used = true;
      warmStart.from = current.version!;
    }
  } else if (current.unusable) {
    // Documented choice: a corrupt current model is not fatal; train from scratch and say why.
    warmStart.reason = `warm start refused, training from scratch: ${current.unusable}`;
    logger.warn("warm start refused; training from scratch", { version: current.version, reason: current.unusable });
  }

  const dataset = buildDataset(events, {
    holdoutPerUser: config.holdoutPerUser,
    historyLength: HISTORY_LENGTH,
    maxExamples: config.maxExamples,
    maxEvalUsers: config.evalMaxUsers,
    ...(warm ? { previousItemIds: warm.itemIds } : {}),
  });
  if (dataset.data.examples.length === 0) {
    return { status: "skipped", reason: "no_examples", detail: `${dataset.events} events from ${dataset.users} users give no (history, target) pair`, events: dataset.events };
  }
  logger.info("training started", { events: dataset.events, users: dataset.users, examples: dataset.data.examples.length, items: dataset.data.itemIds.length, newItems: dataset.newItems, evalUsers: dataset.evalCases.length, warmStart });
  const candidate = await trainTwoTower(dataset.data, towerConfig(ctx), {
    ...(warm ? { warmStart: warm } : {}),
    progressIntervalMs: 2000,
    onProgress: (p) => logger.info("training progress", { epoch: p.epoch, epochs: p.epochs, step: p.step, stepsPerEpoch: p.stepsPerEpoch, loss: Number(p.loss.toFixed(4)), examplesPerSecond: Math.round(p.examplesPerSecond), etaSeconds: Number(p.etaSeconds.toFixed(1)) }),
  });

  const k = config.evalK;
  const candidateMetrics = await ctx.evaluate(candidate, dataset.evalCases, k, "candidate");
  const currentMetrics = current.model ? await ctx.evaluate(current.model, dataset.evalCases, k, "current") : undefined;
  for (const m of ["recall", "ndcg"] as const) {
    metrics.candidateMetric.set({ metric: `${m}@${k}` }, candidateMetrics[m]);
    if (currentMetrics) metrics.currentMetric.set({ metric: `${m}@${k}` }, currentMetrics[m]);
  }
  const decision = decidePromotion(candidateMetrics, current.unusable ? { unusable: current.unusable } : currentMetrics, { metric: config.promoteMetric, margin: config.promoteMargin });
  const stats: RunStats = { durationSeconds: 0, events: dataset.events, examples: dataset.data.examples.length, itemCount: candidate.itemIds.length, newItems: dataset.newItems, warmStart };
  const finish = () => {
    stats.durationSeconds = (performance.now() - started) / 1000;
    metrics.lastTrainingSeconds.set(stats.durationSeconds);
  };
  if (!decision.promote) {
    metrics.rejections.inc({ reason: decision.code });
    finish();
    return { status: "rejected", reason: decision.code, detail: decision.detail, candidate: candidateMetrics, ...(currentMetrics ? { current: currentMetrics } : {}), ...(current.version ? { currentVersion: current.version } : {}), ...stats };
  }
  finish();

  // Register the candidate and fan out the item embedding; the parent job flips it.
  const version = newVersionId(now);
  const n = candidate.itemIds.length;
  const shardSize = config.embedShardSize;
  const shards = Math.ceil(n / shardSize);
  const modelMetrics: Record<string, number> = { [`recall@${k}`]: candidateMetrics.recall, [`ndcg@${k}`]: candidateMetrics.ndcg, evalUsers: candidateMetrics.users, examples: stats.examples, events: stats.events };
  if (currentMetrics) {
    modelMetrics[`current_recall@${k}`] = currentMetrics.recall;
    modelMetrics[`current_ndcg@${k}`] = currentMetrics.ndcg;
  }
  const exportMeta = { modelVersion: version, trainingDataRange: dataset.range, metrics: modelMetrics };
  await ctx.models.putVersion(
    { version, createdAt: now, itemCount: n, dim: candidate.config.dim, shards, shardSize, metrics: modelMetrics, trainingDataRange: dataset.range },
    exportModelArtefacts(candidate, exportMeta),
  );
  const shardOpts = { attempts: config.embedAttempts, backoff: { type: "exponential", delay: config.embedBackoffMs }, failParentOnFailure: true, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } };
  await ctx.flow.add({
    name: JOB_NAMES.promote,
    queueName: ctx.queues.promote,
    data: { version },
    opts: { jobId: promoteJobId(version), attempts: config.embedAttempts, backoff: { type: "exponential", delay: config.embedBackoffMs }, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } },
    children: Array.from({ length: shards }, (_, shard) => ({
      name: JOB_NAMES.embedItems,
      queueName: ctx.queues.embedItems,
      data: { version, shard, fromRow: shard * shardSize, toRow: Math.min(n, (shard + 1) * shardSize) },
      opts: { ...shardOpts, jobId: embedJobId(version, shard) },
    })),
  });
  logger.info("candidate registered; embedding fanned out", { version, items: n, shards, shardSize, reason: decision.detail });
  const promoted = await awaitPromotion(ctx, version);
  if (!promoted.ok) return { status: "failed", reason: "promotion_failed", detail: promoted.detail, version, ...stats };
  return {
    status: "promoted",
    reason: decision.code,
    detail: decision.detail,
    version,
    dim: candidate.config.dim,
    candidate: candidateMetrics,
    ...(currentMetrics ? { current: currentMetrics } : {}),
    ...(promoted.result.previous ? { previous: promoted.result.previous } : {}),
    embeddedBy: promoted.result.embeddedBy,
    ...stats,
  };
}

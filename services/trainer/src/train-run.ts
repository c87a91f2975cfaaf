/**
 * One training run: window → examples → warm-started training → evaluation of candidate and
 * current on the same held-out slice → promotion gate → (on acceptance) artefacts in the
 * registry and an embed-items fan-out whose parent job flips the version and announces it.
 */
import { randomBytes } from "node:crypto";
import { errorMessage, shouldRetry, type Logger } from "@recfleet/runtime";
import { CorruptArtefactError, type ModelRegistry, type TrainerState } from "@recfleet/store";
import {
  defaultTwoTowerConfig,
  deserializeModel,
  encodeItemContent,
  type ItemContent,
  exportModelArtefacts,
  ModelFormatError,
  type TrainingProgress,
  type TwoTowerConfig,
  type TwoTowerModel,
} from "@recfleet/towers";
import { dpOptions, type TrainerConfig, type TrainerDpConfig } from "./config";
import { buildDataset } from "./examples";
import { decidePromotion, type EvalMetrics, type EvaluateFn, type PromotionCode } from "./evaluate-candidate";
import type { EmbedFanOut } from "./fan-out";
import type { TrainerMetrics } from "./metrics";
import { trainCandidate } from "./train-process";
import { rangeSize, type TrainingWindowSource, type WindowRange } from "./window";

/** The settings a training run reads. */
export type TrainRunConfig = Pick<
  TrainerConfig,
  | "trainLockTtlMs"
  | "windowMaxAgeMs"
  | "minEvents"
  | "maxExamples"
  | "holdoutPerUser"
  | "evalMaxUsers"
  | "evalK"
  | "promoteMetric"
  | "promoteMargin"
  | "promoteMinRecall"
  | "dim"
  | "hidden"
  | "batchSize"
  | "learningRate"
  | "epochs"
  | "seed"
  | "embedShardSize"
  | "embedTimeoutMs"
  | "contentFeatures"
  | "idDropout"
  | "servingItemMatrix"
  | "trainIsolation"
> &
  TrainerDpConfig;

export interface TrainRunDeps {
  config: TrainRunConfig;
  logger: Logger;
  models: ModelRegistry;
  /** Where a run's events come from: an offset range of `events` (window.ts). */
  window: TrainingWindowSource;
  state: TrainerState;
  metrics: TrainerMetrics;
  /** Held-out evaluation (evaluateModel); tests pass their own to force a rejection. */
  evaluate: EvaluateFn;
  embedding: EmbedFanOut;
  /** Catalog content (categories, tags) of vocabulary items, for the item tower's content features. */
  contentOf?(itemIds: readonly string[]): Promise<(ItemContent | undefined)[]>;
}

export interface WarmStart {
  /** The version warm-started from, when one was used. */
  from?: string;
  used: boolean;
  /** Why no warm start was used although a current version exists. */
  reason?: string;
}

/** The offsets a run read, and what it kept of them. */
export interface WindowStats extends WindowRange {
  records: number;
  shredded: number;
  invalid: number;
  old: number;
}

interface RunStats {
  window: WindowStats;
  durationSeconds: number;
  events: number;
  examples: number;
  itemCount: number;
  newItems: number;
  warmStart: WarmStart;
}

export type TrainOutcome =
  | {
      status: "skipped";
      reason: "another_run_in_progress" | "not_enough_events" | "no_examples";
      detail: string;
      events: number;
      window?: WindowStats;
    }
  | ({
      status: "rejected";
      reason: PromotionCode;
      detail: string;
      candidate: EvalMetrics;
      current?: EvalMetrics;
      currentVersion?: string;
    } & RunStats)
  | ({
      status: "promoted";
      reason: PromotionCode;
      detail: string;
      version: string;
      dim: number;
      candidate: EvalMetrics;
      current?: EvalMetrics;
      previous?: string;
      embeddedBy: Record<string, number>;
    } & RunStats)
  | ({ status: "failed"; reason: string; detail: string; version?: string } & Partial<RunStats>)
  /** Stopped by shutdown: nothing was promoted by this run (a registered version's promote job may still finish it). */
  | ({ status: "aborted"; reason: "shutdown"; detail: string; version?: string } & Partial<RunStats>);

/** Sortable, unique, ≤ 64 chars, no ":" (BullMQ job ids embed it). */
export function newVersionId(now: number): string {
  return `${new Date(now).toISOString().replace(/[-:.]/g, "").replace("T", "-")}-${randomBytes(3).toString("hex")}`;
}

/**
 * History length: the warm-start model's (from its own config, which the exported serving.json
 * carries to the scorer), else the towers' default: no second constant to keep in step.
 */
export function historyLengthFor(warm: TwoTowerModel | undefined): number {
  return warm?.config.historyLength ?? defaultTwoTowerConfig.historyLength;
}

export function towerConfig(c: TrainRunConfig, historyLength: number): Partial<TwoTowerConfig> {
  const { dim, hidden, batchSize, learningRate, epochs, seed, idDropout } = c;
  return { dim, hidden, historyLength, batchSize, learningRate, epochs, seed, idDropout, threads: 1 };
}

/** Content feature width of the next model: TRAIN_CONTENT_FEATURES when the catalog is wired in, else 0. */
function featureWidth(deps: Pick<TrainRunDeps, "config" | "contentOf">): number {
  return deps.contentOf ? deps.config.contentFeatures : 0;
}

/** The current version's model, or why it cannot be used (corrupt, unreadable). */
async function loadCurrent(
  models: ModelRegistry,
): Promise<{ version?: string; model?: TwoTowerModel; unusable?: string }> {
  const version = await models.currentVersion();
  if (version === undefined) return {};
  try {
    return { version, model: deserializeModel(await models.loadArtefact(version, "model.bin")) };
  } catch (err) {
    if (err instanceof CorruptArtefactError || err instanceof ModelFormatError)
      return { version, unusable: errorMessage(err) };
    throw err;
  }
}

/**
 * One training run under the fleet-wide lock. Returns what happened; records it in Redis
 * (`model list` shows it), in metrics and in the log. `signal` (shutdown) stops the run
 * between training steps or while it waits for promotion; the outcome is then "aborted".
 */
export interface TrainOptions {
  reason?: string;
  now?: number;
  signal?: AbortSignal;
  /** The range an earlier attempt of this run took: read again as it is (a retried job trains on the same events). */
  range?: WindowRange;
  /** Keeps a new run's range with its job before anything is read, so a retry reads the same range. */
  onRange?(range: WindowRange): Promise<void>;
}

export async function trainOnce(deps: TrainRunDeps, options: TrainOptions = {}): Promise<TrainOutcome> {
  const { config, logger, metrics } = deps;
  const lock = await deps.state.tryAcquireTrainingLock(config.trainLockTtlMs, logger);
  if (!lock) {
    const outcome: TrainOutcome = {
      status: "skipped",
      reason: "another_run_in_progress",
      detail: "another trainer holds the training lock",
      events: 0,
    };
    metrics.runs.inc({ outcome: "skipped" });
    logger.info("training skipped", outcome);
    return outcome;
  }
  metrics.inProgress.set(1);
  const started = performance.now();
  let outcome: TrainOutcome;
  try {
    outcome = await run(deps, options.now ?? Date.now(), started, options);
  } catch (err) {
    // Whatever was thrown once the signal fired (TrainingAbortedError, or the abort reason) is the abort.
    const detail = errorMessage(err);
    if (options.signal?.aborted)
      outcome = { status: "aborted", reason: "shutdown", detail: `stopped by shutdown: ${detail}` };
    else outcome = { status: "failed", reason: shouldRetry(err) ? "error" : "non_retriable_error", detail };
  } finally {
    metrics.inProgress.set(0);
    await lock.release().catch(() => undefined);
  }
  metrics.runs.inc({ outcome: outcome.status });
  const warn = outcome.status === "rejected" || outcome.status === "aborted";
  const log = outcome.status === "failed" ? logger.error : warn ? logger.warn : logger.info;
  log(`training ${outcome.status}`, { trigger: options.reason ?? "direct", ...outcome });
  await deps.state.recordOutcome(outcome).catch(() => undefined);
  return outcome;
}

async function run(deps: TrainRunDeps, now: number, started: number, options: TrainOptions): Promise<TrainOutcome> {
  const { config, logger, metrics } = deps;
  const signal = options.signal;
  let range = options.range;
  if (!range) {
    range = await deps.window.plan(now);
    await options.onRange?.(range);
  }
  const records = rangeSize(range.partitions);
  if (records < config.minEvents) {
    // Fewer records than TRAIN_MIN_EVENTS in the range: no need to read them to know.
    const window: WindowStats = { ...range, records, shredded: 0, invalid: 0, old: 0 };
    return {
      status: "skipped",
      reason: "not_enough_events",
      detail: `${records} records in the window's offset range, TRAIN_MIN_EVENTS=${config.minEvents}`,
      events: records,
      window,
    };
  }
  const read = await deps.window.read(range, signal);
  const events = read.events;
  const window: WindowStats = {
    ...range,
    records: read.records,
    shredded: read.shredded,
    invalid: read.invalid,
    old: read.old,
  };
  metrics.windowEvents.inc({ outcome: "read" }, events.length);
  for (const outcome of ["shredded", "invalid", "old"] as const)
    if (read[outcome] > 0) metrics.windowEvents.inc({ outcome }, read[outcome]);
  // Events of erased users stay on Kafka until retention removes them, unreadable: counted, never trained on.
  if (read.shredded) logger.info("events of erased users skipped", { shredded: read.shredded });
  if (read.invalid) logger.warn("invalid events in the training window skipped", { invalid: read.invalid });
  if (events.length < config.minEvents) {
    return {
      status: "skipped",
      reason: "not_enough_events",
      detail: `${events.length} events in the window (${records} records in its offset range), TRAIN_MIN_EVENTS=${config.minEvents}`,
      events: events.length,
      window,
    };
  }
  const current = await loadCurrent(deps.models);
  const warmStart: WarmStart = { used: false };
  let warm: TwoTowerModel | undefined;
  if (current.model) {
    const mismatch = (["dim", "hidden"] as const).find((key) => current.model!.config[key] !== config[key]);
    if (mismatch)
      warmStart.reason = `current model has ${mismatch}=${current.model.config[mismatch]}, config says ${config[mismatch]}: training from scratch`;
    else if (current.model.featureWidth !== featureWidth(deps))
      warmStart.reason = `current model has ${current.model.featureWidth} content features, TRAIN_CONTENT_FEATURES gives ${featureWidth(deps)}: training from scratch`;
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

  // A DP run trains from scratch: a warm start would compose the budgets of every earlier run.
  const dp = dpOptions(config);
  if (dp && warm) {
    warm = undefined;
    warmStart.used = false;
    warmStart.reason = "differential privacy (TRAIN_DP_*): every run trains from scratch";
  }
  const historyLength = historyLengthFor(warm);
  const dataset = buildDataset(events, {
    holdoutPerUser: config.holdoutPerUser,
    historyLength,
    maxExamples: config.maxExamples,
    maxEvalUsers: config.evalMaxUsers,
    ...(warm ? { previousItemIds: warm.itemIds } : {}),
  });
  const width = featureWidth(deps);
  if (width > 0) {
    // Content features from the catalog (zeros for items it does not describe), hashed as the scorer hashes new items.
    const contents = await deps.contentOf!(dataset.data.itemIds);
    const features = new Float32Array(dataset.data.itemIds.length * width);
    contents.forEach((content, row) => encodeItemContent(content, width, features, row * width));
    dataset.data.itemFeatures = features;
  }
  if (dataset.data.examples.length === 0) {
    return {
      status: "skipped",
      reason: "no_examples",
      detail: `${dataset.events} events from ${dataset.users} users give no (history, target) pair`,
      events: dataset.events,
      window,
    };
  }
  logger.info("training started", {
    events: dataset.events,
    users: dataset.users,
    examples: dataset.data.examples.length,
    items: dataset.data.itemIds.length,
    newItems: dataset.newItems,
    evalUsers: dataset.evalCases.length,
    warmStart,
  });
  const onProgress = (p: TrainingProgress) =>
    logger.info("training progress", {
      epoch: p.epoch,
      epochs: p.epochs,
      step: p.step,
      stepsPerEpoch: p.stepsPerEpoch,
      loss: Number(p.loss.toFixed(4)),
      examplesPerSecond: Math.round(p.examplesPerSecond),
      etaSeconds: Number(p.etaSeconds.toFixed(1)),
    });
  const trained = await trainCandidate(
    config.trainIsolation,
    {
      data: dataset.data,
      config: towerConfig(config, historyLength),
      ...(dp ? { dp, units: dataset.units } : warm ? { warmStart: warm } : {}),
    },
    { ...(signal ? { signal } : {}), progressIntervalMs: 2000, onProgress },
  );
  const candidate = trained.model;
  const privacy = trained.privacy;
  if (privacy) logger.info("trained with differential privacy", { ...privacy });
  if (trained.processMaxRssMb !== undefined)
    logger.info("training process finished", { maxRssMb: trained.processMaxRssMb });

  const k = config.evalK;
  const candidateMetrics = await deps.evaluate(candidate, dataset.evalCases, k, "candidate");
  const currentMetrics = current.model
    ? await deps.evaluate(current.model, dataset.evalCases, k, "current")
    : undefined;
  for (const m of ["recall", "ndcg"] as const) {
    metrics.candidateMetric.set({ metric: `${m}@${k}` }, candidateMetrics[m]);
    if (currentMetrics) metrics.currentMetric.set({ metric: `${m}@${k}` }, currentMetrics[m]);
  }
  const decision = decidePromotion(
    candidateMetrics,
    current.unusable ? { unusable: current.unusable } : currentMetrics,
    { metric: config.promoteMetric, margin: config.promoteMargin, minRecall: config.promoteMinRecall },
  );
  const stats: RunStats = {
    window,
    durationSeconds: 0,
    events: dataset.events,
    examples: dataset.data.examples.length,
    itemCount: candidate.itemIds.length,
    newItems: dataset.newItems,
    warmStart,
  };
  const finish = () => {
    stats.durationSeconds = (performance.now() - started) / 1000;
    metrics.lastTrainingSeconds.set(stats.durationSeconds);
  };
  if (!decision.promote) {
    metrics.rejections.inc({ reason: decision.code });
    finish();
    return {
      status: "rejected",
      reason: decision.code,
      detail: decision.detail,
      candidate: candidateMetrics,
      ...(currentMetrics ? { current: currentMetrics } : {}),
      ...(current.version ? { currentVersion: current.version } : {}),
      ...stats,
    };
  }
  finish();
  // Past this point a version is registered; a process that is stopping registers none.
  signal?.throwIfAborted();

  // Register the candidate and fan out the item embedding; the parent job flips it.
  const version = newVersionId(now);
  const n = candidate.itemIds.length;
  const shardSize = config.embedShardSize;
  const shards = Math.ceil(n / shardSize);
  const modelMetrics: Record<string, number> = {
    [`recall@${k}`]: candidateMetrics.recall,
    [`ndcg@${k}`]: candidateMetrics.ndcg,
    evalUsers: candidateMetrics.users,
    examples: stats.examples,
    events: stats.events,
  };
  if (currentMetrics) {
    modelMetrics[`current_recall@${k}`] = currentMetrics.recall;
    modelMetrics[`current_ndcg@${k}`] = currentMetrics.ndcg;
  }
  const exportMeta = {
    modelVersion: version,
    trainingDataRange: dataset.range,
    metrics: modelMetrics,
    ...(privacy ? { privacy } : {}),
  };
  await deps.models.putVersion(
    {
      version,
      createdAt: now,
      itemCount: n,
      dim: candidate.config.dim,
      shards,
      shardSize,
      metrics: modelMetrics,
      trainingDataRange: dataset.range,
      trainingWindow: { minTs: window.minTs, partitions: window.partitions },
      ...(privacy ? { privacy: { ...privacy } } : {}),
    },
    exportModelArtefacts(candidate, exportMeta, { itemMatrix: config.servingItemMatrix }),
  );
  await deps.embedding.start(version, n, shardSize);
  logger.info("candidate registered; embedding fanned out", {
    version,
    items: n,
    shards,
    shardSize,
    reason: decision.detail,
  });
  const promoted = await deps.embedding.awaitPromotion(version, config.embedTimeoutMs, signal);
  if (promoted.state === "abandoned") {
    const detail = `stopped by shutdown while version ${version} was embedding; its promote job flips it without this run`;
    return { status: "aborted", reason: "shutdown", detail, version, ...stats };
  }
  if (promoted.state === "failed") {
    return { status: "failed", reason: "promotion_failed", detail: promoted.detail, version, ...stats };
  }
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

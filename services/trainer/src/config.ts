import {
  ConfigError,
  duration,
  int,
  listOf,
  num,
  oneOf,
  optionalStr,
  type CommonConfig,
  type ConfigOf,
} from "@recfleet/runtime";
import { DEFAULT_PARTITIONS } from "@recfleet/contracts";
import { DEFAULT_DP_SGD, ITEM_MATRIX_FORMATS, type DpSgdOptions, type ExecutionProviderName } from "@recfleet/towers";
import { shredConfigSchema } from "@recfleet/store";
import { TRAIN_ISOLATIONS } from "./train-process";

/**
 * The trainer's settings (on top of commonConfigSchema). Durations accept "30s", "5m" or ms.
 * Defaults fit the demo: small models, a few epochs, capped examples.
 */
export const trainerConfigSchema = {
  ...shredConfigSchema,
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  role: oneOf("TRAINER_ROLE", ["all", "embed-only"] as const, "all"),
  /** Names this process in embed-job records and logs (default <hostname>-<pid>). */
  workerId: optionalStr("TRAINER_ID", "worker id recorded with each embed job (default <hostname>-<pid>)"),
  /** 0 disables the schedule (on-demand only). */
  trainIntervalMs: duration("TRAIN_INTERVAL", 5 * 60_000),
  /**
   * How often the schedule and the queue's global concurrency are written again: a Redis that
   * restarts empty loses them, and nothing else would bring them back.
   */
  scheduleRefreshMs: duration("TRAIN_SCHEDULE_REFRESH", 60_000),
  /** A run reads at most this many records of `events` (each partition's newest, in proportion). */
  windowMaxEvents: int("TRAIN_WINDOW_MAX_EVENTS", 200_000, { min: 10, max: 50_000_000 }),
  /** A run reads `events` from the first record of this long ago (Kafka offsets by timestamp) and keeps events this recent. */
  windowMaxAgeMs: duration("TRAIN_WINDOW_MAX_AGE", 7 * 86_400_000),
  minEvents: int("TRAIN_MIN_EVENTS", 200, { min: 1 }),
  maxExamples: int("TRAIN_MAX_EXAMPLES", 50_000, { min: 1 }),
  epochs: int("TRAIN_EPOCHS", 3, { min: 0, max: 1000 }),
  dim: int("TRAIN_DIM", 32, { min: 1, max: 4096 }),
  hidden: int("TRAIN_HIDDEN", 64, { min: 1, max: 65_536 }),
  batchSize: int("TRAIN_BATCH_SIZE", 256, { min: 2, max: 65_536 }),
  learningRate: num("TRAIN_LEARNING_RATE", 2e-3, { min: 1e-7, max: 1 }),
  seed: int("TRAIN_SEED", 7),
  /** Width of the item tower's content features (catalog categories and tags, hashed); 0 = ids only, no content vectors for new items. */
  contentFeatures: int("TRAIN_CONTENT_FEATURES", 32, { min: 0, max: 4096 }),
  /** Probability of training a target from its content alone (towers' idDropout): what makes new items' content vectors useful. */
  idDropout: num("TRAIN_ID_DROPOUT", 0.25, { min: 0, max: 0.95 }),
  /** Each user's newest N window events form the held-out evaluation slice. */
  holdoutPerUser: int("EVAL_HOLDOUT_EVENTS", 1, { min: 1, max: 100 }),
  evalK: int("EVAL_K", 20, { min: 1, max: 1000 }),
  evalMaxUsers: int("EVAL_MAX_USERS", 2000, { min: 1 }),
  promoteMetric: oneOf("PROMOTE_METRIC", ["recall", "ndcg"] as const, "recall"),
  /** Which serving graph new versions are served with (both are exported; recorded in serving.json): int8 holds about a quarter of the item matrix's memory. */
  servingItemMatrix: oneOf("TRAIN_SERVING_ITEM_MATRIX", ITEM_MATRIX_FORMATS, "float32"),
  /** The candidate is rejected when its metric is below the current model's by more than this (absolute). */
  promoteMargin: num("PROMOTE_MARGIN", 0.01, { min: 0, max: 1 }),
  /**
   * With no current model to compare against (none, or unusable), a candidate whose recall@EVAL_K
   * is below this is not promoted: a model that learnt nothing is worse than no model.
   */
  promoteMinRecall: num("PROMOTE_MIN_RECALL", 0.01, { min: 0, max: 1 }),
  /**
   * Where each run trains: "process" (a child process per run, the default) returns all of the
   * run's native memory when it exits; "none" trains inside the worker (tests, debugging).
   */
  trainIsolation: oneOf("TRAIN_ISOLATION", TRAIN_ISOLATIONS, "process"),
  embedShardSize: int("EMBED_SHARD_SIZE", 1000, { min: 1, max: 1_000_000 }),
  embedAttempts: int("EMBED_ATTEMPTS", 5, { min: 1, max: 100 }),
  embedBackoffMs: duration("EMBED_BACKOFF", 1000),
  embedConcurrency: int("EMBED_CONCURRENCY", 1, { min: 1, max: 64 }),
  /** Minimum time one embed job takes (pads short jobs): throttles load on shared hosts; tests use it to land a kill mid-embedding. */
  embedThrottleMs: duration("EMBED_THROTTLE", 0),
  /** How long a training run waits for its embed fan-out and flip before it reports failure. */
  embedTimeoutMs: duration("EMBED_TIMEOUT", 10 * 60_000),
  /**
   * Differential privacy (DP-SGD, the user as unit): a target ε for each training run (0 = off),
   * or a fixed noise multiplier instead (0 = off); not both. See docs/privacy.md.
   */
  dpEpsilon: num("TRAIN_DP_EPSILON", 0, { min: 0, max: 1000 }),
  dpNoiseMultiplier: num("TRAIN_DP_NOISE_MULTIPLIER", 0, { min: 0, max: 1000 }),
  dpDelta: num("TRAIN_DP_DELTA", DEFAULT_DP_SGD.delta, { min: 1e-12, max: 0.1 }),
  dpClipNorm: num("TRAIN_DP_CLIP_NORM", DEFAULT_DP_SGD.clipNorm, { min: 1e-6, max: 1e6 }),
  dpUsersPerStep: int("TRAIN_DP_USERS_PER_STEP", DEFAULT_DP_SGD.usersPerStep, { min: 1, max: 1_000_000 }),
  dpEpochs: num("TRAIN_DP_EPOCHS", DEFAULT_DP_SGD.epochs, { min: 0.01, max: 10_000 }),
  dpExamplesPerUser: int("TRAIN_DP_EXAMPLES_PER_USER", DEFAULT_DP_SGD.examplesPerUser, { min: 1, max: 10_000 }),
  dpNegatives: int("TRAIN_DP_NEGATIVES", DEFAULT_DP_SGD.negatives, { min: 1, max: 100_000 }),
  executionProviders: listOf<ExecutionProviderName>("EXECUTION_PROVIDERS", ["cuda", "cpu"], ["cuda", "cpu"]),
  /** Versions that are neither current nor the rollback target are deleted after this; keep it above EMBED_TIMEOUT. */
  gcGraceMs: duration("MODEL_GC_GRACE", 60 * 60_000),
  /** TTL of the fleet-wide training lock; renewed every third of it while a run is alive. */
  trainLockTtlMs: duration("TRAIN_LOCK_TTL", 60_000),
  /** BullMQ job lock: a worker that stops renewing it (crash, SIGKILL) loses its jobs after this. */
  jobLockDurationMs: duration("TRAINER_JOB_LOCK_DURATION", 30_000),
  /** How often BullMQ looks for stalled jobs (jobs whose lock expired) and re-queues them. */
  stalledIntervalMs: duration("TRAINER_STALLED_INTERVAL", 30_000),
};
export type TrainerConfig = CommonConfig & ConfigOf<typeof trainerConfigSchema>;

/** The DP-SGD settings of a training run, or undefined when DP is off; both ε and σ set is a ConfigError. */
export function dpOptions(c: TrainerDpConfig): DpSgdOptions | undefined {
  if (c.dpEpsilon > 0 && c.dpNoiseMultiplier > 0)
    throw new ConfigError(
      "TRAIN_DP_NOISE_MULTIPLIER",
      "to be 0 (unset) when TRAIN_DP_EPSILON is set",
      String(c.dpNoiseMultiplier),
    );
  if (c.dpEpsilon === 0 && c.dpNoiseMultiplier === 0) return undefined;
  return {
    ...(c.dpEpsilon > 0 ? { targetEpsilon: c.dpEpsilon } : { noiseMultiplier: c.dpNoiseMultiplier }),
    delta: c.dpDelta,
    clipNorm: c.dpClipNorm,
    usersPerStep: c.dpUsersPerStep,
    epochs: c.dpEpochs,
    examplesPerUser: c.dpExamplesPerUser,
    negatives: c.dpNegatives,
  };
}
export type TrainerDpConfig = Pick<
  TrainerConfig,
  | "dpEpsilon"
  | "dpNoiseMultiplier"
  | "dpDelta"
  | "dpClipNorm"
  | "dpUsersPerStep"
  | "dpEpochs"
  | "dpExamplesPerUser"
  | "dpNegatives"
>;

import { bool, duration, int, listOf, num, str } from "@recfleet/runtime";
import { DEFAULT_PARTITIONS } from "@recfleet/contracts";
import type { ExecutionProviderName } from "@recfleet/towers";
import { storeConfigSchema } from "@recfleet/store";

export const scorerConfigSchema = {
  ...storeConfigSchema,
  groupId: str("SCORER_GROUP", "", "consumer group of rec.requests (default <namespace>.scorer)"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  /** Requests scored (and answered in one send) at a time; bigger fetched batches are sliced. */
  maxBatch: int("SCORER_MAX_BATCH", 256, { min: 1, max: 10_000 }),
  /** Partitions of rec.requests scored concurrently by this process. */
  concurrency: int("SCORER_CONCURRENCY", 2, { min: 1, max: 64 }),
  maxBytesPerPartition: int("SCORER_MAX_BYTES_PER_PARTITION", 65_536, { min: 1024 }),
  defaultK: int("SCORER_DEFAULT_K", 10, { min: 1, max: 200 }),
  candidates: int("SCORER_CANDIDATES", 100, { min: 1, max: 10_000 }),
  explanations: int("SCORER_EXPLANATIONS", 2, { min: 0, max: 5 }),
  executionProviders: listOf<ExecutionProviderName>("EXECUTION_PROVIDERS", ["cuda", "cpu"], ["cuda", "cpu"]),
  intraOpThreads: int("SCORER_THREADS", 1, { min: 0, max: 256 }),
  /** Policy when a request names none: "greedy", or a split such as "greedy:1,thompson:1". */
  policySplit: str("POLICY_SPLIT", "greedy:1"),
  policySeed: int("POLICY_SEED", 0, { min: 0 }),
  /** Publish what each policy saw and chose to <namespace>.rec.log (off-policy evaluation reads it). */
  decisionLog: bool("DECISION_LOG", true),
  /** Include candidate vectors in the decision log (≈20× larger records; for off-policy evaluation of linucb/lints). */
  decisionLogVectors: bool("DECISION_LOG_VECTORS", false),
  /** Ridge strength λ of the neural-linear bandit (A starts as λI). */
  linearLambda: num("LINEAR_LAMBDA", 1, { min: 1e-6 }),
  linearRefreshMs: duration("LINEAR_REFRESH_INTERVAL", 2000),
  linearFlushMs: duration("LINEAR_FLUSH_INTERVAL", 1000),
  userVectorTtlMs: duration("USER_VECTOR_TTL", 3_600_000),
  modelPollMs: duration("MODEL_POLL_INTERVAL", 5000),
  /** cosine → logit for the policies: (cos − offset) × scale. */
  scoreScale: num("POLICY_SCORE_SCALE", 8),
  scoreOffset: num("POLICY_SCORE_OFFSET", 0.5),
};

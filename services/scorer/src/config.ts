import { bool, ConfigError, duration, errorMessage, int, listOf, num, oneOf, str } from "@recfleet/runtime";
import type { CommonConfig, ConfigOf, Field } from "@recfleet/runtime";
import { DEFAULT_PARTITIONS } from "@recfleet/contracts";
import type { ExecutionProviderName } from "@recfleet/towers";
import { allowPolicies, parseTrafficSplit, type TrafficShare } from "@recfleet/policy";
import { storeConfigSchema } from "@recfleet/store";

/** POLICY_SPLIT: parsed, and every policy of it valid, at start. */
function trafficSplit(env: string, fallback: string): Field<TrafficShare[]> {
  const describe =
    'a traffic split "spec:weight,…", e.g. "greedy:1,thompson:1" (";" between entries if specs have commas)';
  return {
    env,
    describe,
    parse(raw) {
      try {
        const split = parseTrafficSplit(raw ?? fallback);
        allowPolicies(split.map((share) => share.policy));
        return split;
      } catch (err) {
        throw new ConfigError(env, `${describe} (${errorMessage(err)})`, raw);
      }
    },
  };
}

/** SCORER_ALLOWED_POLICIES: ";" between specs, since specs have commas of their own. */
function policySpecs(env: string): Field<string[]> {
  const describe =
    'policy specs separated by ";", e.g. "greedy;thompson:16,lift=1" (POLICY_SPLIT ones are always allowed)';
  return {
    env,
    describe,
    parse(raw) {
      const specs = (raw ?? "")
        .split(";")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      try {
        allowPolicies(specs);
      } catch (err) {
        throw new ConfigError(env, `${describe} (${errorMessage(err)})`, raw);
      }
      return specs;
    },
  };
}

export const scorerConfigSchema = {
  ...storeConfigSchema,
  groupId: str("SCORER_GROUP", "", "consumer group of rec.requests (default <namespace>.scorer)"),
  clientId: str("SCORER_CLIENT_ID", "", "Kafka client id (default <namespace>-scorer)"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  /** Requests scored (and answered in one send) at a time; bigger fetched batches are sliced. */
  maxBatch: int("SCORER_MAX_BATCH", 256, { min: 1, max: 10_000 }),
  /**
   * Scoring runs in flight at once (coalesce.ts): with 2, the next run's reads and scoring overlap
   * the previous run's waits for Redis and the broker. 1 by default: in E2E-LATENCY 2 cost 5–8%
   * more CPU per request (smaller joined batches) without a latency gain the noise could show
   * (docs/benchmarks.md, session 27).
   */
  runsInFlight: int("SCORER_RUNS_IN_FLIGHT", 1, { min: 1, max: 8 }),
  /**
   * Partitions of rec.requests consumed concurrently by this process; their batches are scored
   * together (one retrieval run, one send), so this should cover the partitions one scorer holds.
   */
  concurrency: int("SCORER_CONCURRENCY", 8, { min: 1, max: 64 }),
  /**
   * How long the group waits for a silent scorer before its partitions go to the others: the
   * stall a crashed scorer causes is about this plus one heartbeat interval and a rebalance. The
   * broker refuses less than its group.min.session.timeout.ms (Kafka's default and our stack's: 6 s).
   */
  sessionTimeoutMs: duration("SCORER_SESSION_TIMEOUT", 6000),
  /** Heartbeats to the group: a survivor learns of a rebalance on its next one. */
  heartbeatIntervalMs: duration("SCORER_HEARTBEAT_INTERVAL", 500),
  /**
   * A batch handler keeps its group membership (heartbeats go on) for up to this long while it
   * waits or works; a handler stuck longer loses its partitions to the other scorers.
   */
  maxBatchTimeMs: duration("SCORER_MAX_BATCH_TIME", 30_000),
  maxBytesPerPartition: int("SCORER_MAX_BYTES_PER_PARTITION", 65_536, { min: 1024 }),
  defaultK: int("SCORER_DEFAULT_K", 10, { min: 1, max: 200 }),
  candidates: int("SCORER_CANDIDATES", 100, { min: 1, max: 10_000 }),
  explanations: int("SCORER_EXPLANATIONS", 2, { min: 0, max: 5 }),
  executionProviders: listOf<ExecutionProviderName>("EXECUTION_PROVIDERS", ["cuda", "cpu"], ["cuda", "cpu"]),
  intraOpThreads: int("SCORER_THREADS", 1, { min: 0, max: 256 }),
  /** Policy when a request names none: "greedy", or a split such as "greedy:1,thompson:1". */
  policySplit: trafficSplit("POLICY_SPLIT", "greedy:1"),
  /**
   * Policies a request may name besides the split's. Any other `policy` is dead-lettered
   * (policy_not_allowed), so a client's strings never grow the policy cache or metric labels.
   */
  allowedPolicies: policySpecs("SCORER_ALLOWED_POLICIES"),
  /**
   * Shadow (candidate) policies, ";" between specs: each served slate also gets their probabilities
   * of the served items in the decision log (for `recfleet ope --shadow` and `recfleet policy promote`).
   */
  shadowPolicies: policySpecs("SHADOW_POLICIES"),
  policySeed: int("POLICY_SEED", 0, { min: 0 }),
  /**
   * Bandit statistics a policy reads: "per-policy" (each arm of a split learns only from its own
   * impressions and clicks — what an experiment needs) or "pooled" (all traffic).
   */
  banditStats: oneOf("BANDIT_STATS", ["per-policy", "pooled"] as const, "per-policy"),
  /** Publish what each policy saw and chose to <namespace>.rec.log (off-policy evaluation reads it). */
  decisionLog: bool("DECISION_LOG", true),
  /** Include candidate vectors in the decision log (≈20× larger records; for off-policy evaluation of linucb/lints). */
  decisionLogVectors: bool("DECISION_LOG_VECTORS", false),
  /** Ridge strength λ of the neural-linear bandit (A starts as λI). */
  linearLambda: num("LINEAR_LAMBDA", 1, { min: 1e-6 }),
  linearRefreshMs: duration("LINEAR_REFRESH_INTERVAL", 2000),
  linearFlushMs: duration("LINEAR_FLUSH_INTERVAL", 1000),
  modelPollMs: duration("MODEL_POLL_INTERVAL", 5000),
  /** How often the scorer reads the catalog's change stream (new, changed, unavailable, deleted items). */
  catalogPollMs: duration("CATALOG_POLL_INTERVAL", 500),
  /** Operator rule: never recommend items the catalog marks unavailable (deleted items are never served). */
  excludeUnavailable: bool("SCORER_EXCLUDE_UNAVAILABLE", true),
  /** Operator rule: at most this many items of one provider per slate (0 = no cap). */
  maxPerProvider: int("SCORER_MAX_PER_PROVIDER", 0, { min: 0, max: 200 }),
  /**
   * Logit added to new catalog items (served by their content vector until a retrain learns them).
   * Default: the cold-start evaluation's choice on its validation split (docs/benchmarks.md, COLD-START) × POLICY_SCORE_SCALE.
   */
  newItemBoost: num("SCORER_NEW_ITEM_BOOST", 0.8, { min: 0, max: 10 }),
  /**
   * How long the scorer reuses an item's statistics (impressions, clicks) before reading them
   * again, in ms (0 = read every run). They reach Redis seconds after an impression anyway.
   */
  statsCacheMs: int("SCORER_STATS_CACHE_MS", 1000, { min: 0, max: 60_000 }),
  /**
   * Differential privacy of the statistics the scorer exposes (cold-start popular list, item
   * statistics): ε per release interval (0 = off), δ, the interval, and the most one event adds
   * to an item's popularity (the largest FEATURES_EVENT_WEIGHTS weight). See docs/privacy.md.
   */
  statsDpEpsilon: num("STATS_DP_EPSILON", 0, { min: 0, max: 1000 }),
  statsDpDelta: num("STATS_DP_DELTA", 1e-6, { min: 1e-12, max: 0.1 }),
  statsDpReleaseMs: duration("STATS_DP_RELEASE_INTERVAL", 60_000),
  statsDpPopularitySensitivity: num("STATS_DP_POPULARITY_SENSITIVITY", 5, { min: 1e-6 }),
  /** cosine → logit for the policies: (cos − offset) × scale. */
  scoreScale: num("POLICY_SCORE_SCALE", 8),
  scoreOffset: num("POLICY_SCORE_OFFSET", 0.5),
};
export type ScorerConfig = CommonConfig & ConfigOf<typeof scorerConfigSchema>;

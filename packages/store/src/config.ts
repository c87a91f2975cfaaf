import { duration, int, oneOf, optionalStr, type ConfigOf } from "@recfleet/runtime";
import { shredConfigSchema } from "./shred";

/**
 * Settings every worker that touches the store shares (ingest, features, scorer), so the
 * pseudonym secret, the attribution window and the popularity half-life agree across the fleet.
 */
export const storeConfigSchema = {
  pseudonymSecret: optionalStr(
    "RECFLEET_PSEUDONYM_SECRET",
    "HMAC-SHA256 secret for user pseudonyms (required unless RECFLEET_PROFILE=dev)",
    { secret: true },
  ),
  profile: oneOf("RECFLEET_PROFILE", ["dev", "prod"] as const, "prod"),
  dedupeCapacity: int("RECFLEET_DEDUPE_CAPACITY", 20_000, { min: 100, max: 10_000_000 }),
  replayHorizonMs: duration("RECFLEET_REPLAY_HORIZON", 86_400_000),
  replicaWaitMs: duration("RECFLEET_REPLICA_WAIT", 2_000),
  historyCap: int("RECFLEET_HISTORY_CAP", 100, { min: 1, max: 10_000 }),
  popularityHalfLifeMs: duration("RECFLEET_POPULARITY_HALF_LIFE", 86_400_000),
  attributionWindowMs: duration("RECFLEET_ATTRIBUTION_WINDOW", 30 * 60_000),
  attributionGraceMs: duration("RECFLEET_ATTRIBUTION_GRACE", 5 * 60_000),
  ...shredConfigSchema,
};
export type StoreConfig = ConfigOf<typeof storeConfigSchema>;

export interface StoreOptions {
  /**
   * Event-id fingerprints kept per input partition (ingest's claims, features' duplicate
   * filter): a second copy of an event is caught while fewer than this many newer events came
   * through its partition. Default 20,000 (about 1.5 MB of Redis per partition and stage).
   */
  dedupeCapacity: number;
  /**
   * How long recommendation markers live; must exceed any replay of `rec.requests` (its retention,
   * 1 d in the topic catalog). One marker per request (~130 bytes of Redis): rate × horizon.
   * Default 1 d.
   */
  replayHorizonMs: number;
  /**
   * How long a batch waits for a replica to acknowledge its writes (WAIT) before it is retried;
   * masters with a replica (on a cluster: any the topology lists and has not marked failed) are
   * waited for; 0 turns the wait off. Default 2 s.
   */
  replicaWaitMs: number;
  /** Items kept per user history. Default 100. */
  historyCap: number;
  /** Half-life of item popularity. Default 1 d. */
  popularityHalfLifeMs: number;
  /** A reward counts when 0 ≤ event.ts − servedAt ≤ window. Default 30 min. */
  attributionWindowMs: number;
  /** The record outlives the window by this much so lagging consumers still find it. Default 5 min. */
  attributionGraceMs: number;
  /** Minimum time between refresh-on-event requests for one user. Default 30 s. */
  refreshIntervalMs: number;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = {
  dedupeCapacity: 20_000,
  replicaWaitMs: 2_000,
  replayHorizonMs: 86_400_000,
  historyCap: 100,
  popularityHalfLifeMs: 86_400_000,
  attributionWindowMs: 30 * 60_000,
  attributionGraceMs: 5 * 60_000,
  refreshIntervalMs: 30_000,
};

/** Store options from any object that has some of them (a worker's whole config works); unknown keys are ignored. */
export function storeOptions(partial: Partial<StoreOptions> = {}): StoreOptions {
  const o = { ...DEFAULT_STORE_OPTIONS };
  for (const k of Object.keys(o) as (keyof StoreOptions)[]) {
    const v = partial[k];
    if (v !== undefined) o[k] = v;
  }
  for (const [k, v] of Object.entries(o)) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`store option ${k} must be a finite number ≥ 0, got ${v}`);
  }
  if (o.historyCap < 1 || !Number.isInteger(o.historyCap))
    throw new RangeError(`store option historyCap must be an integer ≥ 1, got ${o.historyCap}`);
  if (o.dedupeCapacity < 1 || !Number.isInteger(o.dedupeCapacity))
    throw new RangeError(`store option dedupeCapacity must be an integer ≥ 1, got ${o.dedupeCapacity}`);
  if (o.popularityHalfLifeMs <= 0)
    throw new RangeError(`store option popularityHalfLifeMs must be > 0, got ${o.popularityHalfLifeMs}`);
  return o;
}

/** Log of an event's popularity contribution weight·2^(ts/halfLife): the score is log Σ, read back as exp(score − now·ln2/halfLife). */
export function popularityLogWeight(weight: number, ts: number, halfLifeMs: number): number {
  return Math.log(weight) + (ts * Math.LN2) / halfLifeMs;
}

export function decayedPopularity(logScore: number, now: number, halfLifeMs: number): number {
  return Math.exp(logScore - (now * Math.LN2) / halfLifeMs);
}

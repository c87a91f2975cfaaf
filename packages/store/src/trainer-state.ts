/**
 * The trainer's own records in Redis (keys in trainerKeys): the fleet-wide training lock, the
 * last training outcome, and which worker embedded which shard of a version.
 */
import type { Redis } from "ioredis";
import type { Logger } from "@recfleet/runtime";
import { trainerKeys } from "./keys";
import { tryAcquireLock, type HeldLock } from "./lock";

export interface TrainerState {
  /** The fleet-wide training lock, or undefined when another run holds it. */
  tryAcquireTrainingLock(ttlMs: number, logger: Logger): Promise<HeldLock | undefined>;
  /** Stores a training outcome (any JSON object) for `recfleet model list`; `at` is added. */
  recordOutcome(outcome: object, at?: number): Promise<void>;
  lastOutcome(): Promise<unknown>;
  /** Notes that `workerId` started embedding `shard` of `version` (the last starter wins). */
  markShardStarted(version: string, shard: number, workerId: string): Promise<void>;
  /** Counts one embedded shard of `version` for `workerId`. */
  countShardEmbedded(version: string, workerId: string): Promise<void>;
  /** Worker id → shards of `version` it embedded. */
  embeddedBy(version: string): Promise<Record<string, number>>;
  /** Shard → worker id that last started it. */
  shardStarters(version: string): Promise<Record<string, string>>;
}

export function createTrainerState(redis: Redis, namespace: string): TrainerState {
  const keys = trainerKeys(namespace);
  return {
    tryAcquireTrainingLock: (ttlMs, logger) => tryAcquireLock(redis, keys.lock, ttlMs, logger),
    async recordOutcome(outcome, at = Date.now()) {
      await redis.set(keys.lastOutcome, JSON.stringify({ at, ...outcome }));
    },
    async lastOutcome() {
      const raw = await redis.get(keys.lastOutcome);
      return raw === null ? undefined : (JSON.parse(raw) as unknown);
    },
    async markShardStarted(version, shard, workerId) {
      await redis.hset(keys.embedStarted(version), String(shard), workerId);
    },
    async countShardEmbedded(version, workerId) {
      await redis.hincrby(keys.embedBy(version), workerId, 1);
    },
    async embeddedBy(version) {
      const out: Record<string, number> = {};
      for (const [worker, n] of Object.entries(await redis.hgetall(keys.embedBy(version)))) out[worker] = Number(n);
      return out;
    },
    shardStarters: (version) => redis.hgetall(keys.embedStarted(version)),
  };
}

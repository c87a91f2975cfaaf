/**
 * Model registry in Redis.
 *
 * Registry: each version has a meta hash (status, checksums, metrics, item count, dim) and its
 * artefacts as binary strings; item vectors are written per shard by embed-items jobs under
 * the version, and `promote` flips the current version atomically only when every shard is
 * present. Artefacts carry SHA-256 checksums so a corrupt one is refused at load. (The trainer's
 * training data is not here: each run reads an offset range of `events` from Kafka.)
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { NonRetriableError } from "@recfleet/runtime";
import type { ModelVersionAnnouncement } from "@recfleet/contracts";
import { SCRIPTS, runScript } from "./scripts";
import { modelKeys } from "./keys";

export class CorruptArtefactError extends NonRetriableError {
  constructor(version: string, artefact: string, why: string) {
    super(
      `model ${version} artefact ${artefact} is corrupt (${why}); roll back with \`npx recfleet model rollback\` or retrain`,
      { context: { version, artefact } },
    );
  }
}

export class UnknownModelVersionError extends NonRetriableError {
  constructor(version: string) {
    super(
      `model version ${JSON.stringify(version)} is not in the registry; list versions with \`npx recfleet model list\``,
      { context: { version } },
    );
  }
}

/** `rollback` with no version promoted before the current one. */
export class NoRollbackTargetError extends NonRetriableError {
  constructor() {
    super("no earlier promoted version to roll back to (`recfleet model list` shows the history)");
  }
}

export type ModelStatus = "candidate" | "current" | "retired";

export interface ModelMeta {
  version: string;
  createdAt: number;
  status: ModelStatus;
  itemCount: number;
  dim: number;
  shards: number;
  shardSize: number;
  /** artefact name → sha256 hex */
  checksums: Record<string, string>;
  metrics: Record<string, number>;
  trainingDataRange: string;
  /**
   * The offsets of `events` the version was trained on (per partition, [start, end)) and the oldest
   * event time kept: reading them again gives the same events (those of erased users excepted).
   */
  trainingWindow?: { minTs: number; partitions: { partition: number; start: string; end: string }[] };
  promotedAt?: number;
  /** What differential privacy the training run gave (unit, ε, δ, noise, clip, …); absent: none. */
  privacy?: Record<string, number | string>;
}

/** The model.versions message announcing a version (after a rollback: `rollbackFrom` in its metrics). */
export function announcementOf(meta: ModelMeta, extraMetrics: Record<string, string> = {}): ModelVersionAnnouncement {
  return {
    version: meta.version,
    createdAt: meta.createdAt,
    itemCount: meta.itemCount,
    dim: meta.dim,
    metrics: { ...meta.metrics, ...extraMetrics },
  };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export interface ModelRegistry {
  putVersion(meta: Omit<ModelMeta, "checksums" | "status">, artefacts: Record<string, Uint8Array>): Promise<void>;
  getMeta(version: string): Promise<ModelMeta | undefined>;
  listVersions(): Promise<ModelMeta[]>;
  /** Verifies the checksum recorded at putVersion; throws CorruptArtefactError otherwise. */
  loadArtefact(version: string, name: string): Promise<Buffer>;
  currentVersion(): Promise<string | undefined>;
  /** Idempotent: writing the same shard twice stores the same bytes. */
  writeItemShard(version: string, shard: number, vectors: Float32Array): Promise<void>;
  shardsDone(version: string): Promise<number>;
  /** All item vectors of a version in one buffer (rows in vocabulary order). */
  readItemMatrix(version: string): Promise<Float32Array>;
  /** Makes the version current if every shard is embedded; returns the previous version. */
  promote(version: string): Promise<{ promoted: boolean; previous?: string; shardsDone: number }>;
  /** Makes the version promoted before the current one current again. */
  rollback(): Promise<{ from: string; to: string }>;
  /** Deletes versions that are neither current nor the rollback target and older than graceMs. */
  collectGarbage(graceMs: number, now?: number): Promise<string[]>;
}

export function createModelRegistry(redis: Redis, namespace: string): ModelRegistry {
  const k = modelKeys(namespace);
  const readMeta = async (version: string): Promise<ModelMeta | undefined> => {
    const raw = await redis.hget(k.meta(version), "json");
    if (!raw) return undefined;
    const meta = JSON.parse(raw) as ModelMeta;
    const status = await redis.hget(k.meta(version), "status");
    const promotedAt = await redis.hget(k.meta(version), "promotedAt");
    return {
      ...meta,
      status: (status as ModelStatus | null) ?? meta.status,
      ...(promotedAt ? { promotedAt: Number(promotedAt) } : {}),
    };
  };
  const registry: ModelRegistry = {
    async putVersion(meta, artefacts) {
      const checksums: Record<string, string> = {};
      const tx = redis.multi();
      for (const [name, bytes] of Object.entries(artefacts)) {
        checksums[name] = sha256(bytes);
        tx.set(k.artefact(meta.version, name), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      }
      const full: ModelMeta = { ...meta, checksums, status: "candidate" };
      tx.hset(k.meta(meta.version), "json", JSON.stringify(full), "status", "candidate");
      tx.zadd(k.versions, meta.createdAt, meta.version);
      await tx.exec();
    },
    getMeta: readMeta,
    async listVersions() {
      const versions = await redis.zrange(k.versions, 0, -1);
      const metas = await Promise.all(versions.map(readMeta));
      return metas.filter((m): m is ModelMeta => m !== undefined);
    },
    async loadArtefact(version, name) {
      const meta = await readMeta(version);
      if (!meta) throw new UnknownModelVersionError(version);
      const expected = meta.checksums[name];
      if (!expected) throw new CorruptArtefactError(version, name, "no checksum recorded");
      const bytes = await redis.getBuffer(k.artefact(version, name));
      if (!bytes) throw new CorruptArtefactError(version, name, "missing");
      const actual = sha256(bytes);
      if (actual !== expected)
        throw new CorruptArtefactError(
          version,
          name,
          `sha256 ${actual.slice(0, 12)}… ≠ recorded ${expected.slice(0, 12)}…`,
        );
      return bytes;
    },
    async currentVersion() {
      return (await redis.get(k.current)) ?? undefined;
    },
    async writeItemShard(version, shard, vectors) {
      const tx = redis.multi();
      tx.set(k.itemShard(version, shard), Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
      tx.hset(k.shardsDone(version), String(shard), String(vectors.length));
      await tx.exec();
    },
    async shardsDone(version) {
      return redis.hlen(k.shardsDone(version));
    },
    async readItemMatrix(version) {
      const meta = await readMeta(version);
      if (!meta) throw new UnknownModelVersionError(version);
      const matrix = new Float32Array(meta.itemCount * meta.dim);
      for (let shard = 0; shard < meta.shards; shard++) {
        const bytes = await redis.getBuffer(k.itemShard(version, shard));
        const start = shard * meta.shardSize * meta.dim;
        const expectedLength = Math.min(meta.shardSize, meta.itemCount - shard * meta.shardSize) * meta.dim * 4;
        if (!bytes || bytes.byteLength !== expectedLength)
          throw new CorruptArtefactError(
            version,
            `item shard ${shard}`,
            bytes ? `${bytes.byteLength} bytes, expected ${expectedLength}` : "missing",
          );
        // Copy straight into the one matrix: no per-shard Float32Array survives this loop.
        new Uint8Array(matrix.buffer, start * 4, bytes.byteLength).set(bytes);
      }
      return matrix;
    },
    async promote(version) {
      const meta = await readMeta(version);
      if (!meta) throw new UnknownModelVersionError(version);
      const reply = (await runScript(
        redis,
        SCRIPTS.promoteModel,
        [k.current, k.history, k.shardsDone(version), k.meta(version)],
        [version, meta.shards, Date.now()],
      )) as [number, string];
      if (reply[0] !== 1) return { promoted: false, shardsDone: Number(reply[1]) };
      const previous = reply[1] || undefined;
      if (previous && previous !== version) await redis.hset(k.meta(previous), "status", "retired");
      return { promoted: true, ...(previous ? { previous } : {}), shardsDone: meta.shards };
    },
    async rollback() {
      const [current, previous] = await redis.lrange(k.history, 0, 1);
      if (!current || !previous) throw new NoRollbackTargetError();
      if (!(await readMeta(previous))) throw new UnknownModelVersionError(previous);
      const tx = redis.multi();
      tx.set(k.current, previous);
      tx.lpop(k.history);
      tx.hset(k.meta(previous), "status", "current");
      tx.hset(k.meta(current), "status", "retired");
      await tx.exec();
      return { from: current, to: previous };
    },
    async collectGarbage(graceMs, now = Date.now()) {
      const keep = new Set((await redis.lrange(k.history, 0, 1)).filter(Boolean));
      const cur = await redis.get(k.current);
      if (cur) keep.add(cur);
      const removed: string[] = [];
      for (const meta of await registry.listVersions()) {
        if (keep.has(meta.version) || now - meta.createdAt < graceMs) continue;
        const tx = redis.multi();
        for (const name of Object.keys(meta.checksums)) tx.del(k.artefact(meta.version, name));
        for (let s = 0; s < meta.shards; s++) tx.del(k.itemShard(meta.version, s));
        tx.del(k.shardsDone(meta.version), k.meta(meta.version));
        tx.zrem(k.versions, meta.version);
        tx.lrem(k.history, 0, meta.version);
        await tx.exec();
        removed.push(meta.version);
      }
      return removed;
    },
  };
  return registry;
}

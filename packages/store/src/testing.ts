/**
 * Test, bench and diagnostic helpers: walking Redis with SCAN and publishing a model version in
 * one step. Never used by production code paths (workers find keys through StoreKeys, erasure
 * through userKeys(), and the trainer publishes through its embed fan-out).
 */
import type { ChainableCommander, Redis } from "ioredis";
import { commandEach, currentMasters } from "./cluster";
import type { ModelRegistry } from "./models";
import type { Snapshot, KeyValue } from "./snapshot";

export { diffSnapshots, renamespace, type Snapshot, type KeyValue } from "./snapshot";
export { ReferenceStore } from "./reference";

export async function scanKeys(redis: Redis, match: string): Promise<string[]> {
  const keys = new Set<string>();
  // A cluster's keys are spread over its masters: scan each (asked, not ioredis' list, which can
  // still call a just-promoted replica a replica).
  for (const node of await currentMasters(redis)) {
    let cursor = "0";
    do {
      const [next, batch] = await node.scan(cursor, "MATCH", match, "COUNT", 1000);
      cursor = next;
      for (const k of batch) keys.add(k);
    } while (cursor !== "0");
  }
  return [...keys].sort();
}

/** Runs one command per key (commandEach: a pipeline on one Redis, separate commands on a cluster). */
async function perKey<T>(
  redis: Redis,
  keys: readonly string[],
  command: (r: Redis | ChainableCommander, key: string) => unknown,
): Promise<T[]> {
  return (await commandEach(redis, keys, command)).map(([err, value]) => {
    if (err) throw err;
    return value as T;
  });
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Reads every key matching `match` (e.g. "ns:*") with its value. */
export async function snapshotRedis(redis: Redis, match: string): Promise<Snapshot> {
  const keys = await scanKeys(redis, match);
  const out: Snapshot = new Map();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const types = (await perKey<string>(redis, chunk, (r, k) => r.type(k))).map(String);
    const typeOf = new Map(chunk.map((k, j) => [k, types[j]]));
    const values = await perKey<unknown>(redis, chunk, (r, k) => {
      const t = typeOf.get(k);
      if (t === "string") return r.get(k);
      if (t === "hash") return r.hgetallBuffer(k);
      if (t === "set") return r.smembers(k);
      if (t === "zset") return r.zrange(k, 0, -1, "WITHSCORES");
      if (t === "stream") return r.xrange(k, "-", "+");
      return r.exists(k);
    });
    chunk.forEach((k, j) => {
      const t = types[j];
      const v = values[j];
      let kv: KeyValue | undefined;
      if (t === "string" && typeof v === "string") kv = { type: "string", value: v };
      else if (t === "hash")
        kv = {
          type: "hash",
          // Binary fields (xb:, float32 bytes) as base64, the rest as text.
          value: Object.fromEntries(
            Object.entries(v as Record<string, Buffer>)
              .map(([f, b]) => [f, f.startsWith("xb:") ? b.toString("base64") : b.toString()] as const)
              .sort(([a], [b]) => cmp(a, b)),
          ),
        };
      else if (t === "set") kv = { type: "set", value: [...(v as string[])].sort() };
      else if (t === "zset") {
        const flat = v as string[];
        const pairs: [string, number][] = [];
        for (let x = 0; x + 1 < flat.length; x += 2) pairs.push([flat[x]!, Number(flat[x + 1])]);
        kv = { type: "zset", value: pairs };
      } else if (t === "stream") {
        kv = {
          type: "stream",
          value: (v as [string, string[]][]).map(([, fields]) => {
            const rec: Record<string, string> = {};
            for (let x = 0; x + 1 < fields.length; x += 2) rec[fields[x]!] = fields[x + 1]!;
            return rec;
          }),
        };
      }
      if (kv) out.set(k, kv);
    });
  }
  return out;
}

/** Every place (key name or value) in the snapshot where `needle` occurs. */
export function findInSnapshot(snapshot: Snapshot, needle: string): string[] {
  const hits: string[] = [];
  for (const [key, kv] of snapshot) {
    if (key.includes(needle)) hits.push(`key ${key}`);
    if (JSON.stringify(kv.value).includes(JSON.stringify(needle).slice(1, -1))) hits.push(`value of ${key}`);
  }
  return hits;
}

export interface PublishedVersion {
  version: string;
  dim: number;
  shardSize: number;
  /** The version's artefacts (towers' exportModelArtefacts). */
  artefacts: Record<string, Uint8Array>;
  /** Item vectors, itemCount × dim in vocabulary order. */
  itemMatrix: Float32Array;
}

/**
 * What the trainer's promotion does, done directly: register the version with its artefacts,
 * write its item vectors shard by shard, make it current. Throws when the promotion is refused.
 */
export async function publishModelVersion(registry: ModelRegistry, published: PublishedVersion): Promise<void> {
  const { version, dim, shardSize, itemMatrix } = published;
  const itemCount = itemMatrix.length / dim;
  const shards = Math.ceil(itemCount / shardSize);
  const meta = {
    version,
    createdAt: Date.now(),
    itemCount,
    dim,
    shards,
    shardSize,
    metrics: {},
    trainingDataRange: "",
  };
  await registry.putVersion(meta, published.artefacts);
  for (let s = 0; s < shards; s++) {
    const rows = itemMatrix.slice(s * shardSize * dim, Math.min(itemCount, (s + 1) * shardSize) * dim);
    await registry.writeItemShard(version, s, rows);
  }
  const { promoted } = await registry.promote(version);
  if (!promoted) throw new Error(`model ${version} was not promoted`);
}

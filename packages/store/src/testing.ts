/**
 * Test and diagnostic helpers that walk Redis with SCAN. Never used by production code paths
 * (workers find keys through StoreKeys, erasure through userKeys()).
 */
import type { Redis } from "ioredis";
import type { Snapshot, KeyValue } from "./snapshot";

export { diffSnapshots, renamespace, type Snapshot, type KeyValue } from "./snapshot";
export { ReferenceStore } from "./reference";

export async function scanKeys(redis: Redis, match: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", match, "COUNT", 1000);
    cursor = next;
    for (const k of batch) keys.add(k);
  } while (cursor !== "0");
  return [...keys].sort();
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Reads every key matching `match` (e.g. "ns:*") with its value. */
export async function snapshotRedis(redis: Redis, match: string): Promise<Snapshot> {
  const keys = await scanKeys(redis, match);
  const out: Snapshot = new Map();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const tp = redis.pipeline();
    for (const k of chunk) tp.type(k);
    const types = ((await tp.exec()) ?? []).map(([, t]) => String(t));
    const vp = redis.pipeline();
    chunk.forEach((k, j) => {
      const t = types[j];
      if (t === "string") vp.get(k);
      else if (t === "hash") vp.hgetall(k);
      else if (t === "set") vp.smembers(k);
      else if (t === "zset") vp.zrange(k, 0, -1, "WITHSCORES");
      else if (t === "stream") vp.xrange(k, "-", "+");
      else vp.exists(k);
    });
    const values = ((await vp.exec()) ?? []).map(([, v]) => v);
    chunk.forEach((k, j) => {
      const t = types[j];
      const v = values[j];
      let kv: KeyValue | undefined;
      if (t === "string" && typeof v === "string") kv = { type: "string", value: v };
      else if (t === "hash") kv = { type: "hash", value: Object.fromEntries(Object.entries(v as Record<string, string>).sort(([a], [b]) => cmp(a, b))) };
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

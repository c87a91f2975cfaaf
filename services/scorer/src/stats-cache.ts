/**
 * Item statistics read through a short-lived cache. The store keeps them in REC_SHARDS hashes
 * that every read sums, so one run's read is candidates × 6 fields × 8 shards (~20,000 fields for
 * six requests): 10 of a 20 ms run at 200 requests/s (docs/benchmarks.md). The statistics move
 * with clicks that reach Redis through Kafka, ingest and features seconds after the impression,
 * so reading them a second late changes what the bandits know by less than that pipeline already
 * does. Each entry lives `ttlMs` times a random factor in [0.5, 1), so a catalogue read at once
 * is not re-read all at once; at most `maxEntries` are kept (the oldest read goes first).
 */
import type { ItemStats } from "@recfleet/store";
import type { ScoringStore } from "./handler";

export interface StatsCacheOptions {
  /** How long a read stays fresh (SCORER_STATS_CACHE_MS); 0 = every read goes to the store. */
  ttlMs: number;
  maxEntries?: number;
  now?: () => number;
  random?: () => number;
}

/** `store` with readItemStats served from the cache where fresh; only the rest is read, in one call. */
export function cachingItemStats<S extends Pick<ScoringStore, "readItemStats">>(
  store: S,
  options: StatsCacheOptions,
): S {
  if (options.ttlMs <= 0) return store;
  const { ttlMs, maxEntries = 200_000, now = Date.now, random = Math.random } = options;
  const cache = new Map<string, { stats: ItemStats; expires: number }>();
  const keyOf = (itemId: string, policy: string | undefined) =>
    policy === undefined ? itemId : `${policy}\u0000${itemId}`;
  const readItemStats = async (itemIds: readonly string[], policy?: string): Promise<ItemStats[]> => {
    const t = now();
    const out = new Array<ItemStats>(itemIds.length);
    const missing: number[] = [];
    itemIds.forEach((itemId, i) => {
      const hit = cache.get(keyOf(itemId, policy));
      if (hit && hit.expires > t) out[i] = hit.stats;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const read = await store.readItemStats(
        missing.map((i) => itemIds[i]!),
        policy,
      );
      missing.forEach((i, j) => {
        const stats = read[j]!;
        out[i] = stats;
        const key = keyOf(itemIds[i]!, policy);
        // Re-inserted, so Map order stays oldest read first.
        cache.delete(key);
        cache.set(key, { stats, expires: t + ttlMs * (0.5 + random() / 2) });
      });
      for (const key of cache.keys()) {
        if (cache.size <= maxEntries) break;
        cache.delete(key);
      }
    }
    return out;
  };
  return { ...store, readItemStats };
}

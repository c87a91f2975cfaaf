/**
 * Statistics the scorer exposes — the popular-items fallback of cold start and the item
 * statistics policies read (and the decision log records) — released with Gaussian noise when a
 * budget is set (STATS_DP_EPSILON). Each release interval is one (ε, δ)-DP release per
 * statistic: the noise of an (interval, item, field) is fixed, derived from a fleet-wide key,
 * so asking again — from any scorer process — returns the same noisy value instead of a fresh
 * draw that averaging could remove. The noise scale comes from the RDP accountant (one
 * Gaussian mechanism, no subsampling).
 *
 * The unit is one event: popularity moves by at most the largest event weight per event
 * (STATS_DP_POPULARITY_SENSITIVITY), a count by 1. The feature store does not bound how many
 * events one user adds to an item, so this is event-level, not user-level, privacy; and
 * releases compose over intervals (docs/privacy.md).
 */
import { createHmac } from "node:crypto";
import { noiseMultiplierFor } from "@recfleet/towers";
import type { ItemStats } from "@recfleet/store";
import type { ScoringStore } from "./handler";

export interface StatsPrivacyOptions {
  epsilon: number;
  delta: number;
  /** Noise is fixed within an interval of this length (ms); each interval is one release. */
  releaseMs: number;
  /** The most one event can add to an item's popularity (the largest event weight). */
  popularitySensitivity: number;
  /** Items whose popularity is noised and re-ranked per release (the fallback list is cut from them). */
  popularPool: number;
  /** Fleet-wide secret the noise derives from (every scorer releases the same values). */
  noiseKey: string;
}

/** σ per unit of sensitivity of one Gaussian release with (ε, δ). */
export function gaussianNoisePerUnit(epsilon: number, delta: number): number {
  return noiseMultiplierFor(epsilon, { sampleRate: 1, steps: 1, delta });
}

/** A standard normal fixed by (key, label): two 32-bit uniforms of an HMAC, Box–Muller. */
export function keyedNormal(key: string, label: string): number {
  const h = createHmac("sha256", key).update(label).digest();
  const a = (h.readUInt32BE(0) + 1) / 4294967297;
  const b = h.readUInt32BE(4) / 4294967296;
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
}

export function withStatsPrivacy<S extends ScoringStore>(
  store: S,
  options: StatsPrivacyOptions,
  now: () => number = Date.now,
): S {
  const sigma = gaussianNoisePerUnit(options.epsilon, options.delta);
  const noise = (bucket: number, label: string) => sigma * keyedNormal(options.noiseKey, `${bucket}|${label}`);
  let popular: { bucket: number; items: { itemId: string; score: number }[] } | undefined;
  const counted = (bucket: number, itemId: string, field: string, value: number) =>
    Math.max(0, value + noise(bucket, `${itemId}|${field}`));
  return {
    ...store,
    async readPopularItems(n: number, at?: number) {
      const t = at ?? now();
      const bucket = Math.floor(t / options.releaseMs);
      if (popular?.bucket !== bucket) {
        const pool = await store.readPopularItems(Math.max(n, options.popularPool), bucket * options.releaseMs);
        const items = pool
          .map((p) => ({
            itemId: p.itemId,
            score: Math.max(0, p.score + options.popularitySensitivity * noise(bucket, `${p.itemId}|pop`)),
          }))
          .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1));
        popular = { bucket, items };
      }
      return popular.items.slice(0, n);
    },
    async readItemStats(itemIds: readonly string[], policy?: string) {
      const bucket = Math.floor(now() / options.releaseMs);
      return (await store.readItemStats(itemIds, policy)).map((s): ItemStats => {
        const out: ItemStats = {
          itemId: s.itemId,
          impressions: counted(bucket, s.itemId, "imp", s.impressions),
          clicks: counted(bucket, s.itemId, "clk", s.clicks),
          expectedClicks: counted(bucket, s.itemId, "exp", s.expectedClicks),
        };
        if (s.policy)
          out.policy = {
            id: s.policy.id,
            impressions: counted(bucket, s.itemId, `imp:${s.policy.id}`, s.policy.impressions),
            clicks: counted(bucket, s.itemId, `clk:${s.policy.id}`, s.policy.clicks),
            expectedClicks: counted(bucket, s.itemId, `exp:${s.policy.id}`, s.policy.expectedClicks),
          };
        return out;
      });
    },
  };
}

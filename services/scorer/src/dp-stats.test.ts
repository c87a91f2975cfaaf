import { test } from "node:test";
import assert from "node:assert/strict";
import type { ItemStats } from "@recfleet/store";
import type { ScoringStore } from "./handler";
import { gaussianNoisePerUnit, withStatsPrivacy } from "./dp-stats";

const ITEMS = Array.from({ length: 2000 }, (_, i) => `item-${i}`);
const plain: ScoringStore = {
  readUsers: async (users) => users.map(() => ({ history: [], seen: [] })),
  readPopularItems: async (n) => ITEMS.slice(0, n).map((itemId, i) => ({ itemId, score: 1000 - i * 0.1 })),
  readItemStats: async (ids, policy) =>
    ids.map((itemId): ItemStats => ({
      itemId,
      impressions: 500,
      clicks: 50,
      expectedClicks: 40,
      ...(policy ? { policy: { id: policy, impressions: 100, clicks: 10, expectedClicks: 8 } } : {}),
    })),
};

function std(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

test("DP item statistics: Gaussian noise of the calibrated scale, fixed within a release interval, fresh in the next", async () => {
  let clock = 10 * 60_000;
  const options = {
    epsilon: 1,
    delta: 1e-6,
    releaseMs: 60_000,
    popularitySensitivity: 5,
    popularPool: 2000,
    noiseKey: "k".repeat(32),
  };
  const store = withStatsPrivacy(plain, options, () => clock);
  const sigma = gaussianNoisePerUnit(1, 1e-6);
  // The classic bound √(2 ln(1.25/δ))/ε ≈ 5.3 is loose; RDP calibration is tighter but of that order.
  assert.ok(sigma > 3 && sigma < 5.3, `σ ${sigma}`);
  const a = await store.readItemStats(ITEMS, "greedy");
  const clicks = a.map((s) => s.clicks - 50);
  assert.ok(Math.abs(std(clicks) - sigma) < 0.1 * sigma, `empirical σ ${std(clicks)} vs ${sigma}`);
  assert.ok(a.every((s) => s.clicks >= 0 && s.policy!.clicks >= 0));
  // Asking again in the same interval gives the same values: no averaging the noise away.
  assert.deepEqual(await store.readItemStats(ITEMS.slice(0, 5), "greedy"), a.slice(0, 5));
  clock += 60_000;
  const b = await store.readItemStats(ITEMS.slice(0, 5), "greedy");
  assert.notDeepEqual(b, a.slice(0, 5));
  // The popular list is a noisy re-ranking of the pool, one release per interval.
  const top = await store.readPopularItems(20);
  assert.deepEqual(await store.readPopularItems(20), top);
  assert.notDeepEqual(
    top.map((p) => p.itemId),
    ITEMS.slice(0, 20),
    "noise of σ≈5·4 reorders items 0.1 apart",
  );
  assert.ok(top.every((p, i) => i === 0 || top[i - 1]!.score >= p.score));
});

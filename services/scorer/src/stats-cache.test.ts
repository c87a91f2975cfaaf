import { test } from "node:test";
import assert from "node:assert/strict";
import type { ItemStats } from "@recfleet/store";
import { cachingItemStats } from "./stats-cache";

function countingStore() {
  const reads: { ids: string[]; policy?: string }[] = [];
  let clicks = 0;
  return {
    reads,
    click: () => void clicks++,
    other: () => "kept",
    async readItemStats(ids: readonly string[], policy?: string): Promise<ItemStats[]> {
      reads.push({ ids: [...ids], ...(policy ? { policy } : {}) });
      return ids.map((itemId) => ({ itemId, impressions: 10, clicks, expectedClicks: 1 }));
    },
  };
}

test("cachingItemStats: fresh entries come from the cache, only the rest is read, per policy; stale ones are read again", async () => {
  let t = 0;
  const store = countingStore();
  const cached = cachingItemStats(store, { ttlMs: 1000, now: () => t, random: () => 0.999 });
  assert.equal(cached.other(), "kept", "the rest of the store is untouched");

  assert.deepEqual(
    (await cached.readItemStats(["a", "b"], "greedy")).map((s) => s.itemId),
    ["a", "b"],
  );
  store.click();
  t = 500;
  const mixed = await cached.readItemStats(["b", "c", "a"], "greedy");
  assert.deepEqual(
    mixed.map((s) => [s.itemId, s.clicks]),
    [
      ["b", 0],
      ["c", 1],
      ["a", 0],
    ],
    "in the order asked",
  );
  assert.deepEqual(store.reads.at(-1), { ids: ["c"], policy: "greedy" });
  await cached.readItemStats(["a"], "thompson:16");
  assert.deepEqual(
    store.reads.at(-1),
    { ids: ["a"], policy: "thompson:16" },
    "another policy's statistics are its own",
  );
  await cached.readItemStats(["a"]);
  assert.deepEqual(store.reads.at(-1), { ids: ["a"] }, "so are the pooled ones");

  t = 1000; // a and b (read at 0) are stale; c (read at 500) is not
  const later = await cached.readItemStats(["a", "b", "c"], "greedy");
  assert.deepEqual(store.reads.at(-1), { ids: ["a", "b"], policy: "greedy" });
  assert.deepEqual(
    later.map((s) => s.clicks),
    [1, 1, 1],
  );
});

test("cachingItemStats: entries expire between half and all of the ttl; at most maxEntries are kept; ttl 0 is the store itself", async () => {
  let t = 0;
  const store = countingStore();
  const cached = cachingItemStats(store, { ttlMs: 1000, maxEntries: 2, now: () => t, random: () => 0 });
  await cached.readItemStats(["a", "b", "c"]);
  t = 499;
  await cached.readItemStats(["b", "c"]);
  assert.equal(store.reads.length, 1, "b and c fresh for half the ttl");
  await cached.readItemStats(["a"]);
  assert.deepEqual(store.reads.at(-1), { ids: ["a"] }, "a was evicted: the oldest read beyond maxEntries");
  t = 500;
  await cached.readItemStats(["c"]);
  assert.deepEqual(store.reads.at(-1), { ids: ["c"] }, "stale at half the ttl when the random factor is 0");
  assert.equal(cachingItemStats(store, { ttlMs: 0 }), store);
});

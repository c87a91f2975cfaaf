import { test, after } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Redis } from "ioredis";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { createStore, decodeUserState, encodeUserState, seenItems, type FeatureEvent } from "./index";
import { decodeLegacyUserHash } from "./user-state";
import { ReferenceStore, diffSnapshots, renamespace, snapshotRedis, findInSnapshot, scanKeys } from "./testing";
import { scenarioArb } from "./fixtures";
import { pseudonymise } from "./pseudonym";

const infra = testInfra();
const redis = new Redis(infra.redisUrl);
after(() => redis.quit());

const OPTIONS = { historyCap: 3, attributionWindowMs: 10 * 60_000, refreshIntervalMs: 3_600_000 };
const MIN = 60_000;

test("apply-events Lua equals the reference model, and a full replay changes nothing", async () => {
  const now = Date.now();
  await fc.assert(
    fc.asyncProperty(
      scenarioArb(now, OPTIONS.attributionWindowMs),
      fc.integer({ min: 1, max: 7 }),
      async (s, batchSize) => {
        const ns = uniqueName("st");
        const store = createStore(redis, ns, OPTIONS);
        const ref = new ReferenceStore(ns, OPTIONS, () => now);
        for (const r of s.recs) {
          assert.equal(await store.recordRecommendation(r), ref.recordRecommendation(r));
        }
        const stream = s.stream.map((i) => s.pool[i]!);
        for (let i = 0; i < stream.length; i += batchSize) {
          const batch = stream.slice(i, i + batchSize);
          const got = await store.applyEvents(batch);
          const want = ref.applyEvents(batch);
          assert.deepEqual(
            { ...got, refresh: got.refresh.map((e) => e.eventId) },
            { ...want, refresh: want.refresh.map((e) => e.eventId) },
          );
        }
        const state = await snapshotRedis(redis, `${ns}:*`);
        assert.deepEqual(diffSnapshots(ref.snapshot(), state), []);
        // Everything redelivered at once (a consumer restarting from offset 0): no change at all.
        const replay = await store.applyEvents(stream);
        assert.equal(replay.applied, 0);
        assert.equal(replay.replayed, stream.length);
        assert.deepEqual(diffSnapshots(state, await snapshotRedis(redis, `${ns}:*`)), []);
        // Another order, another namespace: the same state.
        const ns2 = uniqueName("st");
        const store2 = createStore(redis, ns2, OPTIONS);
        for (const r of s.recs) await store2.recordRecommendation(r);
        await store2.applyEvents([...stream].reverse());
        assert.deepEqual(
          diffSnapshots(renamespace(state, `${ns}:`, `${ns2}:`), await snapshotRedis(redis, `${ns2}:*`)),
          [],
        );
      },
    ),
    { numRuns: 25 },
  );
});

const user = (i: number) => pseudonymise("integration-secret-0123", `user-${i}`);
const ev = (
  id: string,
  u: string,
  itemId: string,
  type: FeatureEvent["type"],
  ts: number,
  extra: Partial<FeatureEvent> = {},
): FeatureEvent => ({
  eventId: id,
  user: u,
  itemId,
  type,
  ts,
  weight: type === "click" ? 2 : 1,
  markSeen: type !== "view",
  reward: type === "click",
  refresh: false,
  ...extra,
});

test("refresh requests come back in batch order, also when one event object sits in the batch twice", async () => {
  const store = createStore(redis, uniqueName("order"), { refreshIntervalMs: 3_600_000 });
  const now = Date.now();
  const first = ev("o1", user(21), "a", "purchase", now - 2000, { refresh: true });
  const second = ev("o2", user(22), "a", "purchase", now - 1000, { refresh: true });
  // The app resent `first` after `second`: its first position decides the order.
  const r = await store.applyEvents([first, ev("o3", user(23), "b", "view", now - 1500), second, first]);
  assert.deepEqual(
    r.refresh.map((e) => e.eventId),
    ["o1", "o2"],
  );
});

test("recordRecommendations: one pipeline writes what recordRecommendation writes one by one, answers in order, and survives a flushed script cache", async () => {
  const servedAt = Date.now();
  const recs = Array.from({ length: 6 }, (_, r) => ({
    recId: `rec-${r}`,
    policy: r % 2 ? "epsilon:0.1" : "greedy",
    servedAt: servedAt + r,
    modelVersion: "v1",
    items: [
      { itemId: `i${r}`, expected: 0.25, banditContext: [0.5, -1, r] },
      { itemId: "shared", expected: 0.125 },
    ],
  }));
  const one = uniqueName("rec1");
  const many = uniqueName("recN");
  const single = createStore(redis, one, OPTIONS);
  for (const rec of recs) assert.equal(await single.recordRecommendation(rec), true);
  const batched = createStore(redis, many, OPTIONS);
  await redis.script("FLUSH"); // every EVALSHA of the pipeline meets NOSCRIPT and falls back to EVAL
  assert.deepEqual(await batched.recordRecommendations(recs.slice(0, 4)), [true, true, true, true]);
  // Replays answer false in their places, new records true.
  assert.deepEqual(await batched.recordRecommendations([recs[1]!, recs[4]!, recs[3]!, recs[5]!]), [
    false,
    true,
    false,
    true,
  ]);
  assert.deepEqual(await batched.recordRecommendations([]), []);
  assert.deepEqual(
    diffSnapshots(
      renamespace(await snapshotRedis(redis, `${one}:*`), `${one}:`, `${many}:`),
      await snapshotRedis(redis, `${many}:*`),
    ),
    [],
  );
});

test("attribution: a click inside the window counts once per (recId, item); outside the window, before serving or off the slate it does not", async () => {
  const ns = uniqueName("attr");
  const store = createStore(redis, ns, { attributionWindowMs: 10 * MIN });
  const servedAt = Date.now() - 12 * MIN;
  const rec = {
    recId: "rec-1",
    policy: "epsilon:0.1",
    servedAt,
    items: [{ itemId: "a", expected: 0.25 }, { itemId: "b", expected: 0.5 }, { itemId: "c" }],
  };
  assert.equal(await store.recordRecommendation(rec), true);
  assert.equal(await store.recordRecommendation(rec), false, "a second record of the same recId is a no-op");
  const u = user(1);
  const r = await store.applyEvents([
    ev("c1", u, "a", "click", servedAt + 2 * MIN, { recId: "rec-1" }),
    ev("c2", u, "a", "click", servedAt + 3 * MIN, { recId: "rec-1" }), // duplicate click: same (rec, item), other event
    ev("c1", u, "a", "click", servedAt + 2 * MIN, { recId: "rec-1" }), // the same event redelivered
    ev("c3", u, "b", "click", servedAt + 11 * MIN, { recId: "rec-1" }), // outside the window
    ev("c4", u, "c", "click", servedAt - 1, { recId: "rec-1" }), // before it was served
    ev("c5", u, "z", "click", servedAt + MIN, { recId: "rec-1" }), // not in the slate
    ev("c6", u, "c", "view", servedAt + MIN, { recId: "rec-1", reward: false }), // not a reward type
    ev("c7", u, "c", "click", servedAt + 10 * MIN, { recId: "rec-1" }), // at the window's edge: counts
    ev("c8", u, "b", "click", servedAt + MIN, { recId: "rec-unknown" }),
  ]);
  assert.equal(r.attributed, 2);
  assert.equal(r.replayed, 1);
  const stats = await store.readItemStats(["a", "b", "c", "z"], "epsilon:0.1");
  assert.deepEqual(
    stats.map((s) => [s.itemId, s.impressions, s.clicks, s.policy?.impressions, s.policy?.clicks]),
    [
      ["a", 1, 1, 1, 1],
      ["b", 1, 0, 1, 0],
      ["c", 1, 1, 1, 1],
      ["z", 0, 0, 0, 0],
    ],
  );
  assert.deepEqual(
    stats.map((s) => [s.expectedClicks, s.policy?.expectedClicks]),
    [
      [0.25, 0.25],
      [0.5, 0.5],
      [0, 0],
      [0, 0],
    ],
    "expected clicks are summed once per impression",
  );
  assert.deepEqual((await store.readItemStats(["a"], "greedy"))[0]!.policy, {
    id: "greedy",
    impressions: 0,
    clicks: 0,
    expectedClicks: 0,
  });
  const ttl = await redis.pttl(store.keys.rec("rec-1"));
  assert.ok(ttl > 0 && ttl <= 3 * MIN, `record TTL follows servedAt + window + grace (${ttl})`);
});

test("dedupe claims: new, then duplicate for another message, replay for the same message; bounded", async () => {
  const store = createStore(redis, uniqueName("claim"), { dedupeCapacity: 100 });
  assert.deepEqual(
    await store.claimEvents([
      { eventId: "e1", partition: 0, offset: 1 },
      { eventId: "e2", partition: 0, offset: 2 },
      { eventId: "e1", partition: 0, offset: 3 },
    ]),
    ["new", "new", "duplicate"],
  );
  assert.deepEqual(
    await store.claimEvents([
      { eventId: "e1", partition: 0, offset: 1 },
      { eventId: "e2", partition: 1, offset: 2 },
    ]),
    ["replay", "new"],
    "another partition has its own claims (a client's copies share a key, so a partition)",
  );
  const many = Array.from({ length: 300 }, (_, i) => ({ eventId: `m${i}`, partition: 0, offset: 10 + i }));
  await store.claimEvents(many);
  assert.equal(await redis.zcard(store.keys.claims("0")), 100, "only the newest fingerprints are kept");
  assert.deepEqual(await store.claimEvents([{ eventId: "m299", partition: 0, offset: 999 }]), ["duplicate"]);
});

test("read API: histories (most recent last), seen items, popularity", async () => {
  const ns = uniqueName("read");
  const store = createStore(redis, ns, { historyCap: 3, popularityHalfLifeMs: 3_600_000 });
  const now = Date.now();
  const [u1, u2] = [user(1), user(2)];
  await store.applyEvents([
    ev("e1", u1, "a", "view", now - 5000),
    ev("e2", u1, "b", "click", now - 1000),
    ev("e3", u1, "c", "purchase", now - 3000, { weight: 5 }),
    ev("e4", u1, "d", "view", now - 9000),
    ev("e5", u2, "a", "click", now - 2000),
    ev("e6", u2, "a", "view", now - 2 * 3_600_000), // two half-lives ago
  ]);
  const hist = await store.readUserHistories([u1, u2, user(3)], 2);
  const toSecond = (ms: number) => Math.floor(ms / 1000) * 1000; // histories keep whole seconds
  assert.deepEqual(hist[0], [
    { itemId: "c", type: "purchase", ts: toSecond(now - 3000) },
    { itemId: "b", type: "click", ts: toSecond(now - 1000) },
  ]);
  assert.deepEqual(
    hist[1]!.map((h) => h.ts),
    [toSecond(now - 2 * 3_600_000), toSecond(now - 2000)],
  );
  assert.deepEqual(hist[2], []);
  assert.equal((await store.readUserHistories([u1], 10))[0]!.length, 3, "capped at 3");
  assert.deepEqual(await store.readSeenItems([u1, u2]), [["b", "c"], ["a"]]);
  // The scorer's one read per user: the same history and seen items.
  assert.deepEqual(await store.readUsers([u1, u2, user(3)], 2), [
    { history: hist[0], seen: ["b", "c"] },
    { history: hist[1], seen: ["a"] },
    { history: [], seen: [] },
  ]);
  assert.deepEqual((await store.readUsers([u1], 0))[0]!.history, []);
  const pop = await store.readPopularItems(2, now);
  assert.deepEqual(
    pop.map((p) => p.itemId),
    ["c", "a"],
  );
  assert.ok(Math.abs(pop[0]!.score - 5 * 2 ** (-3000 / 3_600_000)) < 1e-9);
  assert.ok(Math.abs(pop[1]!.score - (2 ** (-5000 / 3_600_000) + 2 * 2 ** (-2000 / 3_600_000) + 0.25)) < 1e-9);
});

test("a user kept as the older hash (h/s/w:<p>) is read as before and converted on its next write, replays included", async () => {
  const ns = uniqueName("legacy");
  const store = createStore(redis, ns, { historyCap: 3 });
  const u = user(11);
  const key = store.keys.userState(u);
  const t0 = 1_790_000_000_000;
  const legacy = {
    h: [`${t0.toString(36)},v,a`, `${(t0 + 5000).toString(36)},p,b`].join(";"),
    s: "b,z",
    "w:0": "7",
  };
  await redis.hset(key, legacy);
  assert.deepEqual(await store.readSeenItems([u]), [["b", "z"]]);
  assert.deepEqual(
    (await store.readUserHistories([u], 5))[0]!.map((h) => h.itemId),
    ["a", "b"],
  );
  // Read beside packed users (one pipeline of GETs): the hash's WRONGTYPE still finds it.
  await store.applyEvents([ev("p1", user(12), "q", "click", t0, { partition: 1, offset: 1, markSeen: true })]);
  assert.deepEqual(await store.readSeenItems([user(12), u, user(13)]), [["q"], ["b", "z"], []]);
  // A replay (offset 7, at the watermark) changes nothing but still rewrites the key in the new layout.
  await store.applyEvents([ev("r1", u, "c", "click", t0 + 9000, { partition: 0, offset: 7, markSeen: true })]);
  assert.equal(await redis.type(key), "string");
  const converted = decodeLegacyUserHash(legacy);
  assert.equal(await redis.get(key), encodeUserState(converted));
  // A new event lands on top of the converted state.
  await store.applyEvents([ev("n1", u, "c", "click", t0 + 9000, { partition: 0, offset: 8, markSeen: true })]);
  const state = decodeUserState(await redis.get(key));
  assert.deepEqual(
    state.history.map((h) => h.itemId),
    ["a", "b", "c"],
  );
  assert.deepEqual(seenItems(state), ["b", "c", "z"]);
  assert.equal(state.watermarks.get("0"), 8);
});

test("eraseUser: nothing derived from the user remains; other users are untouched; the receipt names neither", async () => {
  const ns = uniqueName("erase");
  const store = createStore(redis, ns, { refreshIntervalMs: 3_600_000 });
  const now = Date.now();
  const [gone, kept] = [user(7), user(8)];
  const events = (u: string, p: string) => [
    ev(`${p}1`, u, "a", "view", now - 1000),
    ev(`${p}2`, u, "b", "purchase", now - 500, { refresh: true }),
  ];
  await store.applyEvents([...events(gone, "g"), ...events(kept, "k")]);
  // Keys older versions wrote (history and seen keys, type counts, user vectors) are erased too.
  for (const key of store.keys.legacyUserKeys(gone)) await redis.hset(key, "f", "1");
  // Every per-user key exists, so the erasure below is tested on each of them.
  for (const key of store.keys.userKeys(gone)) assert.equal(await redis.exists(key), 1, key);
  const before = await snapshotRedis(redis, `${ns}:*`);
  assert.ok(findInSnapshot(before, gone).length >= 5);
  const receipt = await store.eraseUser(gone);
  // The state hash and the refresh limit, and the five keys older layouts wrote.
  assert.equal(receipt.keysDeleted, 7);
  const after = await snapshotRedis(redis, `${ns}:*`);
  assert.deepEqual(findInSnapshot(after, gone), []);
  for (const [k, v] of before) if (k.includes(kept)) assert.deepEqual(after.get(k), v, k);
  const receipts = after.get(store.keys.erasures);
  assert.deepEqual(receipts, {
    type: "stream",
    value: [{ receipt: receipt.receiptId, at: String(receipt.at), keys: "7" }],
  });
  assert.equal((await store.eraseUser(gone)).keysDeleted, 0);
  assert.ok((await scanKeys(redis, `${ns}:u:${gone}*`)).length === 0);
});

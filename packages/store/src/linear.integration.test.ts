import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { storeKeys } from "./keys";
import { createStore } from "./store";

const redis = new Redis(testInfra().redisUrl);
test.after(() => redis.disconnect());

test("neural-linear bandit sums: impressions add xxᵀ and −p·x; a click adds x once per (rec, item), only inside the window", async () => {
  const ns = uniqueName("lin");
  const store = createStore(redis, ns, { attributionWindowMs: 60_000 });
  const d = 2;
  const servedAt = Date.now() - 10_000;
  const xa = [0.5, -0.25];
  const xb = [0.125, 1];
  await store.recordRecommendation({
    recId: "r1",
    policy: "linucb:1",
    servedAt,
    modelVersion: "v1",
    items: [
      { itemId: "a", expected: 0.2, banditContext: xa },
      { itemId: "b", expected: 0.1, banditContext: xb },
    ],
  });
  const a = new Float64Array(d * d);
  const b = new Float64Array(d);
  for (const [x, p] of [
    [xa, 0.2],
    [xb, 0.1],
  ] as const) {
    for (let i = 0; i < d; i++) {
      b[i]! -= p * x[i]!;
      for (let j = 0; j < d; j++) a[i * d + j]! += x[i]! * x[j]!;
    }
  }
  await store.addLinearImpressions("v1", d, a, b, 2);
  assert.equal(
    await store.addLinearRewards("v0", [{ recId: "r1", itemId: "a", ts: servedAt + 1000 }]),
    0,
    "a click on another version's slate is skipped",
  );
  const folded = await store.addLinearRewards("v1", [
    { recId: "r1", itemId: "a", ts: servedAt + 1000 },
    { recId: "r1", itemId: "a", ts: servedAt + 2000 }, // the same (rec, item) again: once only
    { recId: "r1", itemId: "b", ts: servedAt + 120_000 }, // outside the window
    { recId: "r-unknown", itemId: "a", ts: servedAt + 1000 },
  ]);
  assert.equal(folded, 1);
  const sums = await store.readLinearSums("v1", d);
  assert.equal(sums.count, 2);
  const close = (x: number, y: number) => Math.abs(x - y) < 1e-5;
  assert.ok(
    [...sums.a].every((v, i) => close(v, a[i]!)),
    `A = ${[...sums.a]}`,
  );
  // b = −0.2·xa − 0.1·xb + xa (the click on a)
  const expectedB = [0, 1].map((i) => -0.2 * xa[i]! - 0.1 * xb[i]! + xa[i]!);
  assert.ok(
    [...sums.b].every((v, i) => close(v, expectedB[i]!)),
    `b = ${[...sums.b]} expected ${expectedB}`,
  );
  assert.deepEqual([...(await store.readLinearSums("v2", d)).b], [0, 0], "each model version has its own state");
});

test("a click on a record with the text context of an older scorer ('x:' \"v1,v2\") is folded like a binary one", async () => {
  const ns = uniqueName("lin-text");
  const store = createStore(redis, ns, { attributionWindowMs: 60_000 });
  const servedAt = Date.now() - 10_000;
  const x = [0.1, -0.7, 3.25];
  for (const recId of ["new", "old"])
    await store.recordRecommendation({
      recId,
      policy: "linucb:1",
      servedAt,
      modelVersion: "v1",
      items: [{ itemId: "a", expected: 0.2, banditContext: x }],
    });
  // What the scorer before the binary form left in Redis: the same record with a text field.
  const oldKey = storeKeys(ns).rec("old");
  assert.equal(await redis.hdel(oldKey, "xb:a"), 1);
  await redis.hset(oldKey, "x:a", x.map((v) => v.toPrecision(6)).join(","));
  assert.equal(await store.addLinearRewards("v1", [{ recId: "new", itemId: "a", ts: servedAt + 1000 }]), 1);
  const once = await store.readLinearSums("v1", x.length);
  assert.equal(await store.addLinearRewards("v1", [{ recId: "old", itemId: "a", ts: servedAt + 1000 }]), 1);
  const twice = await store.readLinearSums("v1", x.length);
  x.forEach((v, i) => {
    assert.ok(Math.abs(once.b[i]! - v) < 1e-6, `binary: b[${i}] = ${once.b[i]} ≠ ${v}`);
    assert.ok(Math.abs(twice.b[i]! - 2 * v) < 1e-6, `text: b[${i}] = ${twice.b[i]} ≠ ${2 * v}`);
  });
});

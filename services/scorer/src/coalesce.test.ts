import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { coalescing } from "./coalesce";

test("coalescing: calls made while a run is in flight share the next run, up to maxItems", async () => {
  const runs: number[][] = [];
  const run = coalescing<number>(async (items) => {
    runs.push(items);
    await sleep(20);
  }, 5);
  await Promise.all([run([1]), run([2, 3]), run([4]), run([5, 6]), run([7])]);
  // The first goes alone; the next three fit in 5; the last goes after.
  assert.deepEqual(runs, [[1], [2, 3, 4, 5, 6], [7]]);
});

test("coalescing: a failed run fails exactly its callers, and later calls still run", async () => {
  const run = coalescing<number>(async (items) => {
    await sleep(5);
    if (items.includes(2)) throw new Error("boom");
  }, 10);
  const first = run([1]);
  const second = run([2]);
  const third = run([3]);
  await first;
  await assert.rejects(second, /boom/);
  await assert.rejects(third, /boom/); // shared the failed run
  await run([4]);
});

test("coalescing: an idle caller runs at once (no waiting for company)", async () => {
  let ran = 0;
  const run = coalescing<number>(async (items) => void (ran += items.length), 64);
  await run([1, 2]);
  assert.equal(ran, 2);
});

test("coalescing: with maxRuns 2 a second run starts while the first waits, never a third", async () => {
  const runs: number[][] = [];
  let inFlight = 0;
  let most = 0;
  const run = coalescing<number>(
    async (items) => {
      runs.push(items);
      most = Math.max(most, ++inFlight);
      await sleep(20);
      inFlight--;
    },
    5,
    2,
  );
  await Promise.all([run([1]), run([2, 3]), run([4]), run([5, 6]), run([7])]);
  // [1] and [2, 3] run side by side; the rest waits for a free run and goes together.
  assert.deepEqual(runs, [[1], [2, 3], [4, 5, 6, 7]]);
  assert.equal(most, 2);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { coalescing } from "./coalesce";

test("coalescing: calls made in one turn share a run, and calls made while it is in flight the next, up to maxItems", async () => {
  const runs: number[][] = [];
  const run = coalescing<number>(async (items) => {
    runs.push(items);
    await sleep(20);
  }, 5);
  // One turn: the partitions of one fetch.
  const first = [run([1]), run([2, 3]), run([4]), run([5, 6])];
  await sleep(5);
  // While that run is in flight.
  const second = [run([7]), run([8, 9])];
  await Promise.all([...first, ...second]);
  // The first four fit in 5; [5, 6] would not, so it leads the next run, with what came meanwhile.
  assert.deepEqual(runs, [
    [1, 2, 3, 4],
    [5, 6, 7, 8, 9],
  ]);
});

test("coalescing: a failed run fails exactly its callers, and later calls still run", async () => {
  const run = coalescing<number>(async (items) => {
    await sleep(5);
    if (items.includes(2)) throw new Error("boom");
  }, 10);
  const first = run([1]);
  await sleep(1); // [1] runs alone; [2] and [3] share the next run
  const second = run([2]);
  const third = run([3]);
  await first;
  await assert.rejects(second, /boom/);
  await assert.rejects(third, /boom/); // shared the failed run
  await run([4]);
});

test("coalescing: an idle caller runs on the next turn (no timer waiting for company)", async () => {
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
  await Promise.all([run([1]), run([2, 3]), run([4]), run([5, 6]), run([7]), run([8, 9, 10])]);
  // Two runs side by side at once, each as large as fits; the rest waits for a free run.
  assert.deepEqual(runs, [
    [1, 2, 3, 4],
    [5, 6, 7],
    [8, 9, 10],
  ]);
  assert.equal(most, 2);
});

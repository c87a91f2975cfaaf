import { test } from "node:test";
import assert from "node:assert/strict";
import { capRange, rangeSize } from "./window";

const range = (...ends: [number, number][]) =>
  ends.map(([start, end], partition) => ({ partition, start: String(start), end: String(end) }));

test("capRange: a range within TRAIN_WINDOW_MAX_EVENTS is kept as it is", () => {
  const r = range([0, 10], [5, 25]);
  assert.deepEqual(capRange(r, 30), r);
  assert.equal(rangeSize(r), 30);
});

test("capRange: over the cap, every partition keeps the same share of its newest records", () => {
  // 100 + 300 records, cap 200: half of each, the newest (the ends stay).
  const capped = capRange(range([0, 100], [1000, 1300]), 200);
  assert.deepEqual(capped, range([50, 100], [1150, 1300]));
  assert.equal(rangeSize(capped), 200);
  // Rounding down never goes over the cap; an empty partition stays empty.
  const odd = capRange(range([0, 7], [0, 7], [3, 3]), 5);
  assert.ok(rangeSize(odd) <= 5, JSON.stringify(odd));
  assert.deepEqual(odd[2], { partition: 2, start: "3", end: "3" });
  // Offsets past 2^53 stay exact.
  const big = capRange([{ partition: 0, start: "9007199254740993", end: "9007199254741003" }], 4);
  assert.deepEqual(big[0], { partition: 0, start: "9007199254740999", end: "9007199254741003" });
});

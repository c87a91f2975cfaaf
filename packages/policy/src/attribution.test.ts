import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attributeRewards } from "./attribution.js";

const recs = [
  { recId: "r1", ts: 1000, items: [{ itemId: "a" }, { itemId: "b" }, { itemId: "c" }] },
  { recId: "r2", ts: 5000, items: [{ itemId: "a" }, { itemId: "d" }] },
];
const clicked = (result: ReturnType<typeof attributeRewards>): string[] =>
  result.slots.filter((s) => s.clicked).map((s) => `${s.recId}/${s.itemId}`);

describe("attributeRewards", () => {
  it("attributes clicks inside the window to the slot", () => {
    const result = attributeRewards(recs, [{ eventId: "e1", recId: "r1", itemId: "b", ts: 1500 }], { windowMs: 1000 });
    assert.deepEqual(clicked(result), ["r1/b"]);
    assert.equal(result.slots.length, 5);
    assert.deepEqual(result.slots[1], { recId: "r1", itemId: "b", rank: 2, clicked: true, clickTs: 1500 });
    assert.equal(result.counts.attributed, 1);
  });

  it("ignores clicks outside the window (too late or before the recommendation)", () => {
    const result = attributeRewards(
      recs,
      [
        { eventId: "late", recId: "r1", itemId: "a", ts: 2001 },
        { eventId: "early", recId: "r2", itemId: "a", ts: 4999 },
        { eventId: "edge", recId: "r1", itemId: "c", ts: 2000 },
      ],
      { windowMs: 1000 },
    );
    assert.deepEqual(clicked(result), ["r1/c"]);
    assert.equal(result.counts.outsideWindow, 2);
  });

  it("counts a duplicate click once: same eventId, or same recId+itemId", () => {
    const result = attributeRewards(
      recs,
      [
        { eventId: "e1", recId: "r2", itemId: "d", ts: 5100 },
        { eventId: "e1", recId: "r2", itemId: "d", ts: 5100 }, // redelivered
        { eventId: "e2", recId: "r2", itemId: "d", ts: 5200 }, // clicked again
      ],
      { windowMs: 1000 },
    );
    assert.deepEqual(clicked(result), ["r2/d"]);
    assert.equal(result.counts.attributed, 1);
    assert.equal(result.counts.duplicateEvents, 1);
    assert.equal(result.counts.repeatClicks, 1);
    assert.equal(result.slots.find((s) => s.itemId === "d")?.clickTs, 5100);
  });

  it("does not depend on the order clicks arrive in", () => {
    const clicks = [
      { eventId: "x", recId: "r1", itemId: "a", ts: 1900 },
      { eventId: "y", recId: "r1", itemId: "a", ts: 1200 },
      { eventId: "z", recId: "r9", itemId: "a", ts: 1200 },
      { eventId: "w", recId: "r1", itemId: "zz", ts: 1200 },
    ];
    const forward = attributeRewards(recs, clicks, { windowMs: 1000 });
    const backward = attributeRewards(recs, [...clicks].reverse(), { windowMs: 1000 });
    assert.deepEqual(forward, backward);
    assert.equal(forward.counts.unknownRecommendation, 1);
    assert.equal(forward.counts.itemNotInSlate, 1);
  });
});

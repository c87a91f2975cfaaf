import { test } from "node:test";
import assert from "node:assert/strict";
import { buildDataset, type WindowEvent } from "./examples";

const ev = (user: string, itemId: string, ts: number, eventId = `${user}-${itemId}-${ts}`): WindowEvent => ({
  user,
  itemId,
  ts,
  eventId,
});
const options = { holdoutPerUser: 1, historyLength: 50, maxExamples: 1000, maxEvalUsers: 100 };

test("examples: chronological per user, history before j, target j, newest event held out", () => {
  // Arrival order differs from time order; a replayed event id appears twice.
  const events = [
    ev("u1", "b", 20),
    ev("u1", "a", 10),
    ev("u1", "c", 30),
    ev("u1", "d", 40),
    ev("u1", "b", 20),
    ev("u2", "a", 5),
    ev("u2", "c", 6),
  ];
  const ds = buildDataset(events, options);
  assert.equal(ds.events, 6);
  assert.deepEqual(ds.data.itemIds, ["a", "b", "c", "d"]);
  assert.equal(ds.data.itemFeatures.length, 0);
  const rows = (ids: string[]) => ids.map((id) => ds.data.itemIds.indexOf(id));
  // u1: a b c | d held out → (a→b), (a b→c); u2 has 2 events: too few to hold out → (a→c).
  const got = ds.data.examples.map((e) => `${e.history.join(",")}>${e.target}`).sort();
  assert.deepEqual(
    got,
    [`${rows(["a"])}>${rows(["b"])}`, `${rows(["a", "b"])}>${rows(["c"])}`, `${rows(["a"])}>${rows(["c"])}`].sort(),
  );
  assert.deepEqual(ds.evalCases, [
    { user: "u1", history: ["a", "b", "c"], targets: ["d"], seen: ["a", "b", "c"], lastTs: 40 },
  ]);
  assert.equal(ds.range, `${new Date(5).toISOString()}/${new Date(40).toISOString()}`);
});

test("examples: the warm-start vocabulary keeps its rows; new items are appended", () => {
  const ds = buildDataset([ev("u", "x", 1), ev("u", "old2", 2), ev("u", "y", 3)], {
    ...options,
    previousItemIds: ["old1", "old2"],
  });
  assert.deepEqual(ds.data.itemIds, ["old1", "old2", "x", "y"]);
  assert.equal(ds.newItems, 2);
});

test("examples: history is capped at historyLength; the newest examples are kept under maxExamples", () => {
  const events = Array.from({ length: 30 }, (_, i) => ev("u", `i${i}`, i));
  const ds = buildDataset(events, { ...options, historyLength: 5, maxExamples: 3 });
  assert.equal(ds.data.examples.length, 3);
  for (const e of ds.data.examples) assert.ok(e.history.length <= 5);
  // The held-out event is i29, so the newest training targets are i28, i27, i26.
  assert.deepEqual(
    ds.data.examples.map((e) => ds.data.itemIds[e.target]),
    ["i28", "i27", "i26"],
  );
  assert.deepEqual(
    ds.data.examples[0]!.history.map((r) => ds.data.itemIds[r]),
    ["i23", "i24", "i25", "i26", "i27"],
  );
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { catalogItemSpec, clickstreamEventSpec, decodeMessage, type ClickstreamEvent } from "@recfleet/contracts";
import { generateClickstream } from "@recfleet/simulator";
import { parseScaleArgs, toCatalogItem, toClickstreamEvents, DemoScaleUsageError } from "./demo-scale";

const stream = generateClickstream({ seed: 3, users: 300, items: 200, events: 5000 });

test("scale events are valid clickstream events: ids by row, mostly views and clicks, times in order ending at the end", () => {
  const end = Date.now();
  const events = toClickstreamEvents(stream, 3, end, 0, 5000);
  assert.equal(events.length, 5000);
  for (const e of events) {
    const decoded = decodeMessage<ClickstreamEvent>(clickstreamEventSpec, JSON.stringify(e), undefined, end);
    assert.ok(decoded.ok, JSON.stringify(decoded));
  }
  assert.equal(events[0]!.userId, `u-${stream.eventUser[0]}`);
  assert.equal(events[0]!.itemId, `i-${stream.eventItem[0]}`);
  assert.equal(new Set(events.map((e) => e.eventId)).size, 5000);
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.ts >= events[i - 1]!.ts);
  assert.equal(events[events.length - 1]!.ts, end);
  // Squeezed into the last 30 minutes: the trainer's window and ingest's lateness both keep them.
  assert.ok(events[0]!.ts >= end - 30 * 60_000);
  const share = (t: string) => events.filter((e) => e.type === t).length / events.length;
  assert.ok(share("view") + share("click") > 0.85, `views ${share("view")} clicks ${share("click")}`);
  assert.ok(share("view") > share("click"));
});

test("a slice comes out as the same events as the full pass", () => {
  const end = Date.now();
  assert.deepEqual(
    toClickstreamEvents(stream, 3, end, 1200, 1300),
    toClickstreamEvents(stream, 3, end, 0, 5000).slice(1200, 1300),
  );
});

test("catalog items are valid upserts with the item's genres as categories", () => {
  for (let row = 0; row < stream.items; row++) {
    const item = toCatalogItem(stream, row, Date.now());
    assert.ok(decodeMessage(catalogItemSpec, JSON.stringify(item)).ok);
    assert.equal(item.itemId, `i-${row}`);
    assert.ok(item.categories!.length >= 1 && item.categories!.length <= 3);
  }
});

test("scale flags: --scale is required as a positive integer; defaults are the generator's catalog", () => {
  const s = parseScaleArgs(["--scale", "1000000"]);
  assert.equal(s.events, 1_000_000);
  assert.equal(s.users, 150_000);
  assert.equal(s.items, 100_000);
  assert.equal(s.requests, 2000);
  assert.throws(() => parseScaleArgs(["--scale", "1e3.5"]), DemoScaleUsageError);
  assert.throws(() => parseScaleArgs(["--scale", "0"]), /--scale is 0, expected an integer ≥ 1/);
  assert.throws(() => parseScaleArgs(["--scale", "10", "--users=-1"]), DemoScaleUsageError);
});

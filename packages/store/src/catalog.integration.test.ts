import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { createCatalogStore } from "./catalog";

const redis = new Redis(testInfra().redisUrl);
test.after(() => redis.disconnect());

test("catalog: newest ts per item wins, replays and late older changes are ignored, readers see changes after their cursor", async () => {
  const catalog = createCatalogStore(redis, uniqueName("cat"));
  const t = Date.now() - 60_000;
  const start = await catalog.readAll();
  assert.equal(start.items.size, 0);
  assert.equal(start.cursor, "0-0");

  const a1 = { itemId: "a", op: "upsert" as const, ts: t, categories: ["drama"], provider: "p1" };
  const b1 = { itemId: "b", op: "upsert" as const, ts: t, available: true, numbers: { price: 5 } };
  assert.equal(await catalog.apply([a1, b1]), 2);
  assert.equal(await catalog.apply([a1, b1]), 0, "a replay changes nothing");
  assert.equal(await catalog.apply([{ ...a1, ts: t - 1, categories: ["old"] }]), 0, "an older change is ignored");

  const first = await catalog.readChanges(start.cursor);
  assert.deepEqual([...first.items.keys()].sort(), ["a", "b"]);
  assert.deepEqual(first.items.get("a")?.categories, ["drama"]);
  assert.equal(first.gap, false);

  assert.equal(
    await catalog.apply([
      { ...b1, ts: t + 1, available: false },
      { itemId: "a", op: "delete", ts: t + 2 },
    ]),
    2,
  );
  const next = await catalog.readChanges(first.cursor);
  assert.deepEqual([...next.items.keys()].sort(), ["a", "b"]);
  assert.equal(next.items.get("b")?.available, false);
  assert.equal(next.items.get("a")?.deleted, true);
  assert.equal(
    await catalog.apply([{ ...a1, ts: t + 1 }]),
    0,
    "an upsert older than the deletion does not bring the item back",
  );
  assert.deepEqual((await catalog.readChanges(next.cursor)).items.size, 0);

  const all = await catalog.readAll();
  assert.equal(all.cursor, next.cursor);
  assert.deepEqual([...all.items.keys()].sort(), ["a", "b"]);
  assert.deepEqual(await catalog.read(["b", "zz"]), [
    { itemId: "b", ts: t + 1, available: false, numbers: { price: 5 } },
    undefined,
  ]);
});

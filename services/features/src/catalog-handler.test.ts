import { test } from "node:test";
import assert from "node:assert/strict";
import type { CatalogItem } from "@recfleet/contracts";
import type { ConsumedMessage } from "@recfleet/bus";
import { createCatalogHandler } from "./catalog-handler";

const msg = (key: string | null, value: CatalogItem): ConsumedMessage<CatalogItem> => ({
  value,
  key,
  topic: "t.items",
  partition: 0,
  offset: "0",
  timestamp: 0,
  raw: null,
});
const ctx = { topic: "t.items", partition: 0, heartbeat: async () => {} };

test("catalog handler: applies changes keyed by their itemId; a key that is not the itemId is dead-lettered", async () => {
  const applied: CatalogItem[] = [];
  const counts: Record<string, number> = {};
  const handle = createCatalogHandler({
    apply: async (changes) => {
      applied.push(...changes);
      return changes.length - 1;
    },
    counters: { inc: (outcome, n) => void (counts[outcome] = (counts[outcome] ?? 0) + n) },
  });
  const a: CatalogItem = { itemId: "a", op: "upsert", ts: 1, categories: ["x"] };
  const b: CatalogItem = { itemId: "b", op: "delete", ts: 2 };
  const result = await handle([msg("a", a), msg("other", b), msg("b", b)], ctx);
  assert.deepEqual(applied, [a, b]);
  assert.deepEqual(
    (result || {}).rejected?.map((r) => r.reason),
    ["key_mismatch"],
  );
  assert.deepEqual(counts, { applied: 1, stale: 1, rejected: 1 });
});

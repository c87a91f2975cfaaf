import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeItemContent, hasContent } from "./content.js";

test("encodeItemContent: a fixed-width multi-hot of hashed labels; categories and tags hash apart; same labels, same vector", () => {
  const a = encodeItemContent({ categories: ["drama", "war"], tags: ["1990s"] }, 64);
  assert.equal(a.length, 64);
  const ones = [...a].filter((v) => v === 1).length;
  assert.ok(ones >= 1 && ones <= 3, `expected up to 3 set buckets, got ${ones}`);
  assert.deepEqual(encodeItemContent({ tags: ["1990s"], categories: ["war", "drama"] }, 64), a);
  assert.notDeepEqual(encodeItemContent({ categories: ["drama"] }, 64), encodeItemContent({ tags: ["drama"] }, 64));
  assert.deepEqual(encodeItemContent(undefined, 8), new Float32Array(8));
  const out = new Float32Array(16);
  encodeItemContent({ categories: ["drama"] }, 8, out, 8);
  assert.deepEqual(out.subarray(0, 8), new Float32Array(8));
  assert.equal(hasContent({ categories: [] }), false);
  assert.equal(hasContent({ tags: ["x"] }), true);
});

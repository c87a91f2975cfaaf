import { test } from "node:test";
import assert from "node:assert/strict";
import { ProviderTally, providerOf } from "./providers";

test("provider fairness: shares sum to 1, the gap is the total variation between exposure and relevance", () => {
  const t = new ProviderTally();
  t.addExposure("a", 3);
  t.addExposure("b", 1);
  t.addRelevance("a", 1);
  t.addRelevance("b", 1);
  const { shares, gap } = t.report();
  assert.deepEqual(
    shares.map((s) => [s.provider, s.exposureShare, s.relevanceShare]),
    [
      ["a", 0.75, 0.5],
      ["b", 0.25, 0.5],
    ],
  );
  assert.ok(Math.abs(gap - 0.25) < 1e-12);
  assert.equal(providerOf("item-7", 5), providerOf("item-7", 5));
  assert.match(providerOf("item-7", 5), /^prov-[0-4]$/);
});

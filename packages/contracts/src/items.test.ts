import { test } from "node:test";
import assert from "node:assert/strict";
import { catalogItemSpec, checkRecFilters, decodeMessage, ITEM_LIMITS, recRequestSpec } from "./index";

const NOW = Date.UTC(2026, 10, 27);
const item = { itemId: "i1", op: "upsert", ts: NOW - 1000 };
const reason = (spec: typeof catalogItemSpec, value: unknown) => {
  const r = decodeMessage(spec, JSON.stringify(value), undefined, NOW);
  return r.ok ? "ok" : r.reason;
};

test("catalog item: limits on categories, attributes and text are enforced with reason codes", () => {
  assert.equal(reason(catalogItemSpec, item), "ok");
  assert.equal(reason(catalogItemSpec, { itemId: "i1", op: "delete", ts: NOW }), "ok");
  const many = Array.from({ length: ITEM_LIMITS.maxCategories + 1 }, (_, i) => `c${i}`);
  assert.equal(reason(catalogItemSpec, { ...item, categories: many }), "too_many_items");
  assert.equal(reason(catalogItemSpec, { ...item, categories: ["x".repeat(65)] }), "string_too_long");
  assert.equal(reason(catalogItemSpec, { ...item, numbers: { price: 1e13 } }), "value_out_of_range");
  assert.equal(reason(catalogItemSpec, { ...item, numbers: { price: "9" } }), "wrong_type");
  assert.equal(reason(catalogItemSpec, { ...item, numbers: { "a b": 1 } }), "invalid_id");
  assert.equal(reason(catalogItemSpec, { ...item, text: { title: "x".repeat(1025) } }), "string_too_long");
  assert.equal(reason(catalogItemSpec, { ...item, op: "patch" }), "unknown_enum_value");
  assert.equal(reason(catalogItemSpec, { ...item, provider: "a:b" }), "invalid_id");
  assert.equal(reason(catalogItemSpec, { ...item, color: "red" }), "unknown_field");
});

test("rec request: filters and boosts are bounded; checkRecFilters rejects an empty range", () => {
  const request = { requestId: "q1", userId: "u1", ts: NOW };
  const filters = { includeCategories: ["drama"], excludeItems: ["i2"], ranges: { price: { min: 1, max: 10 } } };
  assert.equal(reason(recRequestSpec, { ...request, filters, boosts: [{ category: "drama", weight: 1 }] }), "ok");
  assert.equal(
    reason(recRequestSpec, { ...request, boosts: [{ category: "drama", weight: 50 }] }),
    "value_out_of_range",
  );
  assert.equal(reason(recRequestSpec, { ...request, filters: { ranges: { price: { low: 1 } } } }), "unknown_field");
  assert.equal(checkRecFilters(filters), undefined);
  assert.match(checkRecFilters({ ranges: { price: { min: 5, max: 1 } } }) ?? "", /min 5 > max 1/);
});

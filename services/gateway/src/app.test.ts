import { test } from "node:test";
import assert from "node:assert/strict";
import { allowPolicies } from "@recfleet/policy";
import { HttpError, recRequestFromQuery } from "./app";

const policies = allowPolicies(["greedy"]);
const NOW = Date.UTC(2026, 11, 1);
const parse = (query: string) => recRequestFromQuery(new URLSearchParams(query), policies, NOW);

test("recommendations query: catalog filters and boosts become the request's filters and boosts", () => {
  const request = parse("user=u1&k=5&category=drama,comedy&exclude_category=horror&boost=drama:1.5&exclude=i1,i2");
  assert.deepEqual(request.filters, { includeCategories: ["drama", "comedy"], excludeCategories: ["horror"] });
  assert.deepEqual(request.boosts, [{ category: "drama", weight: 1.5 }]);
  assert.deepEqual(request.exclude, ["i1", "i2"]);
  assert.equal(parse("user=u1").filters, undefined);
});

test("recommendations query: bad filters and boosts are 400s with the contract's reason codes", () => {
  const reason = (query: string) => {
    try {
      parse(query);
    } catch (err) {
      assert.ok(err instanceof HttpError);
      return [err.status, err.reason];
    }
    return undefined;
  };
  assert.deepEqual(reason("user=u1&boost=drama"), [400, "wrong_type"]);
  assert.deepEqual(reason("user=u1&boost=drama:99"), [400, "value_out_of_range"]);
  assert.deepEqual(reason(`user=u1&category=${Array.from({ length: 17 }, (_, i) => `c${i}`).join(",")}`), [
    400,
    "too_many_items",
  ]);
  assert.deepEqual(reason("user=u1&ranges=x"), [400, "unknown_field"]);
});

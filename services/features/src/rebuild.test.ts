import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFromTime } from "./rebuild";

test("rebuild-features --from: a time with a zone, epoch ms, or a duration ago; a zoneless time is refused", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  assert.equal(parseFromTime("2026-12-01T10:00:00Z", now), Date.parse("2026-12-01T10:00:00Z"));
  assert.equal(parseFromTime("2026-12-01T10:00:00+01:00", now), Date.parse("2026-12-01T09:00:00Z"));
  assert.equal(parseFromTime("1764583200000", now), 1764583200000);
  assert.equal(parseFromTime("2h", now), now - 7_200_000);
  assert.equal(parseFromTime("90s", now), now - 90_000);
  assert.equal(parseFromTime("2026-12-01T10:00:00", now), undefined);
  assert.equal(parseFromTime("yesterday", now), undefined);
});

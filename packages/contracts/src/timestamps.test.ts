import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clickstreamEventSpec,
  decodeMessage,
  DEFAULT_LIMITS,
  MAX_LATENCY_MS,
  recommendationSpec,
  recRequestSpec,
  requestLatencyMs,
  toJsonSchema,
  validateValue,
} from "./index";

const NOW = Date.UTC(2026, 10, 27, 12);
const event = { eventId: "e1", userId: "u1", itemId: "i1", type: "click" };
const decodeTs = (ts: unknown) => decodeMessage(clickstreamEventSpec, JSON.stringify({ ...event, ts }), undefined, NOW);
const reason = (r: { ok: boolean; reason?: string }) => (r.ok ? "ok" : r.reason);

test("ISO timestamps must name a time zone: without one the host's local time would decide the instant", () => {
  assert.equal(reason(decodeTs("2026-11-27T11:00:00")), "timestamp_without_timezone");
  assert.equal(reason(decodeTs("2026-11-27T11:00:00.123")), "timestamp_without_timezone");
  assert.equal(reason(decodeTs("2026-11-27T11:00:00Z")), "ok");
  assert.equal(reason(decodeTs("2026-11-27T13:00:00+02:00")), "ok");
  assert.equal(reason(decodeTs(new Date(NOW).toISOString())), "ok");
});

test("a request from 2001 is rejected, not answered with a latency of 8e11 ms; latency stays in the contract", () => {
  const request = (ts: number) =>
    decodeMessage(recRequestSpec, JSON.stringify({ requestId: "q1", userId: "u1", ts }), undefined, NOW);
  assert.equal(reason(request(Date.UTC(2001, 0, 1))), "timestamp_out_of_range");
  assert.equal(reason(request(NOW - MAX_LATENCY_MS - 1)), "timestamp_out_of_range");
  assert.equal(reason(request(NOW - 1000)), "ok");
  assert.equal(requestLatencyMs(Date.UTC(2001, 0, 1), NOW), MAX_LATENCY_MS);
  assert.equal(requestLatencyMs(NOW + 5000, NOW), 0, "a client clock ahead of ours");
  assert.equal(requestLatencyMs(NOW - 42, NOW), 42);
  const rec = {
    recId: "r1",
    requestId: "q1",
    user: "u",
    items: [],
    policy: "greedy",
    propensityMethod: "exact",
    modelVersion: "v1",
    servedAt: NOW,
  };
  const latest = NOW - MAX_LATENCY_MS; // the oldest request that passes validation, served a little later
  assert.equal(
    reason(
      validateValue(recommendationSpec, { ...rec, latencyMs: requestLatencyMs(latest, NOW + 50) }, undefined, NOW),
    ),
    "ok",
  );
});

/** The timestamp keywords toJsonSchema emits: oneOf integer ≥ minimum, or string matching a pattern. */
function schemaAccepts(schema: { oneOf: { type: string; minimum?: number; pattern?: string }[] }, v: unknown): boolean {
  return schema.oneOf.some((s) =>
    s.type === "integer"
      ? Number.isInteger(v) && (v as number) >= (s.minimum ?? -Infinity)
      : typeof v === "string" && new RegExp(s.pattern!).test(v),
  );
}

test("the published JSON Schema carries the validator's timestamp bounds", () => {
  const properties = toJsonSchema(clickstreamEventSpec).properties as Record<
    string,
    Parameters<typeof schemaAccepts>[0]
  >;
  const ts = properties.ts!;
  const samples: unknown[] = [
    0,
    5,
    DEFAULT_LIMITS.minTimestampMs - 1,
    DEFAULT_LIMITS.minTimestampMs,
    NOW - 1000,
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:00:00Z",
    "2026-11-27T11:00:00",
    "2026-11-27T11:00:00.5+01:00",
    "2026-11-27T11:00Z",
  ];
  for (const v of samples) {
    // Only the bound relative to "now" (5 min ahead) is beyond JSON Schema; none of these is in the future.
    assert.equal(schemaAccepts(ts, v), decodeTs(v).ok, `schema and validator disagree on ${JSON.stringify(v)}`);
  }
});

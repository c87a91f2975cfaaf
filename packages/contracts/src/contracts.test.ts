import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import {
  decodeMessage,
  clickstreamEventSpec,
  recRequestSpec,
  REASON_CODES,
  type ClickstreamEvent,
  topicNames,
} from "./index";
import { schemaFiles } from "./generate-schemas";

const NOW = Date.UTC(2026, 10, 27);
const good = { eventId: "e1", userId: "u1", itemId: "i1", type: "click", ts: NOW - 1000 };
const decode = (v: unknown) =>
  decodeMessage<ClickstreamEvent>(clickstreamEventSpec, typeof v === "string" ? v : JSON.stringify(v), undefined, NOW);

test("a valid event decodes, ISO timestamps become epoch ms", () => {
  const r = decode({
    ...good,
    ts: new Date(NOW - 5000).toISOString(),
    value: 4,
    recId: "r-1",
    context: { page: "home" },
  });
  assert.equal(r.ok, true);
  if (r.ok) assert.equal(r.value.ts, NOW - 5000);
});

test("each kind of bad input gets its reason code", () => {
  const cases: [unknown, string][] = [
    ["{not json", "malformed_json"],
    [[1, 2], "not_an_object"],
    [{ ...good, type: "hover" }, "unknown_enum_value"],
    [{ ...good, userId: 42 }, "wrong_type"],
    [{ ...good, userId: "user:*" }, "invalid_id"],
    [{ ...good, userId: "a\r\nb" }, "invalid_id"],
    [{ ...good, userId: "" }, "invalid_id"],
    [{ ...good, userId: "ü" }, "invalid_id"],
    [{ ...good, userId: "x".repeat(129) }, "invalid_id"],
    [{ ...good, userId: "x".repeat(10_000) }, "payload_too_large"],
    [{ ...good, ts: NOW + 3_600_000 }, "timestamp_in_future"],
    [{ ...good, ts: 5 }, "timestamp_out_of_range"],
    [{ ...good, extra: 1 }, "unknown_field"],
    [{ eventId: "e1" }, "missing_field"],
    [{ ...good, value: 1e12 }, "value_out_of_range"],
  ];
  for (const [input, reason] of cases) {
    const r = decode(input);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(input).slice(0, 60)}`);
    if (!r.ok) assert.equal(r.reason, reason, `${JSON.stringify(input).slice(0, 60)}: ${r.detail}`);
  }
});

test("invalid UTF-8 bytes are malformed_json, not a crash", () => {
  const r = decodeMessage(clickstreamEventSpec, new Uint8Array([0xff, 0xfe, 0x7b]), undefined, NOW);
  assert.deepEqual(r.ok ? "ok" : r.reason, "malformed_json");
});

test("property: any bytes give a value or a known reason, never a throw", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 5000 }),
        fc.json().map((s) => new TextEncoder().encode(s)),
        fc.anything().map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "")),
      ),
      (bytes) => {
        const r = decodeMessage(clickstreamEventSpec, bytes, undefined, NOW);
        if (!r.ok) assert.ok(REASON_CODES.includes(r.reason));
        else assert.equal(typeof r.value, "object");
      },
    ),
    { numRuns: 500 },
  );
});

test("rec request: k bounds and exclude list are checked", () => {
  const ok = decodeMessage(
    recRequestSpec,
    JSON.stringify({ requestId: "q1", userId: "u1", ts: NOW, k: 10, exclude: ["i1"] }),
    undefined,
    NOW,
  );
  assert.equal(ok.ok, true);
  const bad = decodeMessage(
    recRequestSpec,
    JSON.stringify({ requestId: "q1", userId: "u1", ts: NOW, k: 0 }),
    undefined,
    NOW,
  );
  assert.equal(bad.ok ? "ok" : bad.reason, "value_out_of_range");
});

test("topic names live under the namespace", () => {
  assert.equal(topicNames("t1").clickstreamDlq, "t1.clickstream.dlq");
  assert.equal(topicNames("").events, "events");
});

test("JSON Schema files are generated from the same specs (run npm run schemas after changing one)", () => {
  for (const [name, text] of schemaFiles()) {
    const onDisk = readFileSync(new URL(`../schemas/${name}`, import.meta.url), "utf8");
    assert.equal(onDisk, text, `${name} is stale`);
  }
});

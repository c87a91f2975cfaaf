import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { redactRawUserIds, REDACTED } from "./redact";

test("dead-letter redaction: the raw id leaves key, value and detail; the rest of the payload stays for the reviewer", () => {
  const raw = "alice@example.com";
  const payload = { eventId: "e1", userId: raw, itemId: "i1", context: { ref: `profile of ${raw}`, [raw]: 1 } };
  const out = redactRawUserIds({
    key: raw,
    value: Buffer.from(JSON.stringify(payload)),
    detail: `userId must match ^[A-Za-z0-9]+$, got "${raw}"`,
  });
  assert.equal(out.key, null);
  const kept = JSON.parse(out.value.toString()) as Record<string, unknown>;
  assert.deepEqual(kept, { eventId: "e1", userId: REDACTED, itemId: "i1", context: { ref: REDACTED, [REDACTED]: 1 } });
  assert.ok(!out.detail.includes(raw) && out.detail.startsWith("userId must match"));
  // A userId of the wrong type is redacted too; bytes that are not a JSON object are not kept.
  assert.equal(
    JSON.parse(redactRawUserIds({ key: null, value: Buffer.from('{"userId":12345}'), detail: "" }).value.toString())
      .userId,
    REDACTED,
  );
  assert.equal(redactRawUserIds({ key: "k", value: Buffer.from(`not json ${raw}`), detail: "" }).value.byteLength, 0);
});

test("dead-letter redaction never throws and never keeps a quoted value in the detail", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.string(), (bytes, quoted) => {
      const out = redactRawUserIds({ key: "x", value: Buffer.from(bytes), detail: `got ${JSON.stringify(quoted)}` });
      assert.equal(out.key, null);
      assert.equal(out.detail, `got "${REDACTED}"`);
    }),
  );
});

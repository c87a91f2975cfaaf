import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { KafkaMessage } from "kafkajs";
import { createLogger, NonRetriableError, RecfleetError } from "@recfleet/runtime";
import {
  CoordinatorUnreachableError,
  coordinatorUnreachable,
  deadLetter,
  DLQ_HEADERS,
  membershipLost,
  writeDeadLetters,
} from "./consumer";

const message = (value: Buffer): KafkaMessage => ({
  key: Buffer.from("k"),
  value,
  offset: "42",
  timestamp: "0",
  attributes: 0,
  headers: {},
});
const logger = createLogger("dlq-test", { level: "error", write: () => {} });

test("deadLetter: a small value is kept exactly; a large one is cut, with its size and sha256 in headers", () => {
  const small = deadLetter("t", 1, message(Buffer.from("bad")), "malformed_json", "x");
  assert.deepEqual(small.value, Buffer.from("bad"));
  assert.equal(small.headers[DLQ_HEADERS.truncated], undefined);
  const big = Buffer.alloc(1_048_000, 7);
  const letter = deadLetter("t", 1, message(big), "payload_too_large", "x", 64 * 1024);
  assert.equal(letter.value.byteLength, 64 * 1024);
  assert.deepEqual(letter.value, big.subarray(0, 64 * 1024));
  assert.equal(letter.headers[DLQ_HEADERS.truncated], "true");
  assert.equal(letter.headers[DLQ_HEADERS.originalSize], String(big.byteLength));
  assert.equal(letter.headers[DLQ_HEADERS.originalSha256], createHash("sha256").update(big).digest("hex"));
});

test("writeDeadLetters: a write that keeps failing is retried a bounded number of times, then skipped and counted", async () => {
  const records = [deadLetter("t", 0, message(Buffer.from("a")), "r", "d")];
  let calls = 0;
  let skipped = 0;
  const failing = { send: async () => void (calls++, await Promise.reject(new RecfleetError("broker said no"))) };
  await writeDeadLetters(
    { producer: failing, topic: "dlq", attempts: 3, timeoutMs: 1000, logger },
    records,
    async () => {},
    (n) => (skipped += n),
  );
  assert.equal(calls, 3);
  assert.equal(skipped, 1);
  calls = 0;
  const tooLarge = {
    send: async () => void (calls++, await Promise.reject(new NonRetriableError("MESSAGE_TOO_LARGE"))),
  };
  await writeDeadLetters(
    { producer: tooLarge, topic: "dlq", attempts: 3, timeoutMs: 1000, logger },
    records,
    async () => {},
    (n) => (skipped += n),
  );
  assert.equal(calls, 1, "a non-retriable failure is not retried");
  // A send that never settles (the producer retries a missing topic forever) times out.
  const hanging = { send: () => new Promise<void>(() => {}) };
  await writeDeadLetters(
    { producer: hanging, topic: "dlq", attempts: 1, timeoutMs: 50, logger },
    records,
    async () => {},
    (n) => (skipped += n),
  );
  assert.equal(skipped, 3);
});

test("membershipLost: finds the group-membership protocol error inside kafkajs' wrappers", () => {
  const unknownMember = Object.assign(new Error("The coordinator is not aware of this member"), {
    type: "UNKNOWN_MEMBER_ID",
  });
  const wrapped = new Error("KafkaJSNonRetriableError", { cause: unknownMember });
  assert.equal(membershipLost(wrapped), unknownMember);
  assert.equal(membershipLost(Object.assign(new Error("x"), { type: "REQUEST_TIMED_OUT" })), undefined);
  assert.equal(membershipLost(new Error("plain")), undefined);
});

test("coordinatorUnreachable: a commit that cannot reach the coordinator's broker, not a member problem", () => {
  const notFound = Object.assign(new Error("Broker 2 not found in the cached metadata"), {
    name: "KafkaJSBrokerNotFound",
  });
  assert.equal(coordinatorUnreachable(new Error("wrapped", { cause: notFound })), true);
  assert.equal(coordinatorUnreachable(Object.assign(new Error("refused"), { name: "KafkaJSConnectionError" })), true);
  assert.equal(coordinatorUnreachable(Object.assign(new Error("x"), { type: "COORDINATOR_NOT_AVAILABLE" })), true);
  assert.equal(coordinatorUnreachable(Object.assign(new Error("x"), { type: "UNKNOWN_MEMBER_ID" })), false);
  assert.equal(coordinatorUnreachable(new Error("redis down")), false);
  // kafkajs rejoins (and looks the coordinator up again) on this type.
  assert.equal(new CoordinatorUnreachableError("g", notFound).type, "NOT_COORDINATOR_FOR_GROUP");
});

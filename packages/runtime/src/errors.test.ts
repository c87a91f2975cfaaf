import { test } from "node:test";
import assert from "node:assert/strict";
import { errorMessage, NonRetriableError, RecfleetError, shouldRetry } from "./errors";

test("shouldRetry: RecfleetError is retriable unless it says otherwise; NonRetriableError never is", () => {
  assert.equal(shouldRetry(new RecfleetError("redis timed out")), true);
  assert.equal(shouldRetry(new RecfleetError("bad reply", { retriable: false })), false);
  assert.equal(shouldRetry(new NonRetriableError("bad config")), false);
});

test("shouldRetry: programmer errors are never retried, other plain errors and non-errors are", () => {
  assert.equal(shouldRetry(new TypeError("x is undefined")), false);
  assert.equal(shouldRetry(new RangeError("k must be positive")), false);
  assert.equal(shouldRetry(new SyntaxError("Unexpected token")), false);
  assert.equal(shouldRetry(new Error("ECONNRESET")), true);
  assert.equal(shouldRetry("a string"), true);
  assert.equal(shouldRetry(undefined), true);
  assert.equal(shouldRetry(null), true);
});

test("shouldRetry: a structural boolean `retriable` decides, whatever the class", () => {
  // How towers, policy and evaluation mark their errors without importing runtime.
  class ModelBytesError extends Error {
    readonly retriable = false;
  }
  assert.equal(shouldRetry(new ModelBytesError("checksum mismatch")), false);
  assert.equal(shouldRetry(Object.assign(new Error("busy"), { retriable: true })), true);
  assert.equal(shouldRetry({ message: "not an Error instance", retriable: false }), false);
  // Only a boolean counts: anything else is ignored and the default (retry) applies.
  assert.equal(shouldRetry(Object.assign(new Error("odd"), { retriable: "no" })), true);
});

test("shouldRetry: the cause chain is walked and the outermost flag wins", () => {
  const corrupt = new NonRetriableError("artefact corrupt");
  assert.equal(shouldRetry(new Error("embed failed", { cause: corrupt })), false);
  assert.equal(shouldRetry(new Error("outer", { cause: new Error("middle", { cause: new TypeError("bug") }) })), false);
  assert.equal(shouldRetry(new Error("outer", { cause: { retriable: false } })), false);
  // A wrapper that says "retry" overrides a non-retriable cause, and vice versa.
  assert.equal(shouldRetry(new RecfleetError("lock lost, retry", { cause: corrupt })), true);
  assert.equal(shouldRetry(new NonRetriableError("gave up", { cause: new Error("ECONNRESET") })), false);
  assert.equal(shouldRetry(new Error("outer", { cause: new Error("ECONNRESET") })), true);
});

test("shouldRetry: a cyclic cause chain terminates", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(shouldRetry(a), true);
});

test("errorMessage names the class", () => {
  assert.equal(errorMessage(new NonRetriableError("bad")), "NonRetriableError: bad");
  assert.equal(errorMessage(42), "42");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { CompressionTypes } from "kafkajs";
import { chunkBySize, compressionFor, COMPRESS_MIN_BYTES, encodeValue } from "./producer";

const msg = (value: string | Buffer) => ({ value });
const sizes = (chunks: { value: Buffer | string }[][]) =>
  chunks.map((c) => c.map((m) => (typeof m.value === "string" ? Buffer.byteLength(m.value) : m.value.byteLength)));

test("chunkBySize: fills each chunk up to maxBytes, in order, without splitting or dropping messages", () => {
  const messages = [10, 20, 30, 40, 50].map((n) => msg("x".repeat(n)));
  const chunks = chunkBySize(messages, 60);
  assert.deepEqual(sizes(chunks), [[10, 20, 30], [40], [50]]);
  assert.deepEqual(chunks.flat(), messages, "order or identity of messages changed");
});

test("chunkBySize: a chunk may be exactly maxBytes; one byte more starts the next", () => {
  assert.deepEqual(sizes(chunkBySize([msg("a".repeat(30)), msg("b".repeat(30))], 60)), [[30, 30]]);
  assert.deepEqual(sizes(chunkBySize([msg("a".repeat(30)), msg("b".repeat(31))], 60)), [[30], [31]]);
});

test("chunkBySize: a message larger than maxBytes goes alone, never with others", () => {
  assert.deepEqual(sizes(chunkBySize([msg("a"), msg("b".repeat(100)), msg("c")], 60)), [[1], [100], [1]]);
  assert.deepEqual(sizes(chunkBySize([msg("b".repeat(100))], 60)), [[100]]);
});

test("chunkBySize: counts UTF-8 bytes of strings and bytes of Buffers, not characters", () => {
  // "é" is 2 bytes in UTF-8: 20 of them are 40 bytes, so two do not fit in 60.
  assert.deepEqual(sizes(chunkBySize([msg("é".repeat(20)), msg("é".repeat(20))], 60)), [[40], [40]]);
  assert.deepEqual(sizes(chunkBySize([msg(Buffer.alloc(25)), msg(Buffer.alloc(25)), msg(Buffer.alloc(25))], 60)), [
    [25, 25],
    [25],
  ]);
});

test("chunkBySize: no messages, no chunks; the default limit keeps ordinary batches in one request", () => {
  assert.deepEqual(chunkBySize([], 60), []);
  const batch = Array.from({ length: 1000 }, (_, i) => msg(JSON.stringify({ i, user: "u".repeat(64) })));
  assert.equal(chunkBySize(batch).length, 1);
  const big = Array.from({ length: 100 }, () => msg("x".repeat(10_000)));
  assert.equal(chunkBySize(big).length, 2, "1 MB of messages should need two 512 KiB requests");
});

test("encodeValue: objects become JSON, bytes and strings pass through", () => {
  assert.equal(encodeValue({ a: 1 }), '{"a":1}');
  assert.equal(encodeValue("raw"), "raw");
  const bytes = new Uint8Array([1, 2, 3]);
  assert.deepEqual([...(encodeValue(bytes) as Buffer)], [1, 2, 3]);
});

test("compressionFor: the chosen codec (GZIP unless told) from COMPRESS_MIN_BYTES of values on, none below it or when turned off", () => {
  const half = "x".repeat(COMPRESS_MIN_BYTES / 2);
  assert.equal(compressionFor([msg(half)]), CompressionTypes.None);
  assert.equal(compressionFor([msg(half), msg(half.slice(1))]), CompressionTypes.None);
  assert.equal(compressionFor([msg(half), msg(Buffer.from(half))]), CompressionTypes.GZIP);
  assert.equal(compressionFor([msg(half), msg(Buffer.from(half))], "lz4"), CompressionTypes.LZ4);
  assert.equal(compressionFor([msg(half), msg(Buffer.from(half))], "snappy"), CompressionTypes.Snappy);
  assert.equal(compressionFor([msg("x".repeat(COMPRESS_MIN_BYTES * 4))], "none"), CompressionTypes.None);
});

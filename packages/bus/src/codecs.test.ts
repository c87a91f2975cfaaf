import { test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { compressSync } from "snappy";
import { CODECS, snappyDecompress } from "./codecs";

const payload = Buffer.from(
  JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ eventId: `e${i}`, type: "view" }))),
);

test("Snappy, LZ4 and ZSTD round-trip a record batch's bytes", async (t) => {
  for (const [name, codec] of Object.entries(CODECS)) {
    if (name === "ZSTD" && !("zstdCompressSync" in zlib)) {
      t.diagnostic(
        `ZSTD compression skipped: node:zlib of ${process.version} has no Zstandard (decompression is tested with kcat)`,
      );
      continue;
    }
    const compressed = await codec.compress({ buffer: payload });
    assert.ok(compressed.length < payload.length, `${name} did not compress`);
    assert.deepEqual(await codec.decompress(compressed), payload, name);
  }
});

test("Snappy: reads both raw blocks (librdkafka) and xerial-framed blocks (the Java client)", () => {
  const a = payload.subarray(0, 1000);
  const b = payload.subarray(1000);
  assert.deepEqual(snappyDecompress(compressSync(payload)), payload);
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  const block = (part: Buffer) => {
    const c = compressSync(part);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(c.length);
    return Buffer.concat([size, c]);
  };
  assert.deepEqual(snappyDecompress(Buffer.concat([header, block(a), block(b)])), payload);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { compressSync } from "snappy";
import { CODECS, GZIP_CODEC, gunzipChunkSize, snappyDecompress } from "./codecs";

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

test("GZIP: small batches and large ones round-trip, and read what other gzip writers wrote", async () => {
  const large = Buffer.concat(Array.from({ length: 400 }, () => payload)); // > 256 KiB: the asynchronous path
  for (const bytes of [payload.subarray(0, 300), payload, large]) {
    const compressed = await GZIP_CODEC.compress({ buffer: bytes });
    assert.deepEqual(await GZIP_CODEC.decompress(compressed), bytes);
    // Another writer's gzip (multi-member and zlib-wrapped too: kafkajs' own codec read both).
    assert.deepEqual(await GZIP_CODEC.decompress(zlib.gzipSync(bytes, { level: 1 })), bytes);
    assert.deepEqual(
      await GZIP_CODEC.decompress(Buffer.concat([zlib.gzipSync(bytes), zlib.gzipSync(bytes)])),
      Buffer.concat([bytes, bytes]),
    );
    assert.deepEqual(await GZIP_CODEC.decompress(zlib.deflateSync(bytes)), bytes);
  }
});

test("GZIP: the output buffer is sized from the gzip trailer, not zlib's 16 KiB default", () => {
  const small = payload.subarray(0, 300);
  assert.equal(gunzipChunkSize(zlib.gzipSync(small)), 300);
  assert.equal(gunzipChunkSize(zlib.gzipSync(Buffer.alloc(10))), zlib.constants.Z_MIN_CHUNK);
  assert.equal(gunzipChunkSize(zlib.gzipSync(Buffer.alloc(3 << 20))), 1 << 20);
  assert.equal(gunzipChunkSize(zlib.deflateSync(small)), zlib.constants.Z_DEFAULT_CHUNK);
});

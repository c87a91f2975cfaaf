/**
 * Every compression codec Kafka defines, registered with kafkajs (which ships only GZIP): a
 * record batch another client compressed with Snappy, LZ4 or ZSTD must not crash a consumer.
 * GZIP is ours too: see `gzipCodec`.
 * The packages are prebuilt N-API binaries from npm (snappy, lz4-napi) or pure JS (fzstd), so
 * `npm install` downloads nothing else.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import kafkajs from "kafkajs";
import { compressFrameSync, decompressFrameSync } from "lz4-napi";
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from "snappy";
import { decompress as zstdDecompressJs } from "fzstd";
import { NonRetriableError } from "@recfleet/runtime";

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// The Java client (snappy-java) frames Snappy data in blocks behind this magic ("xerial" framing);
// librdkafka sends raw Snappy. Kafka accepts both, so a consumer must read both.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

export function snappyDecompress(buffer: Buffer): Buffer {
  const raw = (b: Buffer) => snappyUncompress(b, { asBuffer: true }) as Buffer;
  if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC))
    return raw(buffer);
  const blocks: Buffer[] = [];
  for (let at = XERIAL_HEADER_BYTES; at < buffer.length;) {
    const size = buffer.readUInt32BE(at);
    blocks.push(raw(buffer.subarray(at + 4, at + 4 + size)));
    at += 4 + size;
  }
  return Buffer.concat(blocks);
}

type ZstdSync = { zstdCompressSync?: (b: Buffer) => Buffer; zstdDecompressSync?: (b: Buffer) => Buffer };
// node:zlib has Zstandard from Node 22.15; on Node 20 decompression is pure JS.
const nodeZstd = zlib as unknown as ZstdSync;

export const CODECS: Record<"Snappy" | "LZ4" | "ZSTD", Codec> = {
  Snappy: {
    compress: async (encoder) => snappyCompress(encoder.buffer),
    decompress: async (buffer) => snappyDecompress(buffer),
  },
  LZ4: {
    // Kafka's LZ4 is the LZ4 frame format (KIP-57).
    compress: async (encoder) => compressFrameSync(encoder.buffer),
    decompress: async (buffer) => decompressFrameSync(buffer),
  },
  ZSTD: {
    compress: async (encoder) => {
      if (!nodeZstd.zstdCompressSync) {
        throw new NonRetriableError(
          `producing ZSTD batches needs Node 22.15 or later (this is ${process.version}); use GZIP`,
        );
      }
      return nodeZstd.zstdCompressSync(encoder.buffer);
    },
    decompress: async (buffer) =>
      nodeZstd.zstdDecompressSync ? nodeZstd.zstdDecompressSync(buffer) : Buffer.from(zstdDecompressJs(buffer)),
  },
};

/** Batches up to this size (compressed, or raw when compressing) are (de)compressed synchronously. */
const SYNC_GZIP_MAX_BYTES = 256 * 1024;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/**
 * The output buffer for inflating `buffer`: gzip's trailer holds the uncompressed size (mod 2³²),
 * so one allocation of the right size; anything else gets zlib's default, and a wrong hint only
 * costs another chunk.
 */
export function gunzipChunkSize(buffer: Buffer): number {
  const isGzip = buffer.length >= 18 && buffer[0] === GZIP_MAGIC_0 && buffer[1] === GZIP_MAGIC_1;
  if (!isGzip) return zlib.constants.Z_DEFAULT_CHUNK;
  return Math.min(Math.max(buffer.readUInt32LE(buffer.length - 4), zlib.constants.Z_MIN_CHUNK), 1 << 20);
}

/**
 * Deflate at zlib's fastest level: a real-time producer pays for compression on its request path
 * (the scorer's decision logs were 8.5% of its busy CPU at level 6). On a batch of eight decision
 * logs (45 KB of JSON) level 1 took 0.41 ms against 1.21 ms for 12.1 KB against 10.9 KB.
 */
const GZIP_OPTIONS: zlib.ZlibOptions = { level: zlib.constants.Z_BEST_SPEED };
const gzipAsync = promisify(zlib.gzip);
const unzipAsync = promisify(zlib.unzip);

/**
 * kafkajs' own GZIP codec runs every batch through an asynchronous zlib stream: native state of
 * ~40 KiB (inflate) to ~300 KiB (deflate) plus a 16 KiB output chunk per batch, all freed only
 * when the garbage collector gets to it. Batches of one or a few records — what a real-time
 * fleet mostly sends — made that hundreds of MiB per minute of short-lived native memory; in the
 * SOAK reading one 15k-event training window allocated 236 MiB of zlib output chunks, and the
 * workers' resident memory grew by tens of MiB per hour. Small batches here go through zlib's
 * synchronous calls, which release the native state on return, into an output buffer of the
 * right size; large ones stay off the event loop as before.
 */
export const GZIP_CODEC: Codec = {
  compress: (encoder) =>
    encoder.buffer.length <= SYNC_GZIP_MAX_BYTES
      ? Promise.resolve(zlib.gzipSync(encoder.buffer, GZIP_OPTIONS))
      : gzipAsync(encoder.buffer, GZIP_OPTIONS),
  decompress: (buffer) => {
    const chunkSize = gunzipChunkSize(buffer);
    return buffer.length <= SYNC_GZIP_MAX_BYTES
      ? Promise.resolve(zlib.unzipSync(buffer, { chunkSize }))
      : unzipAsync(buffer, { chunkSize });
  },
};

let registered = false;

/** Registers the codecs with kafkajs once per process (CompressionCodecs is module-global). */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  // A default import: Node's ESM loader does not detect CompressionCodecs among kafkajs' named exports.
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  CompressionCodecs[CompressionTypes.GZIP] = () => GZIP_CODEC;
  CompressionCodecs[CompressionTypes.Snappy] = () => CODECS.Snappy;
  CompressionCodecs[CompressionTypes.LZ4] = () => CODECS.LZ4;
  CompressionCodecs[CompressionTypes.ZSTD] = () => CODECS.ZSTD;
}

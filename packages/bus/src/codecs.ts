/**
 * Every compression codec Kafka defines, registered with kafkajs (which ships only GZIP): a
 * record batch another client compressed with Snappy, LZ4 or ZSTD must not crash a consumer.
 * The packages are prebuilt N-API binaries from npm (snappy, lz4-napi) or pure JS (fzstd), so
 * `npm install` downloads nothing else.
 */
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

let registered = false;

/** Registers the codecs with kafkajs once per process (CompressionCodecs is module-global). */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  // A default import: Node's ESM loader does not detect CompressionCodecs among kafkajs' named exports.
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  CompressionCodecs[CompressionTypes.Snappy] = () => CODECS.Snappy;
  CompressionCodecs[CompressionTypes.LZ4] = () => CODECS.LZ4;
  CompressionCodecs[CompressionTypes.ZSTD] = () => CODECS.ZSTD;
}

import { CompressionTypes, type Kafka, type Producer, type IHeaders } from "kafkajs";
import type { KAFKA_COMPRESSIONS } from "@recfleet/runtime";
import { RETRY } from "./kafka";
import { fastKeyPartitioner } from "./partitioner";

export interface OutgoingMessage {
  key?: string | null;
  /** Objects are JSON-encoded; Buffers and strings are sent as they are. */
  value: unknown;
  headers?: Record<string, string>;
  /** An explicit partition (a gateway's reply partition); absent → chosen by the key. */
  partition?: number;
}

export interface BusProducer {
  /** Sends a batch per topic in one request; resolves when the broker has acknowledged all of it. */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  sendMany(batches: { topic: string; messages: OutgoingMessage[] }[], options?: SendOptions): Promise<void>;
  close(): Promise<void>;
}

export interface SendOptions {
  /**
   * This send's codec instead of the producer's: "none" for values that do not compress, such as
   * sealed (encrypted) payloads, on which deflate spends its time to save only base64's quarter.
   */
  compression?: ProduceCompression;
}

export function encodeValue(value: unknown): Buffer | string {
  if (Buffer.isBuffer(value) || typeof value === "string") return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return JSON.stringify(value);
}

function toKafkaMessage(m: OutgoingMessage): {
  key: string | null;
  value: Buffer | string;
  headers?: IHeaders;
  partition?: number;
} {
  return {
    key: m.key ?? null,
    value: encodeValue(m.value),
    ...(m.headers ? { headers: m.headers } : {}),
    ...(m.partition !== undefined ? { partition: m.partition } : {}),
  };
}

/** Uncompressed bytes per produce request: well under the broker's 1 MiB message.max.bytes. */
const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * A request with fewer bytes than this goes uncompressed: compression gains little on a few
 * records (a 300-byte event barely shrinks) and costs producer and every consumer a call per batch.
 */
export const COMPRESS_MIN_BYTES = 4 * 1024;

/**
 * How produced batches are compressed (KAFKA_COMPRESSION, KAFKA_COMPRESSIONS). GZIP by default:
 * LZ4 compressed eight decision logs about 3× and decompressed them about 2× faster than gzip at
 * level 1 (for about 1.5× the bytes), yet INGEST-THROUGHPUT ran 20–23k events/s with LZ4 against
 * 25k with GZIP in the same session, and one scorer's backlog drain did not change measurably
 * (docs/benchmarks.md). Every codec here is one every Kafka client reads; ZSTD is not offered
 * because Node 20 cannot compress it.
 */
export type ProduceCompression = (typeof KAFKA_COMPRESSIONS)[number];
const DEFAULT_COMPRESSION: ProduceCompression = "gzip";
const CODEC_OF: Record<ProduceCompression, CompressionTypes> = {
  lz4: CompressionTypes.LZ4,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  none: CompressionTypes.None,
};

const sizeOf = (m: { value: Buffer | string }): number =>
  typeof m.value === "string" ? Buffer.byteLength(m.value) : m.value.byteLength;

/** The codec for requests of at least COMPRESS_MIN_BYTES of values, none below. */
export function compressionFor(
  messages: readonly { value: Buffer | string }[],
  compression: ProduceCompression = DEFAULT_COMPRESSION,
): CompressionTypes {
  if (compression === "none") return CompressionTypes.None;
  let bytes = 0;
  for (const m of messages) if ((bytes += sizeOf(m)) >= COMPRESS_MIN_BYTES) return CODEC_OF[compression];
  return CompressionTypes.None;
}

/** Splits messages into requests of at most MAX_REQUEST_BYTES (a single larger message goes alone). */
export function chunkBySize<T extends { value: Buffer | string }>(messages: T[], maxBytes = MAX_REQUEST_BYTES): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = sizeOf(m);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** kafkajs errors after which an idempotent producer's sequence state is unusable. */
function breaksSequence(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return type === "OUT_OF_ORDER_SEQUENCE_NUMBER" || type === "INVALID_PRODUCER_EPOCH" || type === "UNKNOWN_PRODUCER_ID";
}

/**
 * Idempotent producer (the broker drops retried duplicates), compressed batches (GZIP unless told),
 * acks from all in-sync replicas. Callers batch: one send per consumer batch, not per message;
 * large batches are split into requests the broker accepts. After an error that breaks the
 * idempotent sequence the producer is replaced, so the caller's retry can succeed.
 */
export async function createProducer(
  kafka: Kafka,
  options: { compression?: ProduceCompression } = {},
): Promise<BusProducer> {
  const connect = async (): Promise<Producer> => {
    const p = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // The same partition per key as kafkajs' default, without its per-message Long arithmetic.
      createPartitioner: fastKeyPartitioner,
      // An idempotent producer must keep retrying (kafkajs warns otherwise); while the broker is
      // away the caller's batch waits, which is the back-pressure at-least-once needs.
      retry: { ...RETRY, retries: Number.MAX_SAFE_INTEGER },
    });
    await p.connect();
    return p;
  };
  let producer = await connect();
  const compress = options.compression ?? DEFAULT_COMPRESSION;
  const guarded = async (send: (p: Producer) => Promise<unknown>): Promise<void> => {
    try {
      await send(producer);
    } catch (err) {
      if (breaksSequence(err)) {
        const broken = producer;
        producer = await connect();
        await broken.disconnect().catch(() => undefined);
      }
      throw err;
    }
  };
  return {
    async send(topic, messages) {
      for (const chunk of chunkBySize(messages.map(toKafkaMessage))) {
        await guarded((p) =>
          p.send({ topic, acks: -1, compression: compressionFor(chunk, compress), messages: chunk }),
        );
      }
    },
    async sendMany(batches, options = {}) {
      const codec = options.compression ?? compress;
      const encoded = batches
        .filter((b) => b.messages.length > 0)
        .map((b) => ({ topic: b.topic, messages: b.messages.map(toKafkaMessage) }));
      if (encoded.length === 0) return;
      const all = encoded.flatMap((b) => b.messages);
      if (chunkBySize(all).length === 1) {
        // Small enough for one request across all topics.
        const compression = compressionFor(all, codec);
        await guarded((p) => p.sendBatch({ acks: -1, compression, topicMessages: encoded }));
        return;
      }
      for (const b of encoded) {
        for (const chunk of chunkBySize(b.messages)) {
          const compression = compressionFor(chunk, codec);
          await guarded((p) => p.send({ topic: b.topic, acks: -1, compression, messages: chunk }));
        }
      }
    },
    close: () => producer.disconnect(),
  };
}

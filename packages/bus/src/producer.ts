import { CompressionTypes, type Kafka, type Producer, type IHeaders } from "kafkajs";

export interface OutgoingMessage {
  key?: string | null;
  /** Objects are JSON-encoded; Buffers and strings are sent as they are. */
  value: unknown;
  headers?: Record<string, string>;
}

export interface BusProducer {
  /** Sends a batch per topic in one request; resolves when the broker has acknowledged all of it. */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  sendMany(batches: { topic: string; messages: OutgoingMessage[] }[]): Promise<void>;
  close(): Promise<void>;
}

export function encodeValue(value: unknown): Buffer | string {
  if (Buffer.isBuffer(value) || typeof value === "string") return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return JSON.stringify(value);
}

function toKafkaMessage(m: OutgoingMessage): { key: string | null; value: Buffer | string; headers?: IHeaders } {
  return m.headers ? { key: m.key ?? null, value: encodeValue(m.value), headers: m.headers } : { key: m.key ?? null, value: encodeValue(m.value) };
}

/**
 * Idempotent producer (the broker drops retried duplicates), GZIP-compressed batches,
 * acks from all in-sync replicas. Callers batch: one send per consumer batch, not per message.
 */
export async function createProducer(kafka: Kafka, options: { compression?: boolean } = {}): Promise<BusProducer> {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // An idempotent producer must keep retrying (kafkajs warns otherwise); while the broker is
    // away the caller's batch waits, which is the back-pressure at-least-once needs.
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 },
  });
  await producer.connect();
  const compression = options.compression === false ? CompressionTypes.None : CompressionTypes.GZIP;
  return {
    async send(topic, messages) {
      if (messages.length === 0) return;
      await producer.send({ topic, acks: -1, compression, messages: messages.map(toKafkaMessage) });
    },
    async sendMany(batches) {
      const topicMessages = batches.filter((b) => b.messages.length > 0).map((b) => ({ topic: b.topic, messages: b.messages.map(toKafkaMessage) }));
      if (topicMessages.length === 0) return;
      await producer.sendBatch({ acks: -1, compression, topicMessages });
    },
    close: () => producer.disconnect(),
  };
}

/**
 * MEASUREMENT ONLY (issue 13, item 5): an echo worker on @platformatic/kafka, the candidate
 * Kafka client, so bench/kafka-client.ts can set its per-message cost beside the kafkajs echo
 * worker of the same run (bench/lib.ts startEchoWorker). No worker uses it; kafkajs stays the
 * client of packages/bus unless a measured gain says otherwise.
 *
 * Same semantics and settings as the kafkajs echo worker (startConsumerLoop + createProducer):
 * a consumer group member reading from the committed offsets (from the beginning when there are
 * none), maxWait 100 ms, 1 MiB per partition; each fetched partition batch is produced as it is
 * (same key, same value bytes) to the output topic by an idempotent producer with acks=all,
 * in requests of at most 512 KiB, gzip-compressed (level 1, as ours) from 4 KiB of values up
 * (COMPRESS_MIN_BYTES, as createProducer does), with the Java/kafkajs key partitioner; one
 * partition batch at a time, and its offset is committed only after the broker acknowledged the
 * produce (at-least-once).
 * Unlike startConsumerLoop there is no dead-letter topic (an echo rejects nothing) and no retry
 * of a failed batch: the client retries its requests itself, and an error that gets through
 * ends the worker (`done` rejects); its uncommitted batch is read again by the next member.
 */
import zlib from "node:zlib";
import type { Message, MessagesStream } from "@platformatic/kafka";
import { gunzipChunkSize } from "./codecs";
import { chunkBySize, COMPRESS_MIN_BYTES } from "./producer";

export interface CandidateEchoOptions {
  brokers: string[];
  inTopic: string;
  outTopic: string;
  groupId: string;
  clientId?: string;
}

export interface CandidateEchoWorker {
  /** Lets the batch in hand finish (produce, commit), then leaves the group and disconnects. */
  close(): Promise<void>;
  /** Rejects when the worker stopped on an error (resolves once it was closed). */
  readonly done: Promise<void>;
  /** Messages echoed and committed so far. */
  readonly echoed: number;
}

/** kafkajs' retry policy in packages/bus (kafka.ts RETRY): 100 ms doubling, at most 2 s. */
const retryDelay = (_client: unknown, _operation: string, attempt: number): number =>
  Math.min(2000, 100 * 2 ** Math.max(0, attempt - 1));

type GzipSpec = { compressSync: (data: unknown) => Buffer; decompressSync: (data: unknown) => Buffer };
const asBuffer = (data: unknown): Buffer => (Buffer.isBuffer(data) ? data : (data as { buffer: Buffer }).buffer);

/**
 * GZIP as packages/bus configures it for kafkajs (codecs.ts GZIP_CODEC): deflate at level 1, and
 * inflate into an output buffer sized from the gzip trailer. The candidate's own codec deflates at
 * zlib's default level 6. Its codecs are synchronous only (ours hand batches over 256 KiB to
 * zlib's thread pool), and its codec table is module-global, like kafkajs' CompressionCodecs.
 */
function useOurGzipSettings(algorithms: { gzip: object }): void {
  const gzip = algorithms.gzip as GzipSpec;
  gzip.compressSync = (data) => zlib.gzipSync(asBuffer(data), { level: zlib.constants.Z_BEST_SPEED });
  gzip.decompressSync = (data) => {
    const buffer = asBuffer(data);
    return zlib.unzipSync(buffer, { chunkSize: gunzipChunkSize(buffer) });
  };
}

export async function startCandidateEchoWorker(options: CandidateEchoOptions): Promise<CandidateEchoWorker> {
  // Loaded here, not at the top: every worker imports @recfleet/bus, and none of them should pay
  // for loading the candidate (about 0.7 s on a cold start).
  const {
    Consumer,
    MessagesStreamFallbackModes,
    MessagesStreamModes,
    ProduceAcks,
    Producer,
    compatibilityPartitioner,
    compressionsAlgorithms,
  } = await import("@platformatic/kafka");
  useOurGzipSettings(compressionsAlgorithms);
  const clientId = options.clientId ?? "bench-candidate-echo";
  const producer = new Producer({
    clientId: `${clientId}-producer`,
    bootstrapBrokers: options.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // Murmur2 & 0x7fffffff, as kafkajs and the Java client: the same key lands on the same partition.
    partitioner: compatibilityPartitioner,
    autocreateTopics: false,
    retryDelay,
  });
  const consumer = new Consumer({
    clientId,
    bootstrapBrokers: options.brokers,
    groupId: options.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 3000,
    rebalanceTimeout: 10_000,
    maxWaitTime: 100,
    maxBytesPerPartition: 1_048_576,
    autocommit: false,
    retries: 30,
    retryDelay,
  });
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
  try {
    stream = await consumer.consume({
      topics: [options.inTopic],
      // The group's committed offsets; from the beginning without one (fromBeginning: true).
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
      maxWaitTime: 100,
      maxBytesPerPartition: 1_048_576,
    });
  } catch (err) {
    await Promise.allSettled([consumer.close(true), producer.close(true)]);
    throw err;
  }

  let closing = false;
  let echoed = 0;
  let failure: Error | undefined;
  let wake: () => void = () => {};
  const woken = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const onError = (err: Error) => {
    failure ??= err;
    wake();
  };
  stream.on("error", onError);
  stream.on("readable", () => wake());
  stream.on("end", () => wake());
  stream.on("close", () => wake());

  /** One partition batch: produced as it came, acknowledged, then its offset committed. */
  const echo = async (messages: Message<Buffer, Buffer, Buffer, Buffer>[]) => {
    const outgoing = messages.map((m) => ({
      topic: options.outTopic,
      key: m.key ?? undefined,
      value: m.value ?? Buffer.alloc(0),
    }));
    for (const chunk of chunkBySize(outgoing)) {
      let bytes = 0;
      for (const m of chunk) bytes += m.value.byteLength;
      await producer.send({ messages: chunk, compression: bytes >= COMPRESS_MIN_BYTES ? "gzip" : "none" });
    }
    // Commits offset + 1 of the batch's last message, with its partition's leader epoch.
    await messages[messages.length - 1]!.commit();
    echoed += messages.length;
  };

  const loop = (async () => {
    while (!closing && !failure) {
      // Everything the stream holds now (whole fetch responses): grouped by partition, in order.
      const byPartition = new Map<string, Message<Buffer, Buffer, Buffer, Buffer>[]>();
      for (let m = stream.read() as Message<Buffer, Buffer, Buffer, Buffer> | null; m !== null; m = stream.read()) {
        const key = `${m.topic}:${m.partition}`;
        const batch = byPartition.get(key);
        if (batch) batch.push(m);
        else byPartition.set(key, [m]);
      }
      if (byPartition.size === 0) {
        if (stream.readableEnded || stream.destroyed) break;
        const next = woken();
        // Nothing arrived between the read and now (a push emits "readable" later, not here).
        if (stream.readableLength === 0 && !closing && !failure) await next;
        continue;
      }
      // One partition batch at a time, as startConsumerLoop with partitionsConsumedConcurrently 1.
      for (const batch of byPartition.values()) await echo(batch);
    }
    if (failure) throw failure;
    if (!closing) throw new Error(`the stream of ${options.inTopic} ended without close()`);
  })();
  loop.catch(() => undefined);

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      wake();
      await loop.catch(() => undefined);
      await stream.close().catch(() => undefined);
      await consumer.close();
      await producer.close();
    })());

  const done = loop.then(
    () => undefined,
    async (err: unknown) => {
      await close().catch(() => undefined);
      throw err;
    },
  );
  return {
    close,
    done,
    get echoed() {
      return echoed;
    },
  };
}

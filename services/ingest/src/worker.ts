import type { Redis } from "ioredis";
import { Counter, Gauge, type WorkerContext, type Logger, type Registry } from "@recfleet/runtime";
import { clickstreamEventSpec, consumerGroupId, decodeMessage, topicNames, type ClickstreamEvent } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, startConsumerLoop, type BusProducer, type ConsumerLoop } from "@recfleet/bus";
import { createRedis, createStore, createPseudonymiser, resolvePseudonymSecret, type Store } from "@recfleet/store";
import { createIngestHandler } from "./handler";
import { cachePseudonyms } from "./pseudonym-cache";
import type { IngestConfig } from "./config";

export interface IngestWorker {
  loop: ConsumerLoop;
  producer: BusProducer;
  redis: Redis;
  store: Store;
  /** Stops the consumer, then closes the producer, then Redis (the order main.ts registers). */
  stop(): Promise<void>;
}

/** Wires one ingest worker: topics, producer, Redis, store and the consumer loop. */
export async function startIngestWorker(
  config: IngestConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">>,
): Promise<IngestWorker> {
  const { logger, registry } = deps;
  const secret = resolvePseudonymSecret(config, logger);
  const topics = topicNames(config.namespace);
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.namespace}-ingest`, logger });
  await ensureFleetTopics(kafka, config.namespace, { partitions: config.partitions });
  const redis = createRedis(config.redisUrl, logger);
  deps.readiness?.addReadinessCheck("redis", async () => (await redis.ping()) === "PONG");
  const store = createStore(redis, config.namespace, config);
  const producer = await createProducer(kafka);
  const events = new Counter({
    name: "recfleet_ingest_events_total",
    help: "Valid clickstream events by outcome: new, replay (produced again after a crash), duplicate (dropped), late (also new or replay).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "recfleet_ingest_batches_in_flight",
    help: "Consumed batches the ingest handler is working on now (at most INGEST_CONCURRENCY).",
    registers: [registry],
  });
  const handle = createIngestHandler({
    latenessMs: config.latenessMs,
    pseudonymise: cachePseudonyms(createPseudonymiser(secret), config.pseudonymCacheSize),
    claim: (claims) => store.claimEvents(claims),
    send: (topic, messages) => producer.send(topic, messages),
    eventsTopic: topics.events,
    counters: { inc: (outcome, n) => events.inc({ outcome }, n) },
  });
  const handleBatch: typeof handle = async (messages, ctx) => {
    inFlight.inc();
    try {
      return await handle(messages, ctx);
    } finally {
      inFlight.dec();
    }
  };
  const loop = await startConsumerLoop<ClickstreamEvent>({
    kafka,
    groupId: config.groupId || consumerGroupId(config.namespace, "ingest"),
    topics: [topics.clickstream],
    deadLetterTopic: topics.clickstreamDlq,
    producer,
    logger,
    registry,
    decode: (value) => decodeMessage<ClickstreamEvent>(clickstreamEventSpec, value),
    handleBatch,
    maxBytesPerPartition: config.maxBytesPerPartition,
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    readiness: deps.readiness,
    onFatal: deps.fail && ((err) => deps.fail?.("the ingest consumer cannot recover", err)),
  });
  let stopped: Promise<void> | undefined;
  return {
    loop,
    producer,
    redis,
    store,
    stop() {
      stopped ??= (async () => {
        await loop.stop();
        await producer.close();
        await redis.quit();
      })();
      return stopped;
    },
  };
}

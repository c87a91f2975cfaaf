import type { Redis } from "ioredis";
import { Counter, Gauge, type WorkerContext, type Logger, type Registry } from "@recfleet/runtime";
import { clickstreamEventSpec, decodeMessage, redactRawUserIds, type ClickstreamEvent } from "@recfleet/contracts";
import { startStreamWorker, type StreamWorker } from "@recfleet/bus";
import {
  createKeyringFromConfig,
  connectRedis,
  createStore,
  createPseudonymiser,
  resolvePseudonymSecret,
  sealForUsers,
  type Store,
} from "@recfleet/store";
import { createIngestHandler } from "./handler";
import { cachePseudonyms } from "./pseudonym-cache";
import type { IngestConfig } from "./config";

/** The stream worker (consumer loop, producer; `stop()` also quits Redis) and the store it writes. */
export type IngestWorker = StreamWorker & { redis: Redis; store: Store };

/** Wires one ingest worker: Redis and the store around the catalog's clickstream → events stream worker. */
export async function startIngestWorker(
  config: IngestConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">>,
): Promise<IngestWorker> {
  const { logger, registry } = deps;
  const secret = resolvePseudonymSecret(config, logger);
  const redis = await connectRedis(config, logger, deps.readiness);
  const store = createStore(redis, config.namespace, config);
  const keyring = createKeyringFromConfig(redis, config.namespace, config);
  if (!keyring)
    logger.warn(
      "RECFLEET_MASTER_KEY is not set: events are written unencrypted, and erasure cannot reach their copies in Kafka",
    );
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
  const stream = await startStreamWorker<ClickstreamEvent>({
    service: "ingest",
    config,
    ...deps,
    input: "clickstream",
    group: "ingest",
    decode: (value) => decodeMessage<ClickstreamEvent>(clickstreamEventSpec, value),
    // clickstream carries raw user ids: its dead letters keep reason, offsets and a redacted payload.
    redactDeadLetter: redactRawUserIds,
    closeAfter: async () => void (await redis.quit()),
    createHandler: ({ producer, topics }) => {
      const handle = createIngestHandler({
        latenessMs: config.latenessMs,
        pseudonymise: cachePseudonyms(createPseudonymiser(secret), config.pseudonymCacheSize),
        claim: (claims) => store.claimEvents(claims),
        send: (topic, messages) => producer.send(topic, messages),
        eventsTopic: topics.events,
        counters: { inc: (outcome, n) => events.inc({ outcome }, n) },
        ...(keyring ? { seal: (values) => sealForUsers(keyring, values) } : {}),
      });
      return async (messages, ctx) => {
        inFlight.inc();
        try {
          return await handle(messages, ctx);
        } finally {
          inFlight.dec();
        }
      };
    },
  });
  return { ...stream, redis, store };
}

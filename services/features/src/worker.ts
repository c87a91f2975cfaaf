import type { Redis } from "ioredis";
import { Counter, type WorkerContext, type Logger, type Registry } from "@recfleet/runtime";
import { catalogItemSpec, decodeMessage, type CanonicalEvent, type CatalogItem } from "@recfleet/contracts";
import { startStreamWorker, type StreamWorker } from "@recfleet/bus";
import {
  createCatalogStore,
  createKeyringFromConfig,
  createModelRegistry,
  connectRedis,
  createStore,
  type SealedEnvelope,
  type Store,
} from "@recfleet/store";
import { createEventsHandler, decodeEventValue } from "./events-handler";
import { createCatalogHandler } from "./catalog-handler";
import type { FeaturesConfig } from "./config";

/**
 * The events stream worker (consumer loop, producer), the catalog's (items topic → catalog in
 * Redis), and the store they write; `stop()` stops both, then quits Redis.
 */
export type FeaturesWorker = StreamWorker & { catalog: StreamWorker; redis: Redis; store: Store };

/** Wires one features worker: Redis, the store and the registry around the catalog's events stream worker. */
export async function startFeaturesWorker(
  config: FeaturesConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">>,
): Promise<FeaturesWorker> {
  const { logger, registry } = deps;
  const redis = await connectRedis(config, logger, deps.readiness);
  const store = createStore(redis, config.namespace, config);
  const models = createModelRegistry(redis, config.namespace);
  const keyring = createKeyringFromConfig(redis, config.namespace, config);
  const counter = new Counter({
    name: "recfleet_features_events_total",
    help: "Canonical events by outcome: applied, replayed (already applied; no change), attributed (rewards counted), refresh_requests (sent), shredded (sealed with an erased user's key: skipped).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const stream = await startStreamWorker<CanonicalEvent | SealedEnvelope>({
    service: "features",
    config,
    ...deps,
    input: "events",
    group: "features",
    // Far-future checks were made at ingest; a replay days later must not reject them.
    decode: decodeEventValue,
    createHandler: ({ producer, topics }) =>
      createEventsHandler(config, {
        store,
        models,
        keyring,
        send: (topic, messages) => producer.send(topic, messages),
        recRequestsTopic: topics.recRequests,
        count: (outcome, n) => counter.inc({ outcome }, n),
        rewindWhenStateMissing: true,
      }),
  });
  // The catalog loop lives here rather than in a worker of its own: the features worker already
  // owns the fleet's Redis writes, and catalog traffic is small; its own consumer group keeps it
  // independently replayable (the items topic is compacted) and its own DLQ (items.dlq).
  const catalogCounter = new Counter({
    name: "recfleet_features_catalog_changes_total",
    help: "Catalog changes by outcome: applied, stale (not newer than the stored one), rejected.",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const catalogStore = createCatalogStore(redis, config.namespace);
  let catalog: StreamWorker;
  try {
    catalog = await startStreamWorker<CatalogItem>({
      service: "features",
      config: { ...config, groupId: config.catalogGroupId },
      ...deps,
      input: "items",
      group: "catalog",
      decode: (value) => decodeMessage<CatalogItem>(catalogItemSpec, value),
      createHandler: () =>
        createCatalogHandler({
          apply: (changes) => catalogStore.apply(changes),
          counters: { inc: (outcome, n) => catalogCounter.inc({ outcome }, n) },
        }),
    });
  } catch (err) {
    await stream.stop();
    await redis.quit();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    ...stream,
    catalog,
    redis,
    store,
    stop() {
      stopped ??= (async () => {
        await Promise.all([stream.stop(), catalog.stop()]);
        await redis.quit();
      })();
      return stopped;
    },
  };
}

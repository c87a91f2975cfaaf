import type { Redis } from "ioredis";
import { Counter, type WorkerContext, type Logger, type Registry } from "@recfleet/runtime";
import { canonicalEventSpec, decodeMessage, type CanonicalEvent } from "@recfleet/contracts";
import { startStreamWorker, type StreamWorker } from "@recfleet/bus";
import { createModelRegistry, connectRedis, createStore, type Store } from "@recfleet/store";
import { createFeaturesHandler } from "./handler";
import type { FeaturesConfig } from "./config";

/** The stream worker (consumer loop, producer; `stop()` also quits Redis) and the store it writes. */
export type FeaturesWorker = StreamWorker & { redis: Redis; store: Store };

/** Wires one features worker: Redis, the store and the registry around the catalog's events stream worker. */
export async function startFeaturesWorker(
  config: FeaturesConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">>,
): Promise<FeaturesWorker> {
  const { logger, registry } = deps;
  const redis = await connectRedis(config, logger, deps.readiness);
  const store = createStore(redis, config.namespace, config);
  const models = createModelRegistry(redis, config.namespace);
  const counter = new Counter({
    name: "recfleet_features_events_total",
    help: "Canonical events by outcome: applied, replayed (already applied; no change), attributed (rewards counted), refresh_requests (sent).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const stream = await startStreamWorker<CanonicalEvent>({
    service: "features",
    config,
    ...deps,
    input: "events",
    group: "features",
    // Far-future checks were made at ingest; a replay days later must not reject them.
    decode: (value) => decodeMessage<CanonicalEvent>(canonicalEventSpec, value),
    closeAfter: async () => void (await redis.quit()),
    createHandler: ({ producer, topics }) =>
      createFeaturesHandler({
        policy: {
          weights: config.eventWeights,
          seenTypes: config.seenTypes,
          rewardTypes: config.rewardTypes,
          refreshTypes: config.refreshTypes,
        },
        apply: (events) => store.applyEvents(events),
        send: (topic, messages) => producer.send(topic, messages),
        recRequestsTopic: topics.recRequests,
        counters: { inc: (outcome, n) => counter.inc({ outcome }, n) },
        foldLinearRewards: async (rewards) => {
          // The bandit state belongs to the serving version; clicks on older versions' slates are skipped.
          const version = await models.currentVersion();
          return version ? store.addLinearRewards(version, rewards) : 0;
        },
      }),
  });
  return { ...stream, redis, store };
}

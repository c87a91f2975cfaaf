import type { Redis } from "ioredis";
import { Counter, type WorkerContext, type Logger, type Registry } from "@recfleet/runtime";
import { canonicalEventSpec, type CanonicalEvent } from "@recfleet/contracts";
import { openingHandler, startStreamWorker, type StreamWorker } from "@recfleet/bus";
import {
  createKeyringFromConfig,
  createModelRegistry,
  createRedis,
  createStore,
  decodeSealedOr,
  openSealed,
  type SealedEnvelope,
  type Store,
} from "@recfleet/store";
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
  const redis = createRedis(config.redisUrl, logger, deps.readiness);
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
    decode: (value) => decodeSealedOr<CanonicalEvent>(canonicalEventSpec, value),
    closeAfter: async () => void (await redis.quit()),
    createHandler: ({ producer, topics }) =>
      openingHandler(
        (values) => openSealed<CanonicalEvent>(keyring, values, canonicalEventSpec),
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
        (n) => counter.inc({ outcome: "shredded" }, n),
      ),
  });
  return { ...stream, redis, store };
}

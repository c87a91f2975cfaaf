import type { Redis } from "ioredis";
import {
  Counter,
  Gauge,
  Histogram,
  errorMessage,
  type Logger,
  type Registry,
  type WorkerContext,
} from "@recfleet/runtime";
import { connectFleetKafka, createProducer, startConsumerLoop } from "@recfleet/bus";
import type { BusProducer, ConsumerLoop, Decoded } from "@recfleet/bus";
import {
  consumerGroupId,
  decodeMessage,
  modelVersionSpec,
  recRequestSpec,
  topicNames,
  type ModelVersionAnnouncement,
  type RecRequest,
  redactRawUserIds,
} from "@recfleet/contracts";
import {
  createCatalogStore,
  createModelRegistry,
  createPseudonymiser,
  connectRedis,
  createStore,
  createKeyringFromConfig,
  pseudonymise,
  resolvePseudonymSecret,
  sealForUsers,
} from "@recfleet/store";
import {
  allowPolicies,
  createRng,
  LinearImpressions,
  linearStateFromStoredSums,
  mixSeeds,
  PolicyConfigError,
  readsLinearState,
} from "@recfleet/policy";
import type { LinearBanditState } from "@recfleet/policy";
import { createScorerHandler } from "./handler";
import { withStatsPrivacy } from "./dp-stats";
import { ModelHolder } from "./model-holder";
import { loadServingModel } from "./serving-model";
import { CatalogView } from "./catalog-view";
import { ItemSpace } from "./item-space";
import { cachingItemStats } from "./stats-cache";
import type { ScorerConfig } from "./config";

export interface ScorerWorker {
  requests: ConsumerLoop;
  versions: ConsumerLoop;
  producer: BusProducer;
  redis: Redis;
  holder: ModelHolder;
  /**
   * Stops the timers and both consumers (in-flight batches finish and commit), flushes the
   * bandit impressions, then closes the producer, the models and Redis.
   */
  stop(): Promise<void>;
}

/** Rec requests must name a user, raw (userId) or pseudonymous (user). */
export function decodeRecRequest(value: Buffer | null): Decoded<RecRequest> {
  const decoded = decodeMessage<RecRequest>(recRequestSpec, value);
  if (decoded.ok && !decoded.value.user && !decoded.value.userId)
    return { ok: false, reason: "missing_field", detail: "userId or user is required" };
  return decoded;
}

/** Wires one scorer: topics, producer, Redis, the serving model, bandit state timers and the consumer loops. */
export async function startScorerWorker(
  config: ScorerConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness" | "fail">>,
): Promise<ScorerWorker> {
  const { logger, registry } = deps;
  const secret = resolvePseudonymSecret(config, logger);
  const topics = topicNames(config.namespace);
  const requestsGroup = config.groupId || consumerGroupId(config.namespace, "scorer");
  // Every scorer process must see every announcement: a group of its own, from "now".
  const versionsGroup = consumerGroupId(
    config.namespace,
    "scorer-versions",
    `${process.pid}-${Date.now().toString(36)}`,
  );
  const clientId = config.clientId || `${config.namespace}-scorer`;
  const kafka = await connectFleetKafka(config, clientId, logger);
  const redis = await connectRedis(config, logger, deps.readiness);
  const store = createStore(redis, config.namespace, config);
  const models = createModelRegistry(redis, config.namespace);
  const keyring = createKeyringFromConfig(redis, config.namespace, config);
  const producer = await createProducer(kafka, { compression: config.kafkaCompression });
  // The decision log has a producer (a connection) of its own: an idempotent producer keeps one
  // request in flight, so on one producer a run's answers and its ~10 KB-a-record logs went one
  // after the other; apart they go to the broker side by side.
  const logProducer = config.decisionLog
    ? await createProducer(kafka, { compression: config.kafkaCompression })
    : undefined;

  // The policy label takes ids of the allowed set (and "popular") only: its series are bounded.
  const served = new Counter({
    name: "recfleet_scorer_recommendations_total",
    help: "Recommendations published, by policy and kind (model|cold_start).",
    labelNames: ["policy", "kind"],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: "recfleet_scorer_batch_seconds",
    help: "Scoring time of one batch (reads, retrieval, policy, writes).",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const runPhases = new Histogram({
    name: "recfleet_scorer_run_phase_seconds",
    help: "Where a run's time goes: wait (per request: ts to the start of its run), score (reads, retrieval, policy), and from the start of the writes record, answer (broker ack) and log (sealing + ack), which overlap.",
    labelNames: ["phase"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "recfleet_scorer_request_latency_seconds",
    help: "Request ts to publish.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const expired = new Counter({
    name: "recfleet_scorer_expired_total",
    help: "Requests not answered because their deadline had passed (the asker fell back), by stage (before_scoring|after_scoring).",
    labelNames: ["stage"],
    registers: [registry],
  });
  const providerGauge = new Gauge({
    name: "recfleet_scorer_execution_provider",
    help: "1 for the execution provider running the retrieval graph.",
    labelNames: ["provider"],
    registers: [registry],
  });
  const versionGauge = new Gauge({
    name: "recfleet_scorer_model_info",
    help: "1 for the model version being served.",
    labelNames: ["version"],
    registers: [registry],
  });
  const refusedCounter = new Counter({
    name: "recfleet_scorer_model_refused_total",
    help: "Model versions refused at load (corrupt or incomplete).",
    registers: [registry],
  });
  const registryLostGauge = new Gauge({
    name: "recfleet_scorer_registry_lost",
    help: "1 while the scorer serves a model but the registry names no current version (Redis lost it).",
    registers: [registry],
  });

  const holder = new ModelHolder(
    (version) => {
      const options = {
        executionProviders: config.executionProviders,
        logger,
        intraOpNumThreads: config.intraOpThreads,
      };
      return loadServingModel(models, version, options);
    },
    logger,
    (event) => {
      if (event.kind === "refused") return void refusedCounter.inc();
      versionGauge.reset();
      versionGauge.set({ version: event.version }, 1);
      providerGauge.reset();
      providerGauge.set({ provider: event.provider }, 1);
    },
  );
  // A registry that names no current version while a model is being served means Redis lost it
  // (restarted empty, flushed): keep serving the loaded model, and say so once, loudly.
  let registryLost = false;
  const checkCurrent = async () => {
    const version = await models.currentVersion();
    if (version) await holder.swapTo(version);
    const lost = version === undefined && holder.version !== undefined;
    if (lost && !registryLost) {
      logger.error("the model registry names no current version; serving the loaded one until a model is promoted", {
        serving: holder.version,
      });
    }
    if (!lost && registryLost) logger.info("the model registry names a current version again", { version });
    registryLost = lost;
    registryLostGauge.set(lost ? 1 : 0);
  };
  await checkCurrent();

  const split = config.policySplit;
  // Shadow policies are allowed too: promotion switches traffic to one of them.
  const policies = allowPolicies([
    ...split.map((share) => share.policy),
    ...config.allowedPolicies,
    ...config.shadowPolicies,
  ]);
  const shadows = config.shadowPolicies.map((spec) => {
    const found = policies.lookup(spec);
    if (!found.ok) throw new PolicyConfigError("SHADOW_POLICIES", spec, "a policy spec");
    return found.policy;
  });
  // The linear bandit's bookkeeping (contexts, d² sums, reading its state) only for a fleet that
  // may serve a linear policy (promotion switches only to an allowed one): it is work on every
  // shown item.
  const linearContexts = policies.ids.some(readsLinearState);
  logger.info("policies", {
    split,
    allowed: policies.ids,
    shadows: shadows.map((p) => p.id),
    banditStats: config.banditStats,
    linearContexts,
  });

  // Neural-linear state of the serving version, re-read every few seconds: every scorer adds
  // its impressions, the features worker the clicks.
  let linear: { version: string; state: LinearBanditState } | undefined;
  const refreshLinear = async () => {
    const lease = holder.acquire();
    try {
      if (!lease.model) return;
      const { version, dim: d } = lease.model;
      const sums = await store.readLinearSums(version, d);
      linear = { version, state: linearStateFromStoredSums(config.linearLambda, { d, ...sums }) };
    } finally {
      lease.release();
    }
  };
  if (linearContexts) await refreshLinear().catch(() => undefined);
  const impressions = new LinearImpressions();
  const flushImpressions = async () => {
    for (const [version, { d, a, b, count }] of impressions.take())
      await store.addLinearImpressions(version, d, a, b, count);
  };
  const every = (ms: number, what: string, task: () => Promise<void>) => {
    const run = () => task().catch((err: unknown) => logger.warn(`${what} failed`, { error: errorMessage(err) }));
    return setInterval(() => void run(), ms);
  };
  // The policy `recfleet policy promote` switched traffic to: re-read on the model poll, so a
  // promotion (or a Redis restart that lost it) takes effect within one interval.
  let promotedPolicy: string | undefined = await store.readServingPolicy().catch(() => undefined);
  const checkServingPolicy = async () => {
    const next = await store.readServingPolicy();
    if (next !== promotedPolicy) logger.info("serving policy", { promoted: next ?? "none (POLICY_SPLIT)" });
    promotedPolicy = next;
  };
  const timers = [
    every(config.modelPollMs, "model poll", checkCurrent),
    every(config.modelPollMs, "serving policy poll", checkServingPolicy),
    ...(linearContexts
      ? [
          every(config.linearRefreshMs, "reading the linear bandit state", refreshLinear),
          every(config.linearFlushMs, "flushing linear bandit impressions", flushImpressions),
        ]
      : []),
  ];

  // The catalog: loaded whole now, then its change stream read every CATALOG_POLL_INTERVAL.
  const catalogView = new CatalogView(createCatalogStore(redis, config.namespace));
  await catalogView.reload();
  const catalogGauge = new Gauge({
    name: "recfleet_scorer_catalog_items",
    help: "Items in the scorer's copy of the catalog.",
    registers: [registry],
    collect() {
      this.set(catalogView.size);
    },
  });
  void catalogGauge;
  const operatorRules = { excludeUnavailable: config.excludeUnavailable, maxPerProvider: config.maxPerProvider };
  const itemSpace = new ItemSpace(catalogView, operatorRules, config.newItemBoost / config.scoreScale);
  timers.push(
    every(config.catalogPollMs, "reading the catalog's changes", async () => void (await catalogView.poll())),
  );

  const shadowSlates = new Counter({
    name: "recfleet_scorer_shadow_slates_total",
    help: "Served slates a shadow policy scored (its probabilities of the served items logged).",
    labelNames: ["shadow"],
    registers: [registry],
  });
  const shadowWeight = new Counter({
    name: "recfleet_scorer_shadow_weight_total",
    help: "Σ full-slate weight π_shadow/μ over those slates: ÷ slates ≈ 1 when serving supports the shadow's slates.",
    labelNames: ["shadow"],
    registers: [registry],
  });
  // With a budget, the popular fallback and item statistics are released with DP noise; the
  // noise key derives from the pseudonym secret, so every scorer releases the same values.
  const cached = cachingItemStats(store, { ttlMs: config.statsCacheMs });
  const exposed =
    config.statsDpEpsilon > 0
      ? withStatsPrivacy(cached, {
          epsilon: config.statsDpEpsilon,
          delta: config.statsDpDelta,
          releaseMs: config.statsDpReleaseMs,
          popularitySensitivity: config.statsDpPopularitySensitivity,
          popularPool: 2000,
          noiseKey: pseudonymise(secret, "recfleet-stats-dp-noise"),
        })
      : cached;
  const handleBatch = createScorerHandler({
    store: exposed,
    acquireModel: () => holder.acquire(),
    pseudonymise: createPseudonymiser(secret),
    policies,
    split,
    linearState: (version) => (linear?.version === version ? linear.state : undefined),
    impressions,
    rng: createRng(config.policySeed || Date.now() % 2 ** 31),
    now: Date.now,
    defaultK: config.defaultK,
    candidates: config.candidates,
    scoreToLogit: (cos) => (cos - config.scoreOffset) * config.scoreScale,
    explanations: config.explanations,
    logVectors: config.decisionLogVectors,
    linearContexts,
    catalog: { space: itemSpace, rules: operatorRules, item: (itemId) => catalogView.get(itemId) },
    banditStats: config.banditStats,
    shadows,
    shadowRng: createRng(mixSeeds(config.policySeed || Date.now() % 2 ** 31, 0x5ad0)),
    servingPolicy: () => promotedPolicy,
    maxBatch: config.maxBatch,
    runsInFlight: config.runsInFlight,
    send: (batches, options) => producer.sendMany(batches, options),
    ...(logProducer ? { sendLogs: (batches, options) => logProducer.sendMany(batches, options) } : {}),
    recommendationsTopic: topics.recommendations,
    repliesTopic: topics.recReplies,
    recLogTopic: config.decisionLog ? topics.recLog : undefined,
    ...(keyring ? { sealDecisions: (values) => sealForUsers(keyring, values) } : {}),
    counters: {
      served(policy, kind, latencySeconds) {
        served.inc({ policy, kind });
        latency.observe(latencySeconds);
      },
      batchSeconds: (seconds) => batchSeconds.observe(seconds),
      phaseSeconds: (phase, seconds) => runPhases.observe({ phase }, seconds),
      expired: (stage, count) => expired.inc({ stage }, count),
      shadowed(shadowId, weight) {
        shadowSlates.inc({ shadow: shadowId });
        if (Number.isFinite(weight)) shadowWeight.inc({ shadow: shadowId }, weight);
      },
    },
  });

  const requests = await startConsumerLoop<RecRequest>({
    kafka,
    groupId: requestsGroup,
    topics: [topics.recRequests],
    deadLetterTopic: topics.recRequestsDlq,
    // Requests may carry a raw userId: dead letters keep reason, offsets and a redacted payload.
    redactDeadLetter: redactRawUserIds,
    producer,
    logger,
    registry,
    decode: decodeRecRequest,
    handleBatch,
    partitionsConsumedConcurrently: config.concurrency,
    sessionTimeoutMs: config.sessionTimeoutMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    keepAliveWhileHandlingMs: config.maxBatchTimeMs,
    maxBytesPerPartition: config.maxBytesPerPartition,
    readiness: deps.readiness,
    onFatal: deps.fail && ((err) => deps.fail?.("the scorer's request consumer cannot recover", err)),
  });
  // A bad announcement is dead-lettered (and counted) on its own topic; the registry poll
  // still finds the version it meant.
  const versions = await startConsumerLoop<ModelVersionAnnouncement>({
    kafka,
    groupId: versionsGroup,
    topics: [topics.modelVersions],
    deadLetterTopic: topics.modelVersionsDlq,
    producer,
    logger,
    registry,
    fromBeginning: false,
    decode: (value) => decodeMessage<ModelVersionAnnouncement>(modelVersionSpec, value),
    handleBatch: (messages) => holder.swapTo(messages[messages.length - 1]!.value.version),
    readiness: deps.readiness,
    onFatal: deps.fail && ((err) => deps.fail?.("the scorer's model-version consumer cannot recover", err)),
  });

  const stopConsuming = async () => {
    for (const timer of timers) clearInterval(timer);
    await requests.stop();
    await versions.stop();
  };
  let stopped: Promise<void> | undefined;
  return {
    requests,
    versions,
    producer,
    redis,
    holder,
    stop() {
      stopped ??= (async () => {
        await stopConsuming();
        await flushImpressions();
        await producer.close();
        await logProducer?.close();
        await holder.close();
        await redis.quit();
      })();
      return stopped;
    },
  };
}

import type { Redis } from "ioredis";
import { Counter, Gauge, Histogram, errorMessage, type Logger, type Registry, type Shutdown, type ConfigOf, type CommonConfig } from "@recfleet/runtime";
import { createKafka, createProducer, ensureFleetTopics, startConsumerLoop, type ConsumedMessage, type Decoded } from "@recfleet/bus";
import { consumerGroupId, decodeMessage, modelVersionSpec, recRequestSpec, topicNames, type ModelVersionAnnouncement, type RecRequest } from "@recfleet/contracts";
import { createModelRegistry, createPseudonymiser, createRedis, createStore, resolvePseudonymSecret } from "@recfleet/store";
import { assignPolicy, createPolicy, createRng, linearStateFromSums, type LinearBanditState, type Policy } from "@recfleet/policy";
import { scoreRequests } from "./handler";
import { ModelHolder } from "./model-holder";
import { loadServingModel } from "./serving-model";
import type { scorerConfigSchema } from "./config";

export type ScorerConfig = CommonConfig & ConfigOf<typeof scorerConfigSchema>;

export interface RunningScorer {
  holder: ModelHolder;
  stop(): Promise<void>;
}

/** Rec requests must name a user, raw (userId) or pseudonymous (user). */
export function decodeRecRequest(value: Buffer | null): Decoded<RecRequest> {
  const decoded = decodeMessage<RecRequest>(recRequestSpec, value);
  if (decoded.ok && !decoded.value.user && !decoded.value.userId) return { ok: false, reason: "missing_field", detail: "userId or user is required" };
  if (decoded.ok && decoded.value.policy) {
    try {
      createPolicy(decoded.value.policy);
    } catch (err) {
      return { ok: false, reason: "unknown_policy", detail: errorMessage(err).slice(0, 200) };
    }
  }
  return decoded;
}

function parseSplit(text: string): { policy: string; weight: number }[] {
  // "greedy:1,thompson:1" — the weight is after the last colon of each entry.
  return text.split(",").map((entry) => {
    const at = entry.lastIndexOf(":");
    const weight = at > 0 ? Number(entry.slice(at + 1)) : NaN;
    return Number.isFinite(weight) ? { policy: entry.slice(0, at).trim(), weight } : { policy: entry.trim(), weight: 1 };
  });
}

export async function startScorer(config: ScorerConfig, deps: { logger: Logger; registry: Registry; shutdown?: Shutdown; redis?: Redis; setReady?: (r: boolean) => void }): Promise<RunningScorer> {
  const { logger, registry: metrics } = deps;
  const topics = topicNames(config.namespace);
  const redis = deps.redis ?? createRedis(config.redisUrl, logger);
  const store = createStore(redis, config.namespace, { attributionWindowMs: config.attributionWindowMs, attributionGraceMs: config.attributionGraceMs, historyCap: config.historyCap, popularityHalfLifeMs: config.popularityHalfLifeMs, replayHorizonMs: config.replayHorizonMs });
  const models = createModelRegistry(redis, config.namespace);
  const pseudonymise = createPseudonymiser(resolvePseudonymSecret(config, logger));
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: "recfleet-scorer", logger });
  await ensureFleetTopics(kafka, config.namespace, { partitions: config.partitions });
  const producer = await createProducer(kafka);

  const served = new Counter({ name: "recfleet_scorer_recommendations_total", help: "Recommendations published, by policy and kind (model|cold_start).", labelNames: ["policy", "kind"], registers: [metrics] });
  const batchSeconds = new Histogram({ name: "recfleet_scorer_batch_seconds", help: "Scoring time of one batch (reads, retrieval, policy, writes).", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [metrics] });
  const latency = new Histogram({ name: "recfleet_scorer_request_latency_seconds", help: "Request ts to publish.", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [metrics] });
  const providerGauge = new Gauge({ name: "recfleet_scorer_execution_provider", help: "1 for the execution provider running the retrieval graph.", labelNames: ["provider"], registers: [metrics] });
  const versionGauge = new Gauge({ name: "recfleet_scorer_model_info", help: "1 for the model version being served.", labelNames: ["version"], registers: [metrics] });
  const refusedCounter = new Counter({ name: "recfleet_scorer_model_refused_total", help: "Model versions refused at load (corrupt or incomplete).", registers: [metrics] });

  const providers = config.executionProviders;
  const holder = new ModelHolder(
    (version) => loadServingModel(models, version, { executionProviders: providers, logger, intraOpNumThreads: config.intraOpThreads }),
    logger,
    (event) => {
      if (event.kind === "refused") refusedCounter.inc();
      else {
        versionGauge.reset();
        versionGauge.set({ version: event.version }, 1);
      }
    },
  );
  const checkCurrent = async () => {
    const version = await models.currentVersion();
    if (version) await holder.swapTo(version);
  };
  await checkCurrent();
  const poll = setInterval(() => void checkCurrent().catch((err: unknown) => logger.warn("model poll failed", { error: errorMessage(err) })), config.modelPollMs);

  const split = parseSplit(config.policySplit);
  const policyCache = new Map<string, Policy>();
  const policy = (spec: string): Policy => {
    let p = policyCache.get(spec);
    if (!p) policyCache.set(spec, (p = createPolicy(spec)));
    return p;
  };
  for (const share of split) policy(share.policy); // fail fast on a bad POLICY_SPLIT
  const rng = createRng(config.policySeed || Date.now() % 2 ** 31);

  // Impressions' share of the neural-linear bandit (Σxxᵀ, −p·x), summed in memory and flushed
  // every LINEAR_FLUSH_INTERVAL: d² increments per flush instead of per batch keeps it off the
  // request path. A crash loses at most one interval of these increments (the state is a
  // learning signal, not a ledger); clicks are folded in by the features worker.
  const linearDelta = new Map<string, { d: number; a: Float64Array; b: Float64Array; count: number }>();
  const flushLinear = async () => {
    const pending = [...linearDelta];
    linearDelta.clear();
    for (const [version, delta] of pending) await store.addLinearImpressions(version, delta.d, delta.a, delta.b, delta.count);
  };
  const flushTimer = setInterval(() => void flushLinear().catch((err: unknown) => logger.warn("flushing linear bandit impressions failed", { error: errorMessage(err) })), config.linearFlushMs);

  // Neural-linear bandit state of the serving version, re-read from Redis every few seconds
  // (every scorer adds its impressions; the features worker adds the clicks).
  let linear: { version: string; state: LinearBanditState } | undefined;
  const refreshLinear = async () => {
    const model = holder.acquire();
    try {
      if (!model.model) return;
      const { version, dim: d } = model.model;
      const sums = await store.readLinearSums(version, d);
      for (let i = 0; i < d; i++) sums.a[i * d + i]! += config.linearLambda;
      linear = { version, state: linearStateFromSums(d, config.linearLambda, sums.count, sums.a, sums.b) };
    } finally {
      model.release();
    }
  };
  await refreshLinear().catch(() => undefined);
  const linearTimer = setInterval(() => void refreshLinear().catch((err: unknown) => logger.warn("reading the linear bandit state failed", { error: errorMessage(err) })), config.linearRefreshMs);

  const scoreSlice = async (messages: ConsumedMessage<RecRequest>[]): Promise<void> => {
    const started = performance.now();
    const lease = holder.acquire();
    try {
      if (lease.model) {
        providerGauge.reset();
        providerGauge.set({ provider: lease.model.provider }, 1);
      }
      const batch = await scoreRequests(
        messages.map((m) => m.value),
        {
          store,
          model: lease.model,
          pseudonymise,
          policyFor: (request, user) => policy(request.policy ?? assignPolicy(user, split)),
          rng,
          ...(linear && linear.version === lease.model?.version ? { linearState: linear.state } : {}),
          now: Date.now,
          defaultK: config.defaultK,
          candidates: config.candidates,
          scoreToLogit: (cos) => (cos - config.scoreOffset) * config.scoreScale,
          explanations: config.explanations,
          logVectors: config.decisionLogVectors,
        },
      );
      // Record impressions before publishing: a click can only follow a published list.
      // Only first recordings feed the linear bandit, so a replayed batch adds nothing twice.
      const fresh = await Promise.all(batch.records.map((record) => store.recordRecommendation(record)));
      batch.records.forEach((record, r) => {
        if (!fresh[r] || !record.modelVersion) return;
        for (const item of record.items) {
          const x = item.banditContext;
          if (!x || item.expected === undefined) continue;
          const d = x.length;
          let delta = linearDelta.get(record.modelVersion);
          if (!delta) linearDelta.set(record.modelVersion, (delta = { d, a: new Float64Array(d * d), b: new Float64Array(d), count: 0 }));
          for (let i = 0; i < d; i++) {
            delta.b[i]! -= item.expected * x[i]!;
            for (let j = 0; j < d; j++) delta.a[i * d + j]! += x[i]! * x[j]!;
          }
          delta.count++;
        }
      });
      await store.writeUserVectors(batch.userVectors, config.userVectorTtlMs);
      const now = Date.now();
      // One recommendation per request, in request order.
      batch.recommendations.forEach((rec, i) => (rec.latencyMs = Math.max(0, now - messages[i]!.value.ts)));
      await producer.sendMany([
        { topic: topics.recommendations, messages: batch.recommendations.map((rec) => ({ key: rec.user, value: rec })) },
        { topic: topics.recLog, messages: config.decisionLog ? batch.decisions.map((d) => ({ key: d.recId, value: d })) : [] },
      ]);
      for (const rec of batch.recommendations) {
        served.inc({ policy: rec.policy, kind: rec.reason ? "cold_start" : "model" });
        latency.observe(rec.latencyMs / 1000);
      }
      batchSeconds.observe((performance.now() - started) / 1000);
    } finally {
      lease.release();
    }
  };

  const requestsLoop = await startConsumerLoop<RecRequest>({
    kafka,
    groupId: config.groupId || consumerGroupId(config.namespace, "scorer"),
    topics: [topics.recRequests],
    deadLetterTopic: topics.recRequestsDlq,
    producer,
    logger,
    registry: metrics,
    decode: decodeRecRequest,
    partitionsConsumedConcurrently: config.concurrency,
    maxBytesPerPartition: config.maxBytesPerPartition,
    handleBatch: async (messages, ctx) => {
      // Bounded slices: a backlog fetch can hold thousands of requests, and one send of all
      // their answers would exceed the broker's message size limit.
      for (let i = 0; i < messages.length; i += config.maxBatch) {
        await scoreSlice(messages.slice(i, i + config.maxBatch));
        await ctx.heartbeat();
      }
    },
  });

  // Every scorer process must see every announcement: a group of its own, from "now".
  const versionsLoop = await startConsumerLoop<ModelVersionAnnouncement>({
    kafka,
    groupId: consumerGroupId(config.namespace, "scorer-versions", `${process.pid}-${Date.now().toString(36)}`),
    topics: [topics.modelVersions],
    deadLetterTopic: topics.modelVersionsDlq,
    producer,
    logger,
    registry: metrics,
    fromBeginning: false,
    decode: (v) => decodeMessage<ModelVersionAnnouncement>(modelVersionSpec, v),
    handleBatch: async (messages) => {
      const latest = messages[messages.length - 1]!.value;
      await holder.swapTo(latest.version);
    },
  });
  deps.setReady?.(true);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      deps.setReady?.(false);
      clearInterval(poll);
      clearInterval(linearTimer);
      clearInterval(flushTimer);
      await requestsLoop.stop();
      await versionsLoop.stop();
      await flushLinear().catch((err: unknown) => logger.warn("flushing linear bandit impressions failed", { error: errorMessage(err) }));
      await producer.close();
      await holder.close();
      if (!deps.redis) await redis.quit();
    })());
  deps.shutdown?.onShutdown("scorer", stop);
  return { holder, stop };
}

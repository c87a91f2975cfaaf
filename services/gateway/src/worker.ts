import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import {
  Counter,
  Gauge,
  Histogram,
  RecfleetError,
  type Logger,
  type Registry,
  type WorkerContext,
} from "@recfleet/runtime";
import { connectFleetKafka, createProducer, startPartitionReader, type PartitionReader } from "@recfleet/bus";
import { consumerGroupId, REPLY_PARTITIONS, topicNames, type RecRequest } from "@recfleet/contracts";
import {
  announcementOf,
  createApiKeys,
  createModelRegistry,
  connectRedis,
  createStore,
  leaseReplyPartition,
  takeTokens,
} from "@recfleet/store";
import { createGatewayHandler } from "./app";
import { gatewayPolicies, type GatewayConfig } from "./config";
import { createFleetConsole, type PolicyStats } from "./console";
import { CONSOLE_HTML } from "./console-page";
import { buildOpenApi } from "./openapi";
import { createPendingReplies } from "./replies";

export interface GatewayWorker {
  /** The API's bound port (GATEWAY_PORT, or the kernel's pick for 0). */
  port: number;
  /** The rec.replies partition this process leased. */
  replyPartition: number;
  redis: Redis;
  stop(): Promise<void>;
}

/** Items the console reads per-policy statistics of (the most popular ones): bounded work per poll. */
const CONSOLE_ITEMS = 2000;

export async function startGatewayWorker(
  config: GatewayConfig,
  deps: { logger: Logger; registry: Registry } & Partial<Pick<WorkerContext<unknown>, "readiness">>,
): Promise<GatewayWorker> {
  const { logger, registry } = deps;
  const policies = gatewayPolicies(config);
  const topics = topicNames(config.namespace);
  const instance = `${process.pid}-${Date.now().toString(36)}`;
  const kafka = await connectFleetKafka(config, `${config.namespace}-gateway`, logger);
  const redis = await connectRedis(config, logger, deps.readiness);
  const store = createStore(redis, config.namespace, { popularityHalfLifeMs: config.popularityHalfLifeMs });
  const models = createModelRegistry(redis, config.namespace);
  const apiKeys = createApiKeys(redis, config.namespace);
  const producer = await createProducer(kafka, { compression: config.kafkaCompression });

  const requests = new Counter({
    name: "recfleet_gateway_requests_total",
    help: "HTTP requests answered, by route and status.",
    labelNames: ["route", "status"],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: "recfleet_gateway_request_seconds",
    help: "HTTP request to response, by route.",
    labelNames: ["route"],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const events = new Counter({
    name: "recfleet_gateway_events_total",
    help: "Events received, by outcome (accepted: produced to clickstream).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const deadlines = new Counter({
    name: "recfleet_gateway_deadline_total",
    help: "Recommendation requests past their deadline: timeout (504) or fallback (popular).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const answers = new Counter({
    name: "recfleet_gateway_answers_total",
    help: "Answers read from this gateway's reply partition: matched, late (past the deadline), foreign (not asked here), invalid.",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const requestPrefix = `gw-${randomBytes(4).toString("hex")}-`;
  const pending = createPendingReplies(requestPrefix, { answer: (outcome) => answers.inc({ outcome }) });
  new Gauge({
    name: "recfleet_gateway_pending_requests",
    help: "Recommendation requests waiting for their answer.",
    registers: [registry],
    collect() {
      this.set(pending.size);
    },
  });

  const lease = await leaseReplyPartition(redis, config.namespace, REPLY_PARTITIONS, config.replyLeaseTtlMs, logger);
  const replyPartition = lease.partition;
  new Gauge({
    name: "recfleet_gateway_reply_partition",
    help: "The rec.replies partition this gateway reads.",
    registers: [registry],
  }).set(replyPartition);
  deps.readiness?.addReadinessCheck("reply-lease", () => lease.lock.held);
  let reader: PartitionReader;
  try {
    reader = await startPartitionReader({
      kafka,
      topic: topics.recReplies,
      partition: replyPartition,
      groupId: consumerGroupId(config.namespace, "gateway-replies", instance),
      logger,
      onValues: (values) => pending.deliver(values),
      ...(deps.readiness ? { readiness: deps.readiness } : {}),
    });
  } catch (err) {
    await lease.lock.release().catch(() => undefined);
    throw err;
  }

  let sequence = 0;
  const fleetConsole = createFleetConsole({
    targets: config.consoleTargets,
    async models() {
      const current = await models.currentVersion();
      return (await models.listVersions()).map((m) => ({
        version: m.version,
        status: m.status,
        current: m.version === current,
        createdAt: m.createdAt,
        metrics: m.metrics,
      }));
    },
    async policies() {
      const items = (await store.readPopularItems(CONSOLE_ITEMS)).map((p) => p.itemId);
      const out: PolicyStats[] = [];
      for (const policy of [...policies.ids, "popular"]) {
        const stats = await store.readItemStats(items, policy);
        let impressions = 0;
        let clicks = 0;
        let expected = 0;
        let shown = 0;
        for (const s of stats) {
          const p = s.policy!;
          impressions += p.impressions;
          clicks += p.clicks;
          expected += p.expectedClicks;
          if (p.impressions > 0) shown++;
        }
        out.push({
          policy,
          impressions,
          clicks,
          ctr: impressions > 0 ? clicks / impressions : 0,
          lift: expected > 0 ? clicks / expected : null,
          coverage: items.length > 0 ? shown / items.length : 0,
        });
      }
      return out;
    },
  });

  const handler = createGatewayHandler({
    limits: {
      maxBodyBytes: config.maxBodyBytes,
      maxEventsPerBatch: config.maxEventsPerBatch,
      defaultK: config.defaultK,
      deadlineMs: config.deadlineMs,
      popularFallback: config.popularFallback,
      corsOrigins: config.corsOrigins,
    },
    verifyKey: (presented) => apiKeys.verify(presented),
    takeToken: (key) => takeTokens(redis, config.namespace, key),
    policies,
    produceEvents: (valid) =>
      producer.send(
        topics.clickstream,
        valid.map((e) => ({ key: e.userId, value: e })),
      ),
    async recommend(partial, deadlineMs) {
      // The scorer does not answer past the time this gateway stops waiting (it falls back then).
      const request: RecRequest = {
        ...partial,
        requestId: `${requestPrefix}${++sequence}`,
        replyPartition,
        deadline: Date.now() + deadlineMs,
      };
      const answer = pending.wait(request.requestId, deadlineMs);
      await producer.send(topics.recRequests, [{ key: request.userId ?? null, value: request }]);
      return answer;
    },
    async popularItems(k) {
      const popular = await store.readPopularItems(k);
      return popular.map((p, r) => ({ itemId: p.itemId, score: p.score, rank: r + 1, propensity: 1, explored: false }));
    },
    openApi: buildOpenApi(config),
    consoleHtml: CONSOLE_HTML,
    admin: {
      overview: () => fleetConsole.overview(),
      async rollback() {
        const { from, to } = await models.rollback();
        const meta = await models.getMeta(to);
        if (!meta) throw new RecfleetError(`rolled back to ${to}, but its metadata is gone`, { retriable: false });
        await producer.send(topics.modelVersions, [
          { key: "model", value: announcementOf(meta, { rollbackFrom: from }) },
        ]);
        logger.info("model rolled back from the console", { from, to });
        return { from, to };
      },
    },
    counters: {
      request(route, status, s) {
        requests.inc({ route, status: String(status) });
        seconds.observe({ route }, s);
      },
      events: (outcome, n) => events.inc({ outcome }, n),
      deadline: (outcome) => deadlines.inc({ outcome }),
    },
  });

  const server: Server = createServer(handler);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  if (config.portFile) writeFileSync(config.portFile, String(port));
  logger.info("gateway listening", { port, replyPartition, deadlineMs: config.deadlineMs });

  let stopped: Promise<void> | undefined;
  return {
    port,
    replyPartition,
    redis,
    stop() {
      stopped ??= (async () => {
        // Stop accepting, let in-flight requests finish (bounded by their deadline), then close.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.race([closed, new Promise((r) => setTimeout(r, config.deadlineMs + 500))]);
        server.closeAllConnections();
        pending.clear();
        await reader.stop();
        await lease.lock.release().catch(() => undefined);
        await producer.close();
        await redis.quit();
      })();
      return stopped;
    },
  };
}

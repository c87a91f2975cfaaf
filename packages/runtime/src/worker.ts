import type { Registry } from "prom-client";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import {
  ConfigError,
  loadConfig,
  str,
  int,
  bool,
  oneOf,
  duration,
  describeConfig,
  list,
  optionalStr,
  type ConfigOf,
  type Field,
} from "./config";
import { createLogger, type Logger } from "./log";
import { errorMessage } from "./errors";
import { createMetricsRegistry } from "./metrics";
import { startHttpServer } from "./http";
import { createShutdown, type Shutdown } from "./shutdown";
import { createReadiness, type Readiness } from "./readiness";

/** Codecs a worker may compress what it produces with (KAFKA_COMPRESSION; packages/bus/src/producer.ts). */
export const KAFKA_COMPRESSIONS = ["gzip", "lz4", "snappy", "none"] as const;

/** Settings every worker shares; each worker adds its own schema next to its main.ts. */
export const commonConfigSchema = {
  kafkaBrokers: list("KAFKA_BROKERS", ["127.0.0.1:9092"]),
  kafkaCompression: oneOf("KAFKA_COMPRESSION", KAFKA_COMPRESSIONS, "gzip"),
  // Kafka security (docs/security.md): TLS to the brokers, SASL for who the worker is.
  kafkaSsl: bool("KAFKA_SSL", false),
  kafkaCaFile: optionalStr("KAFKA_CA_FILE", "PEM file of the CA that signed the brokers' certificates"),
  kafkaSaslMechanism: oneOf(
    "KAFKA_SASL_MECHANISM",
    ["none", "plain", "scram-sha-256", "scram-sha-512"] as const,
    "none",
  ),
  kafkaSaslUsername: optionalStr("KAFKA_SASL_USERNAME", "the worker's Kafka principal"),
  kafkaSaslPassword: optionalStr("KAFKA_SASL_PASSWORD", "the password of KAFKA_SASL_USERNAME", { secret: true }),
  redisUrl: str("REDIS_URL", "redis://127.0.0.1:6379", "redis://[user:password@]host:port, or rediss:// for TLS"),
  redisCaFile: optionalStr("REDIS_CA_FILE", "PEM file of the CA that signed the Redis server's certificate"),
  redisPasswordFile: optionalStr("REDIS_PASSWORD_FILE", "file holding the Redis password (overrides the URL's)"),
  redisClusterNodes: optionalStr(
    "REDIS_CLUSTER_NODES",
    "host:port,… seed nodes of a Redis Cluster (REDIS_URL then gives only scheme, user and password); or use a redis+cluster://host:port,… URL",
  ),
  namespace: str("RECFLEET_NAMESPACE", "recfleet", "topic and key namespace"),
  metricsPort: int("METRICS_PORT", 0, { min: 0, max: 65535 }),
  // With METRICS_PORT=0 the kernel picks the port; a supervisor learns it from this file
  // instead of guessing a free port beforehand (which another process can take meanwhile).
  metricsPortFile: optionalStr("METRICS_PORT_FILE", "file to write the bound metrics port to"),
  shutdownDeadlineMs: duration("SHUTDOWN_DEADLINE", 20_000),
};
export type CommonConfig = ConfigOf<typeof commonConfigSchema>;

export interface WorkerContext<C> {
  config: CommonConfig & C;
  logger: Logger;
  registry: Registry;
  shutdown: Shutdown;
  /** Register probes of what must be alive for work (consumer loops, Redis); /readyz runs them. */
  readiness: Readiness;
  /** For a component that cannot recover (a consumer out of restarts): shut down, then exit 1 for the supervisor. */
  fail(reason: string, err?: unknown): void;
}

/**
 * Boots a worker process: config from the environment (errors name the variable), logs,
 * a metrics registry and /metrics, /healthz, /readyz, and the shutdown registry.
 */
export async function bootWorker<S extends Record<string, import("./config").Field<unknown>>>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkerContext<ConfigOf<S>>> {
  const logger = createLogger(service);
  let config: CommonConfig & ConfigOf<S>;
  try {
    config = { ...loadConfig(commonConfigSchema, env), ...loadConfig(schema, env) };
  } catch (err) {
    logger.error("invalid configuration", { error: err instanceof Error ? err.message : String(err) });
    process.exit(2);
  }
  const registry = createMetricsRegistry(service);
  const shutdown = createShutdown({ logger, deadlineMs: config.shutdownDeadlineMs });
  const readiness = createReadiness();
  const report = async () => (shutdown.stopping ? { ready: false, failing: ["shutting down"] } : readiness.evaluate());
  const http = await startHttpServer({ port: config.metricsPort, registry, readiness: report });
  shutdown.onShutdown("http", () => http.close());
  if (config.metricsPortFile) writeFileSync(config.metricsPortFile, String(http.port));
  logger.info("starting", {
    metricsPort: http.port,
    config: { ...describeConfig(commonConfigSchema, config), ...describeConfig(schema, config) },
  });
  const fail = (reason: string, err?: unknown) => {
    logger.error(`${reason}; shutting down`, { error: err === undefined ? undefined : errorMessage(err) });
    void shutdown.shutdown(reason).then(() => process.exit(1));
  };
  process.on("unhandledRejection", (reason) => fail("unhandled rejection", reason));
  return { config, logger, registry, shutdown, readiness, fail };
}

/**
 * A worker process's main: boot, start the worker, and make its `stop()` — which knows its own
 * order (consumers, then producers, then stores) — the one shutdown step. A ConfigError found
 * while starting (a secret, a policy spec) exits 2 like one found while loading the environment.
 */
export async function runWorker<S extends Record<string, Field<unknown>>, W extends { stop(): Promise<void> }>(
  service: string,
  schema: S,
  start: (ctx: WorkerContext<ConfigOf<S>>) => Promise<W>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<W> {
  const ctx = await bootWorker(service, schema, env);
  let worker: W;
  try {
    worker = await start(ctx);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    ctx.logger.error("invalid configuration", { error: err.message });
    process.exit(2);
  }
  ctx.shutdown.onShutdown(service, () => worker.stop());
  return worker;
}

/** True when the module at `moduleUrl` is the process's entry file (so `main()` should run). */
export function isEntryModule(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

export { RecfleetError, NonRetriableError, shouldRetry, errorMessage } from "./errors";
export {
  ConfigError,
  loadConfig,
  describeConfig,
  redactUrlPassword,
  str,
  optionalStr,
  int,
  num,
  bool,
  oneOf,
  list,
  listOf,
  duration,
  parseDuration,
  type Field,
  type ConfigOf,
} from "./config";
export { createLogger, type Logger, type LogLevel } from "./log";
export { createMetricsRegistry } from "./metrics";
export { rssOf } from "./process-memory";
export { startHttpServer, freePort, type HttpServerOptions, type RunningHttpServer } from "./http";
export { createShutdown, type Shutdown } from "./shutdown";
export type { CliCommand } from "./cli";
export { createReadiness, type Readiness, type ReadinessCheck, type ReadinessReport } from "./readiness";
export {
  bootWorker,
  runWorker,
  isEntryModule,
  commonConfigSchema,
  KAFKA_COMPRESSIONS,
  type CommonConfig,
  type WorkerContext,
} from "./worker";
export { Registry, Counter, Gauge, Histogram } from "prom-client";

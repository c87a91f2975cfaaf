import { randomBytes } from "node:crypto";
import { commonConfigSchema, loadConfig, RecfleetError, type CommonConfig } from "@recfleet/runtime";

/** A name no other test (or earlier run) uses: topics, groups and key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export interface TestInfra {
  brokers: string[];
  redisUrl: string;
  /**
   * How a worker would connect, from the same env (KAFKA_SSL, KAFKA_SASL_…, REDIS_CA_FILE as
   * `npm test -- --secured` sets them): tests pass it to kafkaSecurity() and newRedisClient().
   */
  connection: CommonConfig;
  /** The same settings as env for workers: KAFKA_BROKERS, REDIS_URL and whichever security variables are set. */
  env: Record<string, string>;
}

/** Variables that say how to reach and authenticate to Kafka and Redis (the rest of a worker's env is its own). */
const CONNECTION_VARIABLES = [
  "KAFKA_BROKERS",
  "KAFKA_SSL",
  "KAFKA_CA_FILE",
  "KAFKA_SASL_MECHANISM",
  "KAFKA_SASL_USERNAME",
  "KAFKA_SASL_PASSWORD",
  "REDIS_URL",
  "REDIS_CA_FILE",
  "REDIS_PASSWORD_FILE",
  "REDIS_CLUSTER_NODES",
];

/**
 * The infrastructure integration tests run against: the stack the test runner started, or
 * whatever KAFKA_BROKERS / REDIS_URL point at. Never the machine's shared Redis by accident.
 */
export function testInfra(env: NodeJS.ProcessEnv = process.env): TestInfra {
  const brokers = env.KAFKA_BROKERS;
  const redisUrl = env.REDIS_URL;
  if (!brokers || !redisUrl) {
    throw new RecfleetError(
      "KAFKA_BROKERS and REDIS_URL are not set: run integration tests through `npm test`, which starts a local Kafka and Redis, or point both at existing infrastructure.",
      { retriable: false },
    );
  }
  const connectionEnv = Object.fromEntries(
    CONNECTION_VARIABLES.flatMap((name) => (env[name] ? [[name, env[name]!]] : [])),
  );
  return {
    brokers: brokers.split(","),
    redisUrl,
    connection: loadConfig(commonConfigSchema, env),
    env: connectionEnv,
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

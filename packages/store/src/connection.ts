/**
 * The one way a worker connects to Redis: URL (redis:// or rediss:// for TLS, optionally with
 * user:password), the CA of the server's certificate, and a password file (Kubernetes secrets
 * mounted as files). A Redis Cluster is named by REDIS_CLUSTER_NODES (seed host:port list) or
 * a redis+cluster:// (rediss+cluster://) URL listing the seeds; then ioredis' Cluster client is
 * used, with the same user, password and TLS for every node; `connectRedis` checks access once at start so a refused password or an
 * unknown CA stops the worker with a ConfigError naming the variable, instead of a client that
 * reconnects forever.
 */
import { readFileSync } from "node:fs";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { ConfigError, redactUrlPassword, type Logger, type Readiness } from "@recfleet/runtime";

/** REDIS_URL, REDIS_CA_FILE, REDIS_PASSWORD_FILE (runtime's commonConfigSchema). */
export interface RedisConnection {
  redisUrl: string;
  redisCaFile?: string | undefined;
  redisPasswordFile?: string | undefined;
  /** REDIS_CLUSTER_NODES: "host:port,host:port" seeds of a Redis Cluster. */
  redisClusterNodes?: string | undefined;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

/** Seeds, scheme and credentials of a cluster connection, or undefined for a single Redis. */
function clusterTarget(
  c: RedisConnection,
): { seeds: { host: string; port: number }[]; tls: boolean; username?: string; password?: string } | undefined {
  const fromUrl = CLUSTER_URL.exec(c.redisUrl);
  if (!fromUrl && c.redisClusterNodes === undefined) return undefined;
  let scheme: string, userinfo: string | undefined, hosts: string;
  let variable = "REDIS_CLUSTER_NODES";
  if (fromUrl) {
    [, scheme = "redis", userinfo, hosts = ""] = fromUrl;
    variable = "REDIS_URL";
  } else {
    const url = new URL(c.redisUrl);
    scheme = url.protocol.replace(/:$/, "");
    userinfo = url.username || url.password ? `${url.username}:${url.password}` : undefined;
    hosts = c.redisClusterNodes!;
  }
  const seeds = hosts.split(",").map((h) => {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(h.trim());
    if (!m) throw new ConfigError(variable, "host:port seeds separated by commas", redactUrlPassword(hosts));
    return { host: m[1]!, port: Number(m[2]) };
  });
  const [user = "", pass] = (userinfo ?? "").split(":");
  return {
    seeds,
    tls: scheme === "rediss",
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(pass !== undefined && pass !== "" ? { password: decodeURIComponent(pass) } : {}),
  };
}

function readConfigFile(variable: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(variable, `a readable ${what} (${(err as Error).message})`, path);
  }
}

/**
 * A new ioredis client for a connection: TLS with the configured CA, the password from its file
 * (put into the URL, which ioredis prefers over its options). `extra` are ioredis options.
 */
export function newRedisClient(c: RedisConnection, extra: RedisOptions): Redis {
  const cluster = clusterTarget(c);
  if (cluster) return newClusterClient(c, cluster, extra);
  const options: RedisOptions = { ...extra };
  if (c.redisCaFile !== undefined) {
    if (!c.redisUrl.startsWith("rediss://"))
      throw new ConfigError("REDIS_URL", "a rediss:// URL when REDIS_CA_FILE is set", redactUrlPassword(c.redisUrl));
    options.tls = { ca: readConfigFile("REDIS_CA_FILE", c.redisCaFile, "PEM file") };
  }
  let url = c.redisUrl;
  if (c.redisPasswordFile !== undefined) {
    const parsed = new URL(c.redisUrl);
    parsed.password = encodeURIComponent(
      readConfigFile("REDIS_PASSWORD_FILE", c.redisPasswordFile, "password file").trim(),
    );
    url = parsed.toString();
  }
  return new Redis(url, options);
}

/**
 * ioredis' Cluster client. It is handed out typed as Redis: the store uses only commands both
 * clients route the same way (single-key commands, and scripts whose keys share a slot).
 */
function newClusterClient(
  c: RedisConnection,
  target: NonNullable<ReturnType<typeof clusterTarget>>,
  extra: RedisOptions,
): Redis {
  const redisOptions: RedisOptions = { ...extra };
  if (target.username !== undefined) redisOptions.username = target.username;
  if (target.password !== undefined) redisOptions.password = target.password;
  if (c.redisPasswordFile !== undefined)
    redisOptions.password = readConfigFile("REDIS_PASSWORD_FILE", c.redisPasswordFile, "password file").trim();
  if (c.redisCaFile !== undefined) {
    if (!target.tls)
      throw new ConfigError("REDIS_URL", "a rediss:// URL when REDIS_CA_FILE is set", redactUrlPassword(c.redisUrl));
    redisOptions.tls = { ca: readConfigFile("REDIS_CA_FILE", c.redisCaFile, "PEM file") };
  } else if (target.tls) redisOptions.tls = {};
  const cluster = new Cluster(target.seeds, {
    redisOptions,
    // A failover takes a few seconds: keep retrying commands through it instead of failing them.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    maxRedirections: 32,
    slotsRefreshTimeout: 2000,
    enableAutoPipelining: false,
  });
  return cluster as unknown as Redis;
}

/** Redis refused who we are, or we refused its certificate: a ConfigError naming what to fix. */
function explainRedisAccessError(err: unknown, c: RedisConnection): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const where = redactUrlPassword(c.redisUrl);
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(message))
    return new ConfigError(
      c.redisPasswordFile ? "REDIS_PASSWORD_FILE" : "REDIS_URL",
      `credentials Redis accepts (${message})`,
      where,
      "Set the worker's Redis user and password (REDIS_URL user:password@, or REDIS_PASSWORD_FILE).",
    );
  if (/certificate|self[- ]signed|unable to verify/i.test(message))
    return new ConfigError(
      "REDIS_CA_FILE",
      `the CA that signed the Redis server's certificate (${message})`,
      c.redisCaFile ?? "the system's CAs",
      "Set REDIS_CA_FILE to the server's CA certificate (PEM).",
    );
  if (/NOPERM/i.test(message))
    return new ConfigError(
      "REDIS_URL",
      `a Redis user allowed to PING (${message})`,
      where,
      "Give the worker's ACL user the commands and keys of its role (docs/security.md).",
    );
  return err;
}

/**
 * A Redis client that logs connection errors (ioredis reconnects with backoff and queues
 * commands meanwhile), with a "redis" readiness probe when `readiness` is given. Credentials and
 * TLS are checked at start: a refused password or certificate throws a ConfigError naming the
 * variable. A Redis that is merely down is not fatal: the worker starts unready and catches up.
 * Close with quit().
 */
export async function connectRedis(
  c: RedisConnection,
  logger: Logger,
  readiness?: Pick<Readiness, "addReadinessCheck">,
): Promise<Redis> {
  const redis = newRedisClient(c, { maxRetriesPerRequest: 20, enableAutoPipelining: false });
  const firstError = new Promise<unknown>((resolve) => redis.once("error", resolve));
  redis.on("error", (err: Error) => logger.warn("redis connection error; ioredis reconnects", { error: err.message }));
  const firstAnswer = redis.ping().then(
    () => undefined,
    (err: unknown) => err,
  );
  const outcome = await Promise.race([firstAnswer, firstError]);
  const explained = outcome === undefined ? undefined : explainRedisAccessError(outcome, c);
  if (explained instanceof ConfigError) {
    redis.disconnect();
    throw explained;
  }
  readiness?.addReadinessCheck("redis", async () => (await redis.ping()) === "PONG");
  return redis;
}

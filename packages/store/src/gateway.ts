/**
 * What the HTTP gateway keeps in Redis: API keys (only a hash of each secret is stored), each
 * key's token bucket, and the lease of a rec.replies partition per gateway process.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";
import { NonRetriableError, type Logger } from "@recfleet/runtime";
import { gatewayKeys } from "./keys";
import { SCRIPTS, runScript } from "./scripts";
import { tryAcquireLock, type HeldLock } from "./lock";

export const API_SCOPES = ["events:write", "recs:read", "admin"] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiKeyInfo {
  id: string;
  name: string;
  scopes: ApiScope[];
  /** Tokens per second of its bucket, and the bucket's size. */
  rate: number;
  burst: number;
  createdAt: number;
  revokedAt?: number;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The whole key, shown once: only its hash is stored. */
  key: string;
}

/** A key is `rfk_<id>_<secret>`: the id finds the record, the secret is checked against its hash. */
const KEY_FORMAT = /^rfk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_FORMAT = /^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$/;

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** Scopes, rate or name a key cannot be created with. */
export class ApiKeyOptionError extends NonRetriableError {
  constructor(what: string, value: unknown) {
    super(`${what} (got ${JSON.stringify(value)})`);
  }
}

export interface ApiKeys {
  create(options: { name: string; scopes: readonly string[]; rate: number; burst: number }): Promise<CreatedApiKey>;
  list(): Promise<ApiKeyInfo[]>;
  /** False when no such key exists. */
  revoke(id: string): Promise<boolean>;
  /** The key's record when the presented key is well-formed, known, not revoked and its secret matches. */
  verify(presented: string): Promise<ApiKeyInfo | undefined>;
}

function parseInfo(id: string, h: Record<string, string>): ApiKeyInfo | undefined {
  if (!h.hash) return undefined;
  return {
    id,
    name: h.name ?? "",
    scopes: (h.scopes ?? "").split(",").filter((s): s is ApiScope => (API_SCOPES as readonly string[]).includes(s)),
    rate: Number(h.rate),
    burst: Number(h.burst),
    createdAt: Number(h.createdAt),
    ...(h.revokedAt ? { revokedAt: Number(h.revokedAt) } : {}),
  };
}

export function createApiKeys(redis: Redis, namespace: string): ApiKeys {
  const keys = gatewayKeys(namespace);
  return {
    async create({ name, scopes, rate, burst }) {
      if (!NAME_FORMAT.test(name)) throw new ApiKeyOptionError(`a key name matches ${NAME_FORMAT.source}`, name);
      const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
      if (scopes.length === 0 || unknown.length > 0)
        throw new ApiKeyOptionError(`scopes are one or more of ${API_SCOPES.join(", ")}`, scopes);
      if (!(rate > 0 && rate <= 1e6)) throw new ApiKeyOptionError("the rate is in (0, 1e6] requests per second", rate);
      if (!(burst >= 1 && burst <= 1e7)) throw new ApiKeyOptionError("the burst is in [1, 1e7] requests", burst);
      const id = randomBytes(8).toString("hex");
      const secret = randomBytes(32).toString("base64url");
      const createdAt = Date.now();
      const info: ApiKeyInfo = { id, name, scopes: [...new Set(scopes)] as ApiScope[], rate, burst, createdAt };
      await redis
        .multi()
        .hset(keys.apiKey(id), {
          name,
          scopes: info.scopes.join(","),
          hash: sha256(secret).toString("hex"),
          rate: String(rate),
          burst: String(burst),
          createdAt: String(createdAt),
        })
        .zadd(keys.apiKeys, createdAt, id)
        .exec();
      return { ...info, key: `rfk_${id}_${secret}` };
    },
    async list() {
      const ids = await redis.zrange(keys.apiKeys, 0, -1);
      const p = redis.pipeline();
      for (const id of ids) p.hgetall(keys.apiKey(id));
      const rows = (await p.exec()) ?? [];
      return ids.flatMap((id, i) => {
        const info = parseInfo(id, (rows[i]?.[1] ?? {}) as Record<string, string>);
        return info ? [info] : [];
      });
    },
    async revoke(id) {
      if (!/^[0-9a-f]{16}$/.test(id) || (await redis.exists(keys.apiKey(id))) === 0) return false;
      await redis.hset(keys.apiKey(id), "revokedAt", String(Date.now()));
      await redis.del(keys.bucket(id));
      return true;
    },
    async verify(presented) {
      const m = KEY_FORMAT.exec(presented);
      if (!m) return undefined;
      const [, id, secret] = m as unknown as [string, string, string];
      const h = await redis.hgetall(keys.apiKey(id));
      const info = parseInfo(id, h);
      if (!info || info.revokedAt !== undefined) return undefined;
      return timingSafeEqual(Buffer.from(h.hash!, "hex"), sha256(secret)) ? info : undefined;
    },
  };
}

export interface TokenTake {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** When refused: ms until the request would be allowed. */
  retryAfterMs: number;
}

/** Takes `cost` tokens from a key's bucket (atomic, Redis server time: one bucket across every gateway). */
export async function takeTokens(
  redis: Redis,
  namespace: string,
  key: Pick<ApiKeyInfo, "id" | "rate" | "burst">,
  cost = 1,
): Promise<TokenTake> {
  const bucket = gatewayKeys(namespace).bucket(key.id);
  const [allowed, remaining, retry] = (await runScript(
    redis,
    SCRIPTS.tokenBucket,
    [bucket],
    [key.burst, key.rate, cost],
  )) as [number, number, number];
  return { allowed: allowed === 1, remaining, retryAfterMs: retry };
}

/** Every rec.replies partition is leased by a running gateway. */
export class NoFreeReplyPartitionError extends NonRetriableError {
  constructor(partitions: number) {
    super(
      `all ${partitions} reply partitions are leased by running gateways: stop one, or wait a lease TTL for a crashed one's to expire`,
    );
  }
}

/** Leases the first free rec.replies partition for this process (renewed while held; a crashed holder's lease expires). */
export async function leaseReplyPartition(
  redis: Redis,
  namespace: string,
  partitions: number,
  ttlMs: number,
  logger: Logger,
): Promise<{ partition: number; lock: HeldLock }> {
  const keys = gatewayKeys(namespace);
  const lost =
    "reply partition lease lost (expired or taken): another gateway may read this one's answers; restart this gateway";
  // Start at a random partition so gateways starting together do not all try partition 0 first.
  const offset = Math.floor(Math.random() * partitions);
  for (let i = 0; i < partitions; i++) {
    const partition = (offset + i) % partitions;
    const lock = await tryAcquireLock(redis, keys.replyLease(partition), ttlMs, logger, lost);
    if (lock) return { partition, lock };
  }
  throw new NoFreeReplyPartitionError(partitions);
}

/**
 * Crypto-shredding: every user's behavioural payloads (events on Kafka, training-window entries,
 * decision-log records) are sealed with AES-256-GCM under a data key of that user. Data keys
 * live in Redis wrapped (AES-256-GCM) by the fleet's master key (RECFLEET_MASTER_KEY or
 * RECFLEET_MASTER_KEY_FILE, which never reaches Redis or Kafka). Erasure deletes the user's
 * data key; every copy sealed with it, in any topic, stream or backup, is then noise.
 *
 * A sealed payload names its key by a random key id (kid), never by the user: after erasure
 * nothing links the leftover ciphertext to the user. Readers fetch data keys by kid (one MGET
 * per batch for the misses) and keep them in a bounded cache whose entries expire after
 * RECFLEET_KEY_CACHE_TTL, so an erasure reaches running workers within that time.
 *
 *   ns:dk:u:<user>   string  "<kid>.<wrapped key>" (the user's current data key)
 *   ns:dk:<kid>      string  "<wrapped key>"        (the same key, found by id)
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { ConfigError, NonRetriableError, duration, int, optionalStr, type ConfigOf } from "@recfleet/runtime";
import { decodeMessage, type MessageSpec, type ReasonCode } from "@recfleet/contracts";
import { SCRIPTS, runScript } from "./scripts";
import { isCluster, keySlot } from "./cluster";
import { storeKeys } from "./keys";

export const shredConfigSchema = {
  masterKey: optionalStr(
    "RECFLEET_MASTER_KEY",
    "the 32-byte master key as 64 hex characters or base64 (turns payload encryption on)",
    { secret: true },
  ),
  masterKeyFile: optionalStr("RECFLEET_MASTER_KEY_FILE", "a file holding the master key (64 hex characters or base64)"),
  keyCacheSize: int("RECFLEET_KEY_CACHE_SIZE", 100_000, { min: 0, max: 10_000_000 }),
  /** An erased key stays usable in a running worker's cache for at most this long. */
  keyCacheTtlMs: duration("RECFLEET_KEY_CACHE_TTL", 5_000),
};
export type ShredConfig = ConfigOf<typeof shredConfigSchema>;

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function parseKey(text: string, variable: string): Buffer {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (bytes.byteLength !== KEY_BYTES || (!/^[0-9a-fA-F]{64}$/.test(t) && !/^[A-Za-z0-9+/=_-]+$/.test(t)))
    throw new ConfigError(variable, "32 bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)", "***");
  return bytes;
}

/** The master key from config, or undefined when neither variable is set (encryption off). */
export function resolveMasterKey(
  config: Pick<ShredConfig, "masterKey" | "masterKeyFile">,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): Buffer | undefined {
  if (config.masterKey !== undefined && config.masterKeyFile !== undefined)
    throw new ConfigError(
      "RECFLEET_MASTER_KEY_FILE",
      "to be unset when RECFLEET_MASTER_KEY is set (one source)",
      "set",
    );
  if (config.masterKey !== undefined) return parseKey(config.masterKey, "RECFLEET_MASTER_KEY");
  if (config.masterKeyFile === undefined) return undefined;
  let text: string;
  try {
    text = readFile(config.masterKeyFile);
  } catch {
    throw new ConfigError("RECFLEET_MASTER_KEY_FILE", "a readable file holding the master key", config.masterKeyFile);
  }
  return parseKey(text, "RECFLEET_MASTER_KEY_FILE");
}

/** A sealed payload on the wire: key id and base64 of iv ‖ ciphertext ‖ tag. */
export interface SealedEnvelope {
  k: string;
  c: string;
}

export interface DataKey {
  kid: string;
  key: Buffer;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
}

/** The plaintext, or undefined when the bytes were not sealed with this key and aad (tampered, wrong key). */
function gcmOpen(key: Buffer, sealed: string, aad: string): Buffer | undefined {
  const bytes = Buffer.from(sealed, "base64");
  if (bytes.byteLength < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.byteLength - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** Seals bytes with a user's data key; the key id is bound in as associated data. */
export function sealBytes(dataKey: DataKey, plaintext: Buffer | string): SealedEnvelope {
  const bytes = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
  return { k: dataKey.kid, c: gcmSeal(dataKey.key, bytes, dataKey.kid) };
}

export function openBytes(key: Buffer, envelope: SealedEnvelope): Buffer | undefined {
  return gcmOpen(key, envelope.c, envelope.k);
}

const KID = /^[0-9a-f]{32}$/;

/** A sealed envelope, recognised by shape (exactly k and c); anything else is a plain message. */
export function asSealed(value: unknown): SealedEnvelope | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const v = value as Record<string, unknown>;
  if (keys.length !== 2 || typeof v.k !== "string" || typeof v.c !== "string" || !KID.test(v.k)) return undefined;
  return { k: v.k, c: v.c };
}

/**
 * The decoder of a topic whose messages may be sealed: a sealed envelope (opened later, in the
 * handler, where keys can be fetched for the whole batch) or a plain message valid under `spec`.
 * Never throws.
 */
export function decodeSealedOr<T>(
  spec: MessageSpec,
  bytes: Buffer | null,
  now?: number,
): { ok: true; value: T | SealedEnvelope } | { ok: false; reason: ReasonCode; detail: string } {
  // A sealed copy is base64 (4/3) of the plaintext plus iv, tag and the key id.
  if (bytes !== null && bytes.byteLength <= spec.maxBytes * 2 && bytes[0] === 0x7b && bytes.includes('"c"')) {
    try {
      const sealed = asSealed(JSON.parse(bytes.toString("utf8")));
      if (sealed) return { ok: true, value: sealed };
    } catch {
      // not JSON: decodeMessage below says why
    }
  }
  return decodeMessage<T>(spec, bytes, undefined, now);
}

/** A sealed message whose key is needed and no master key is configured: the worker cannot go on. */
export class MasterKeyMissingError extends NonRetriableError {
  constructor() {
    super(
      "a sealed payload arrived but no master key is configured: set RECFLEET_MASTER_KEY (or RECFLEET_MASTER_KEY_FILE) to the fleet's master key",
    );
  }
}

export interface UserKeyring {
  /** Each user's current data key, created when the user has none (one round trip for the cache misses). */
  forUsers(users: readonly string[]): Promise<Map<string, DataKey>>;
  /** Data keys by key id; an id missing from the answer was erased (its payloads are shredded). */
  byId(kids: readonly string[], options?: { fresh?: boolean }): Promise<Map<string, Buffer>>;
}

export interface KeyringOptions {
  /** Keys kept in memory per direction (LRU); 0 turns the cache off. */
  cacheSize: number;
  /** A cached key is used for at most this long before it is read again (erasure reaches the cache within it). */
  cacheTtlMs: number;
  now?: () => number;
}

/** A bounded LRU whose entries expire; Map keeps insertion order, so the first key is the oldest. */
function expiringCache<V>(size: number, ttlMs: number, now: () => number) {
  const entries = new Map<string, { value: V; until: number }>();
  return {
    get(key: string): V | undefined {
      const e = entries.get(key);
      if (e === undefined) return undefined;
      entries.delete(key);
      if (e.until <= now()) return undefined;
      entries.set(key, e);
      return e.value;
    },
    set(key: string, value: V) {
      if (size === 0) return;
      entries.delete(key);
      entries.set(key, { value, until: now() + ttlMs });
      while (entries.size > size) entries.delete(entries.keys().next().value!);
    },
  };
}

export function createUserKeyring(
  redis: Redis,
  namespace: string,
  masterKey: Buffer,
  options: KeyringOptions,
): UserKeyring {
  const keys = storeKeys(namespace);
  const now = options.now ?? Date.now;
  const byUser = expiringCache<DataKey>(options.cacheSize, options.cacheTtlMs, now);
  const byKid = expiringCache<Buffer>(options.cacheSize, options.cacheTtlMs, now);
  // The wrapped key is bound to its namespace and id: a wrapped key copied elsewhere does not open.
  const unwrap = (kid: string, wrapped: string): Buffer | undefined => {
    const key = gcmOpen(masterKey, wrapped, `${namespace}:${kid}`);
    if (key === undefined)
      throw new NonRetriableError(
        `data key ${kid} does not open with the configured master key: RECFLEET_MASTER_KEY differs from the one that wrote it`,
      );
    // The cache keeps the key for long: give it its own 32 bytes. A small Buffer is a slice of a
    // shared 8 KiB pool, and one cached slice keeps the whole slab alive — keys refreshed every
    // cache TTL landed on ever new slabs, and the SOAK's workers grew by ~8 KiB per cached user.
    const own = Buffer.allocUnsafeSlow(key.byteLength);
    key.copy(own);
    return own;
  };
  return {
    async forUsers(users) {
      const out = new Map<string, DataKey>();
      const missing = [...new Set(users)].filter((u) => {
        const hit = byUser.get(u);
        if (hit) out.set(u, hit);
        return !hit;
      });
      if (missing.length === 0) return out;
      const fresh = missing.map(() => {
        const kid = randomBytes(16).toString("hex");
        return { kid, wrapped: gcmSeal(masterKey, randomBytes(KEY_BYTES), `${namespace}:${kid}`) };
      });
      // The by-id copies first: a user key is never visible before the copy readers look up.
      await Promise.all(fresh.map((f) => redis.set(keys.dataKey(f.kid), f.wrapped)));
      const reply = new Array<string>(missing.length);
      const bySlot = new Map<number, number[]>();
      missing.forEach((u, i) => {
        const slot = isCluster(redis) ? keySlot(keys.userDataKey(u)) : 0;
        bySlot.set(slot, [...(bySlot.get(slot) ?? []), i]);
      });
      for (const indexes of bySlot.values()) {
        const current = (await runScript(
          redis,
          SCRIPTS.dataKeys,
          indexes.map((i) => keys.userDataKey(missing[i]!)),
          indexes.map((i) => `${fresh[i]!.kid}.${fresh[i]!.wrapped}`),
        )) as string[];
        indexes.forEach((i, j) => (reply[i] = current[j] ?? ""));
      }
      // Candidates that lost to an existing key: drop their by-id copies.
      const lost = fresh.filter((f, i) => !reply[i]!.startsWith(`${f.kid}.`));
      if (lost.length > 0) await Promise.all(lost.map((f) => redis.del(keys.dataKey(f.kid))));
      missing.forEach((u, i) => {
        const [kid = "", wrapped = ""] = (reply[i] ?? "").split(".");
        const dataKey = { kid, key: unwrap(kid, wrapped)! };
        byUser.set(u, dataKey);
        byKid.set(kid, dataKey.key);
        out.set(u, dataKey);
      });
      return out;
    },
    async byId(kids, opts = {}) {
      const out = new Map<string, Buffer>();
      const missing = [...new Set(kids)].filter((k) => {
        const hit = opts.fresh ? undefined : byKid.get(k);
        if (hit) out.set(k, hit);
        return !hit;
      });
      for (let i = 0; i < missing.length; i += 10_000) {
        const page = missing.slice(i, i + 10_000);
        // MGET spans slots: one GET per key on a cluster.
        const wrapped = isCluster(redis)
          ? await Promise.all(page.map((k) => redis.get(keys.dataKey(k))))
          : await redis.mget(page.map((k) => keys.dataKey(k)));
        page.forEach((kid, j) => {
          const w = wrapped[j];
          if (w === null || w === undefined) return;
          const key = unwrap(kid, w)!;
          byKid.set(kid, key);
          out.set(kid, key);
        });
      }
      return out;
    },
  };
}

export type OpenOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; shredded: true }
  | { ok: false; shredded: false; reason: ReasonCode | "undecryptable"; detail: string };

/**
 * Opens the sealed ones among `values` (plain values pass through) and validates each against
 * `spec`. A value whose key is gone is `shredded` (skip it and count it); one that does not
 * open or does not validate is invalid with a reason (dead-letter it). Throws
 * MasterKeyMissingError when a value is sealed and there is no keyring.
 */
export async function openSealed<T>(
  keyring: UserKeyring | undefined,
  values: readonly (T | SealedEnvelope)[],
  spec: MessageSpec,
  options: { fresh?: boolean; now?: number } = {},
): Promise<OpenOutcome<T>[]> {
  const sealed = values.map((v) => asSealed(v));
  const kids = sealed.filter((s) => s !== undefined).map((s) => s.k);
  if (kids.length > 0 && keyring === undefined) throw new MasterKeyMissingError();
  const found = kids.length > 0 ? await keyring!.byId(kids, { fresh: options.fresh }) : new Map<string, Buffer>();
  return values.map((v, i): OpenOutcome<T> => {
    const s = sealed[i];
    if (s === undefined) return { ok: true, value: v as T };
    const key = found.get(s.k);
    if (key === undefined) return { ok: false, shredded: true };
    const plain = openBytes(key, s);
    if (plain === undefined)
      return {
        ok: false,
        shredded: false,
        reason: "undecryptable",
        detail: `sealed with key ${s.k} but does not open`,
      };
    const decoded = decodeMessage<T>(spec, plain, undefined, options.now ?? Date.now());
    return decoded.ok ? decoded : { ok: false, shredded: false, reason: decoded.reason, detail: decoded.detail };
  });
}

/** Seals each value with its user's data key (created when absent). */
export async function sealForUsers<T>(
  keyring: UserKeyring,
  values: readonly { user: string; value: T }[],
): Promise<SealedEnvelope[]> {
  const dataKeys = await keyring.forUsers(values.map((v) => v.user));
  return values.map((v) => sealBytes(dataKeys.get(v.user)!, JSON.stringify(v.value)));
}

/** The keyring of a worker, or undefined when no master key is configured (payloads stay plain). */
export function createKeyringFromConfig(redis: Redis, namespace: string, config: ShredConfig): UserKeyring | undefined {
  const masterKey = resolveMasterKey(config);
  return masterKey
    ? createUserKeyring(redis, namespace, masterKey, {
        cacheSize: config.keyCacheSize,
        cacheTtlMs: config.keyCacheTtlMs,
      })
    : undefined;
}

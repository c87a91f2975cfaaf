/**
 * Every Redis key recfleet uses, in one place. Nothing else builds key strings: workers, the
 * scorer and the Lua scripts (which receive their keys in KEYS) all get them from here.
 *
 * Layout under a namespace `ns` (RECFLEET_NAMESPACE). Ids are safe inside keys: contracts
 * only admits ids matching ID_PATTERN (no ':', spaces, globs or control characters), and user
 * ids are 64-hex pseudonyms.
 *
 * State grows with users and items, not with events: idempotency is by Kafka position (an
 * applied-offset watermark per input partition and per user), and duplicate detection keeps a
 * bounded set of recent event-id fingerprints per partition (RECFLEET_DEDUPE_CAPACITY).
 * `{…}` is a Redis Cluster hash tag: every key a script touches in one call shares its tag, so
 * each call stays in one slot.
 *
 *   ns:dd:{cs.<p>}          zset    ingest claims of clickstream partition p: event fingerprint -> offset of
 *                                      its first copy; the newest RECFLEET_DEDUPE_CAPACITY kept
 *   ns:ap:{ev.<p>}          zset    features: fingerprints of events partition p -> offset of the first copy (bounded likewise)
 *   ns:ap:{ev.<p>}:wm       string  features: highest applied offset of events partition p (guards the partition's aggregates)
 *   ns:pop:{ev.<p>}         zset    item -> log of time-decayed popularity of partition p's events (see popularityLogWeight);
 *                                      readers merge the partitions (log-sum-exp)
 *   ns:pop:parts               set     the partitions that have a popularity zset
 *   ns:u:{<user>}              string  the user's packed state (user-state.ts): per-partition watermarks (highest applied
 *                                      offset of this user's events in each events partition), seen items older than the
 *                                      history, and the newest RECFLEET_HISTORY_CAP entries, delta-coded seconds
 *                                      (versions before kept a hash h/s/w:<p>; the next write converts it)
 *   ns:u:{<user>}:rl           string  refresh-on-event rate limit; PX refresh interval
 *   (older versions wrote ns:u:<user>:hist, :seen, :rl, :cnt, :vec and per-event ns:ap:<eventId>,
 *   ns:dd:<eventId> markers; erasure still deletes the per-user ones)
 *   ns:is:{rec.<k>}            hash    item stats of the recommendations of shard k: "<itemId>|<stat>" -> count, stat one of imp, clk,
 *                                      exp, imp:<policy>, clk:<policy>, exp:<policy> (exp = Σ model click probability over
 *                                      impressions); readers sum the REC_SHARDS hashes
 *   ns:rec:{rec.<k>}:<recId>   hash    policy, servedAt, i:<itemId> -> rank, xb:<itemId> -> bandit context (float32 LE), c:<itemId> -> "1" once a click on it was counted; PEXPIREAT servedAt + window + grace
 *                                      (k = recShard(recId): a recommendation, its marker and the item stats it updates share a slot)
 *   ns:recm:{rec.<k>}:<recId>  string  recordRecommendation idempotency marker; PX replay horizon (RECFLEET_REPLAY_HORIZON, 1 d)
 *   ns:erasures                stream  erasure receipts: receipt, at, keys (never a user id or pseudonym)
 *   ns:dk:u:{<user>}           string  the user's data key: "<kid>.<wrapped key>" (crypto-shredding, see shred.ts)
 *   ns:dk:<kid>                string  the same wrapped data key by key id (readers find keys by id); erasure deletes both
 *   ns:lb:<version>:A          hash    neural-linear bandit: Σ x·xᵀ over impressions, field "i" = entry i of the d×d matrix (row-major)
 *   ns:lb:<version>:b          hash    Σ (− model click probability)·x over impressions, field "j"; plus "n" = impressions folded in
 *   ns:lb:{rec.<k>}:<version>:b hash   Σ x of the attributed clicks of shard k's recommendations; readers add them to :b
 *                                      (x = user vector ⊙ item vector of that model version; state starts afresh per version)
 *   ns:cat:{ns.cat}            hash    item catalog: itemId -> StoredCatalogItem JSON (a deleted item keeps a tombstone)
 *   ns:cat:{ns.cat}:ts         hash    itemId -> ts of the stored change (older changes are ignored)
 *   ns:cat:{ns.cat}:chg        stream  one entry "item" -> itemId per applied change, capped; scorers tail it
 *   ns:policy:serving          string  canonical id of the policy `recfleet policy promote` switched traffic to; absent: POLICY_SPLIT
 */

import { hash } from "node:crypto";

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** 8 base64url characters (48 bits) of SHA-1 of an event id: what the duplicate filters keep instead of the id. */
export function eventFingerprint(eventId: string): string {
  return hash("sha1", eventId, "base64url").slice(0, 8);
}

/**
 * Recommendations are spread over this many shards: a shard's records, markers, item stats and
 * bandit rewards share a Redis Cluster slot; readers of item stats sum the shards.
 */
export const REC_SHARDS = 8;

/** The shard of a recommendation (FNV-1a of its id). */
export function recShard(recId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < recId.length; i++) h = Math.imul(h ^ recId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % REC_SHARDS;
}

/** The field of one item's stat inside a shard's item stats hash. */
export const itemStatField = (itemId: string, stat: string): string => `${itemId}|${stat}`;

/** Stat names of an item (inside ns:is:{rec.<k>}, as "<itemId>|<stat>"). */
export const ITEM_STATS_FIELDS = {
  impressions: "imp",
  clicks: "clk",
  expectedClicks: "exp",
  policyImpressions: (policy: string) => `imp:${policy}`,
  policyClicks: (policy: string) => `clk:${policy}`,
  policyExpectedClicks: (policy: string) => `exp:${policy}`,
} as const;

export interface StoreKeys {
  readonly namespace: string;
  /** Every key of this namespace starts with it (for tests and tools; production code never scans). */
  readonly prefix: string;
  /** Ingest's claims of one clickstream partition (fingerprint -> offset). */
  claims(partition: string): string;
  /** Features' fingerprints of one events partition (fingerprint -> offset). */
  applied(partition: string): string;
  /** Features' applied-offset watermark of one events partition. */
  appliedWatermark(partition: string): string;
  /** A user's packed state: history, seen items, per-partition watermarks (user-state.ts). */
  userState(user: string): string;
  userRefresh(user: string): string;
  /** Every key derived from one user: erasure deletes exactly these. */
  userKeys(user: string): string[];
  /** Per-user keys older versions wrote and this one no longer does; erasure still deletes them. */
  legacyUserKeys(user: string): string[];
  /** Popularity of one events partition; readers merge them. */
  popularity(partition: string): string;
  /** Set of the partitions that have a popularity zset. */
  readonly popularityPartitions: string;
  /** Item stats of the recommendations of one shard (fields itemStatField). */
  itemStats(shard: number): string;
  rec(recId: string): string;
  recMarker(recId: string): string;
  readonly erasures: string;
  /** The user's data key ("<kid>.<wrapped>"); not in userKeys: erasure reads it first to find the key id. */
  userDataKey(user: string): string;
  dataKey(kid: string): string;
  linearA(version: string): string;
  linearB(version: string): string;
  /** The attributed clicks' part of b of one recommendation shard. */
  linearRewards(shard: number, version: string): string;
  readonly catalog: string;
  readonly catalogTimes: string;
  readonly catalogChanges: string;
  /** The promoted serving policy (overrides POLICY_SPLIT for requests that name none). */
  readonly servingPolicy: string;
}

export function storeKeys(namespace: string): StoreKeys {
  if (!NAMESPACE.test(namespace))
    throw new RangeError(`namespace must match ${NAMESPACE.source}, got ${JSON.stringify(namespace)}`);
  const p = `${namespace}:`;
  const user = (u: string, what: string) => `${p}u:${u}:${what}`;
  const keys: StoreKeys = {
    namespace,
    prefix: p,
    claims: (partition) => `${p}dd:{cs.${partition}}`,
    applied: (partition) => `${p}ap:{ev.${partition}}`,
    appliedWatermark: (partition) => `${p}ap:{ev.${partition}}:wm`,
    userState: (u) => `${p}u:{${u}}`,
    userRefresh: (u) => `${p}u:{${u}}:rl`,
    userKeys: (u) => [keys.userState(u), keys.userRefresh(u)],
    legacyUserKeys: (u) => ["hist", "seen", "rl", "cnt", "vec"].map((what) => user(u, what)),
    popularity: (partition) => `${p}pop:{ev.${partition}}`,
    popularityPartitions: `${p}pop:parts`,
    itemStats: (shard) => `${p}is:{rec.${shard}}`,
    rec: (recId) => `${p}rec:{rec.${recShard(recId)}}:${recId}`,
    recMarker: (recId) => `${p}recm:{rec.${recShard(recId)}}:${recId}`,
    erasures: `${p}erasures`,
    userDataKey: (u) => `${p}dk:u:{${u}}`,
    dataKey: (kid) => `${p}dk:${kid}`,
    linearA: (version) => `${p}lb:${version}:A`,
    linearB: (version) => `${p}lb:${version}:b`,
    linearRewards: (shard, version) => `${p}lb:{rec.${shard}}:${version}:b`,
    catalog: `${p}cat:{${namespace}.cat}`,
    catalogTimes: `${p}cat:{${namespace}.cat}:ts`,
    catalogChanges: `${p}cat:{${namespace}.cat}:chg`,
    servingPolicy: `${p}policy:serving`,
  };
  return keys;
}

/**
 * Keys of the registry under a namespace `ns`. Every registry key carries the tag {ns.m} (one
 * slot: promotion and rollback are atomic on a cluster too). (The training window that lived in
 * ns:tw:{ns.tw} plus a ns:tw:{ns.tw}:ap:<eventId> marker per event is gone: runs read `events`
 * from Kafka. A fleet upgraded in place may DEL the old stream; the markers expire by themselves.)
 *   ns:m:{ns.m}:versions               zset    version -> createdAt
 *   ns:m:{ns.m}:current                string  current version
 *   ns:m:{ns.m}:history                list    promoted versions, newest first (rollback target = index 1)
 *   ns:m:{ns.m}:v:<version>:meta       hash    json (ModelMeta), status, promotedAt
 *   ns:m:{ns.m}:v:<version>:a:<name>   string  artefact bytes (model.bin, user_tower.onnx, item_tower.onnx)
 *   ns:m:{ns.m}:v:<version>:s:<shard>  string  float32 item vectors of one shard (rows shard*size …)
 *   ns:m:{ns.m}:v:<version>:done       hash    shard -> floats written
 */
export interface ModelKeys {
  versions: string;
  current: string;
  history: string;
  meta(version: string): string;
  artefact(version: string, name: string): string;
  itemShard(version: string, shard: number): string;
  shardsDone(version: string): string;
}

export function modelKeys(namespace: string): ModelKeys {
  const m = `${namespace}:m:{${namespace}.m}:`;
  return {
    versions: `${m}versions`,
    current: `${m}current`,
    history: `${m}history`,
    meta: (v) => `${m}v:${v}:meta`,
    artefact: (v, name) => `${m}v:${v}:a:${name}`,
    itemShard: (v, s) => `${m}v:${v}:s:${s}`,
    shardsDone: (v) => `${m}v:${v}:done`,
  };
}

/**
 * The trainer's own keys:
 *   <ns>:trainer:lock                  string  fleet-wide training lock (token, PX TTL)
 *   <ns>:trainer:last                  string  JSON of the last training outcome (for `model list`)
 *   <ns>:trainer:embed:<version>       hash    worker id -> embed jobs completed for that version
 *   <ns>:trainer:embed-started:<ver>   hash    "<shard>" -> worker id that last started the shard
 *   <ns>:bull:{<ns>}:<queue>:…         BullMQ's own keys (its `prefix` option), inside the namespace so
 *                                      fleets sharing one Redis do not share queues; the hash tag puts every
 *                                      queue in one cluster slot (BullMQ's scripts and flows span queues)
 */
export interface TrainerKeys {
  lock: string;
  lastOutcome: string;
  embedBy(version: string): string;
  embedStarted(version: string): string;
  /** BullMQ `prefix` for every Queue, Worker, FlowProducer and QueueEvents of the namespace. */
  bullPrefix: string;
}

export function trainerKeys(namespace: string): TrainerKeys {
  const p = `${namespace}:trainer:`;
  return {
    lock: `${p}lock`,
    lastOutcome: `${p}last`,
    embedBy: (v) => `${p}embed:${v}`,
    embedStarted: (v) => `${p}embed-started:${v}`,
    bullPrefix: `${namespace}:bull:{${namespace}}`,
  };
}

/**
 * The gateway's keys:
 * API keys and their index share the tag {ns.gw} (created in one MULTI):
 *   <ns>:gw:{ns.gw}:key:<id>    hash    API key: name, scopes (comma-separated), hash (sha256 hex of the secret), createdAt,
 *                                       rate, burst (its token bucket), revokedAt once revoked
 *   <ns>:gw:{ns.gw}:keys        zset    key id -> createdAt (for `keys list`)
 *   <ns>:gw:bucket:<id>         hash    token bucket of one key: tokens, ts (Redis server ms); expires once full
 *   <ns>:gw:reply:<partition>   string  lease of a rec.replies partition by one gateway process (token, PX TTL)
 */
export interface GatewayKeys {
  apiKey(id: string): string;
  apiKeys: string;
  bucket(id: string): string;
  replyLease(partition: number): string;
}

export function gatewayKeys(namespace: string): GatewayKeys {
  const p = `${namespace}:gw:`;
  return {
    apiKey: (id) => `${p}{${namespace}.gw}:key:${id}`,
    apiKeys: `${p}{${namespace}.gw}:keys`,
    bucket: (id) => `${p}bucket:${id}`,
    replyLease: (partition) => `${p}reply:${partition}`,
  };
}

/**
 * A bandit context as a recommendation record keeps it (field `xb:<item>`): float32 little-endian,
 * 4 bytes a value, read by linear-rewards.lua with struct.unpack. Binary because the text form
 * (toPrecision per value) cost the scorer about a twelfth of its CPU and doubled the record.
 */
export function encodeBanditContext(x: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(x.length * 4);
  for (let i = 0; i < x.length; i++) out.writeFloatLE(x[i]!, i * 4);
  return out;
}

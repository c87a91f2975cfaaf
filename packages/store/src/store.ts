import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { RecfleetError } from "@recfleet/runtime";
import type { EventType } from "@recfleet/contracts";
import {
  storeKeys,
  encodeBanditContext,
  eventFingerprint,
  ITEM_STATS_FIELDS,
  REC_SHARDS,
  recShard,
  itemStatField,
  type StoreKeys,
} from "./keys";
import { storeOptions, popularityLogWeight, decayedPopularity, type StoreOptions } from "./config";
import { SCRIPTS, runScript, runScripts, type ScriptCall } from "./scripts";
import { commandEach, isCluster, keySlot } from "./cluster";
import { createReplicaWaiter } from "./replication";
import {
  decodeLegacyUserHash,
  decodeUserState,
  historySeconds,
  seenItems,
  typeCode,
  type UserState,
} from "./user-state";

/** Raised when Redis answers something the store's scripts never return (a version mismatch). */
export class StoreProtocolError extends RecfleetError {
  constructor(what: string, got: unknown) {
    super(`unexpected reply from Redis for ${what}: ${JSON.stringify(got)?.slice(0, 200)}`, { retriable: false });
  }
}

export type ClaimOutcome = "new" | "replay" | "duplicate";

export interface EventClaim {
  eventId: string;
  /** Partition and offset of the consumed clickstream message. */
  partition: number;
  offset: number;
}

/** One canonical event as the features update sees it. */
export interface FeatureEvent {
  eventId: string;
  user: string;
  itemId: string;
  type: EventType;
  ts: number;
  /** Popularity weight (> 0) of this event type. */
  weight: number;
  /** Adds the item to the user's seen set. */
  markSeen: boolean;
  /** A reward event (e.g. click) carrying the recId it answers. */
  recId?: string;
  reward: boolean;
  /** Ask for a refresh-on-event rec request (rate-limited per user). */
  refresh: boolean;
  /**
   * Where the event was consumed (the events topic's partition and offset): offsets at or below
   * the partition's and the user's watermarks were applied before. Without them (direct calls)
   * only the duplicate filter guards the update.
   */
  partition?: number;
  offset?: number;
}

export interface ApplyResult {
  applied: number;
  replayed: number;
  attributed: number;
  /** Events whose refresh request is due (first applied, past the user's rate limit). */
  refresh: FeatureEvent[];
  /**
   * With `requireState`: partitions whose state (watermark) is missing — nothing of theirs was
   * applied; the caller replays them from the start of the log.
   */
  stateMissing: number[];
}

export interface ApplyOptions {
  /**
   * The partitions must already have state: a live consumer past the start of the log whose
   * partition has no watermark is looking at a Redis that lost its state (restarted empty), and
   * applying there would put watermarks above events that are no longer applied.
   */
  requireState?: boolean;
}

export interface HistoryEntry {
  itemId: string;
  type: string;
  ts: number;
}

export interface ItemStats {
  itemId: string;
  impressions: number;
  clicks: number;
  /** Σ of the model's predicted click probability over the impressions (0 when never recorded). */
  expectedClicks: number;
  /** Present when a policy was asked for. */
  policy?: { id: string; impressions: number; clicks: number; expectedClicks: number };
}

/** What recordRecommendation needs of a Recommendation (a whole Recommendation fits). */
export interface RecommendationRecord {
  recId: string;
  policy: string;
  servedAt: number;
  /** The slate, top first; `expected` is the model's click probability for the slot, when known. */
  items: readonly { itemId: string; expected?: number; banditContext?: ArrayLike<number> }[];
  /** Model version whose vectors made the bandit contexts. */
  modelVersion?: string;
}

/** What serving needs of a user: the last history entries (most recent last) and every seen item. */
export interface UserView {
  history: HistoryEntry[];
  seen: string[];
}

export interface ErasureReceipt {
  receiptId: string;
  at: number;
  keysDeleted: number;
  /** The user had a data key and it is gone: everything sealed with it (events on Kafka, which training runs read, and the decision log) is unreadable. */
  dataKeyDeleted: boolean;
}

export interface Store {
  readonly keys: StoreKeys;
  readonly options: StoreOptions;
  /**
   * Ingest's duplicate filter for a batch: one script call per clickstream partition. Like
   * applyEvents, returns once the writes reached a replica (WAIT) where the master has one.
   */
  claimEvents(claims: readonly EventClaim[]): Promise<ClaimOutcome[]>;
  /**
   * Features update for a batch: one call for each events partition (duplicates, popularity),
   * one for the users (per slot on a cluster), one for rewards; replayed events change nothing.
   */
  applyEvents(events: readonly FeatureEvent[], options?: ApplyOptions): Promise<ApplyResult>;
  /** Records what was served (for attribution) and counts impressions; idempotent per recId. Call before publishing it. */
  recordRecommendation(rec: RecommendationRecord): Promise<boolean>;
  /** recordRecommendation for many, in one round trip on one Redis; true where the record was new. */
  recordRecommendations(recs: readonly RecommendationRecord[]): Promise<boolean[]>;
  /** Last n history entries per user, oldest first (most recent last). */
  readUserHistories(users: readonly string[], n: number): Promise<HistoryEntry[][]>;
  readSeenItems(users: readonly string[]): Promise<string[][]>;
  /** Both of the above from one read of each user's state (the scorer's per-batch read). */
  readUsers(users: readonly string[], historyLength: number): Promise<UserView[]>;
  /** Top n items by time-decayed popularity, score as of `now`. */
  readPopularItems(n: number, now?: number): Promise<{ itemId: string; score: number }[]>;
  readItemStats(itemIds: readonly string[], policy?: string): Promise<ItemStats[]>;
  /** Deletes every key derived from the pseudonym and appends a receipt to the erasures stream. */
  eraseUser(pseudonym: string): Promise<ErasureReceipt>;
  /** Neural-linear bandit, impressions side: adds Σxxᵀ, Σ(−p·x) and a count under a model version. */
  addLinearImpressions(version: string, d: number, a: Float64Array, b: Float64Array, count: number): Promise<void>;
  /** Neural-linear bandit, rewards side: folds attributed clicks in (once per recId and item, within the window). */
  addLinearRewards(version: string, clicks: readonly { recId: string; itemId: string; ts: number }[]): Promise<number>;
  readLinearSums(version: string, d: number): Promise<{ a: Float64Array; b: Float64Array; count: number }>;
  /** The policy `recfleet policy promote` switched traffic to, if any (canonical id). */
  readServingPolicy(): Promise<string | undefined>;
  /** Switch the traffic of requests that name no policy to `policyId`; undefined: back to POLICY_SPLIT. */
  writeServingPolicy(policyId: string | undefined): Promise<void>;
  /** The scorer's user vectors with the model version that made them; expire after ttlMs. */
}

const toInt = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** The newest n history entries of a state, oldest first (none for n ≤ 0). */
function lastEntries(state: UserState, n: number): HistoryEntry[] {
  return n > 0 ? state.history.slice(-n).map(({ itemId, type, ts }) => ({ itemId, type, ts })) : [];
}

function groupBy<K>(indexes: Iterable<number>, keyOf: (i: number) => K): Map<K, number[]> {
  const groups = new Map<K, number[]>();
  for (const i of indexes) {
    const k = keyOf(i);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  }
  return groups;
}

/** Events without a position (direct calls) share one partition label. */
const partitionLabel = (e: FeatureEvent): string => (e.partition === undefined ? "none" : String(e.partition));

/** The first `n` values as float64 little-endian bytes (add-linear.lua's input). */
function float64Bytes(values: ArrayLike<number>, n: number): Buffer {
  const out = Buffer.allocUnsafe(n * 8);
  for (let i = 0; i < n; i++) out.writeDoubleLE(values[i]!, i * 8);
  return out;
}

export function createStore(redis: Redis, namespace: string, options: Partial<StoreOptions> = {}): Store {
  const keys = storeKeys(namespace);
  const opts = storeOptions(options);
  // On a cluster each script call must stay in one slot; on one Redis every key is "slot 0".
  const slotOf = (key: string): number => (isCluster(redis) ? keySlot(key) : 0);
  // Before a worker commits offsets, the batch's writes are on a replica (where there is one):
  // `beginBatch()` at a batch's start, the function it returns at its end.
  const beginBatch = createReplicaWaiter(redis, opts.replicaWaitMs);
  // A user not yet rewritten since the packed layout still has the older hash (WRONGTYPE for GET).
  const legacyUserState = async (user: string, err: Error) => {
    if (!/WRONGTYPE/.test(err.message)) throw err;
    return decodeLegacyUserHash(await redis.hgetall(keys.userState(user)));
  };
  // One pipeline of GETs on a single Redis: one round trip for the scorer's whole batch.
  const readUserStates = async (users: readonly string[]) => {
    const replies = await commandEach(redis, users, (r, u) => r.get(keys.userState(u)));
    return Promise.all(
      replies.map(([err, value], i) =>
        err ? legacyUserState(users[i]!, err) : decodeUserState(value as string | null),
      ),
    );
  };
  // record-recommendation.lua's keys and arguments for one slate (its items once each).
  const recordCall = (rec: RecommendationRecord): ScriptCall => {
    const seen = new Set<string>();
    const items = rec.items.filter((i) => !seen.has(i.itemId) && seen.add(i.itemId));
    return {
      script: SCRIPTS.recordRecommendation,
      keys: [keys.recMarker(rec.recId), keys.rec(rec.recId), keys.itemStats(recShard(rec.recId))],
      args: [
        opts.replayHorizonMs,
        rec.servedAt + opts.attributionWindowMs + opts.attributionGraceMs,
        rec.policy,
        rec.servedAt,
        rec.modelVersion ?? "",
        ...items.flatMap((i) => [
          i.itemId,
          i.expected === undefined ? "" : String(i.expected),
          i.banditContext ? encodeBanditContext(i.banditContext) : "",
        ]),
      ],
    };
  };
  const knownPartitions = new Set<string>();
  const registerPopularityPartition = async (partition: string) => {
    if (knownPartitions.has(partition)) return;
    await redis.sadd(keys.popularityPartitions, partition);
    knownPartitions.add(partition);
  };

  return {
    keys,
    options: opts,

    async claimEvents(claims) {
      const reachReplicas = beginBatch();
      const out: ClaimOutcome[] = new Array<ClaimOutcome>(claims.length);
      for (const [partition, indexes] of groupBy(claims.keys(), (i) => String(claims[i]!.partition))) {
        const reply = await runScript(
          redis,
          SCRIPTS.claimEvents,
          [keys.claims(partition)],
          [opts.dedupeCapacity, ...indexes.flatMap((i) => [eventFingerprint(claims[i]!.eventId), claims[i]!.offset])],
        );
        if (!Array.isArray(reply) || reply.length !== indexes.length)
          throw new StoreProtocolError("claim-events", reply);
        indexes.forEach((i, j) => (out[i] = reply[j] === 1 ? "new" : reply[j] === 2 ? "replay" : "duplicate"));
      }
      await reachReplicas();
      return out;
    },

    async applyEvents(events, options = {}) {
      const result: ApplyResult = { applied: 0, replayed: 0, attributed: 0, refresh: [], stateMissing: [] };
      if (events.length === 0) return result;
      const reachReplicas = beginBatch();
      // 1. Per events partition: which events are new, replays or duplicates; popularity.
      const fresh: number[] = [];
      for (const [partition, indexes] of groupBy(events.keys(), (i) => partitionLabel(events[i]!))) {
        await registerPopularityPartition(partition);
        const perEvent: (string | number)[] = [];
        for (const i of indexes) {
          const e = events[i]!;
          perEvent.push(
            eventFingerprint(e.eventId),
            e.offset ?? -1,
            e.itemId,
            popularityLogWeight(e.weight, e.ts, opts.popularityHalfLifeMs),
          );
        }
        const reply = await runScript(
          redis,
          SCRIPTS.applyPartition,
          [keys.applied(partition), keys.appliedWatermark(partition), keys.popularity(partition)],
          [opts.dedupeCapacity, JSON.stringify(perEvent), options.requireState && partition !== "none" ? 1 : 0],
        );
        if (Array.isArray(reply) && reply[0] === "state_missing") {
          result.stateMissing.push(Number(partition));
          // Redis lost it with the rest: the replay registers the partition again.
          knownPartitions.delete(partition);
          continue;
        }
        if (!Array.isArray(reply) || reply.length !== indexes.length)
          throw new StoreProtocolError("apply-partition", reply);
        indexes.forEach((i, j) => {
          if (reply[j] === 0) result.applied++;
          else result.replayed++;
          // Replays go on to the users: a crash may have come between this call and theirs.
          if (reply[j] !== 2) fresh.push(i);
        });
      }
      // 2. The users' state, guarded by each user's watermark; one call per slot (all of them on one Redis).
      const refreshIndexes: number[] = [];
      for (const [partition, inPartition] of groupBy(fresh, (i) => partitionLabel(events[i]!)))
        for (const indexes of groupBy(inPartition, (i) => slotOf(keys.userState(events[i]!.user))).values()) {
          const k: string[] = [];
          const userIndex = new Map<string, number>();
          const perEvent: (string | number)[] = [];
          for (const i of indexes) {
            const e = events[i]!;
            let j = userIndex.get(e.user);
            if (j === undefined) {
              k.push(keys.userState(e.user), keys.userRefresh(e.user));
              j = k.length / 2;
              userIndex.set(e.user, j);
            }
            perEvent.push(
              j,
              e.offset ?? -1,
              historySeconds(e.ts),
              typeCode(e.type),
              e.itemId,
              e.markSeen ? 1 : 0,
              e.refresh ? i : -1,
            );
          }
          const reply = await runScript(redis, SCRIPTS.applyUsers, k, [
            opts.historyCap,
            opts.refreshIntervalMs,
            partition,
            JSON.stringify(perEvent),
          ]);
          if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1]))
            throw new StoreProtocolError("apply-users", reply);
          refreshIndexes.push(...(reply[1] as number[]));
        }
      // In batch order by position: the same event object may sit in a batch twice (a resend).
      result.refresh = refreshIndexes.sort((a, b) => a - b).map((i) => events[i]!);
      // 3. Rewards, per recommendation shard: the record's c:<item> field makes each count once.
      const rewards = events.filter((e) => e.reward && e.recId !== undefined);
      for (const [shard, indexes] of groupBy(rewards.keys(), (i) => recShard(rewards[i]!.recId!)))
        result.attributed += Number(
          await runScript(
            redis,
            SCRIPTS.attributeRewards,
            [keys.itemStats(shard), ...indexes.map((i) => keys.rec(rewards[i]!.recId!))],
            [opts.attributionWindowMs, ...indexes.flatMap((i) => [rewards[i]!.itemId, rewards[i]!.ts])],
          ),
        );
      await reachReplicas();
      return result;
    },

    async recordRecommendation(rec) {
      const { script, keys: k, args } = recordCall(rec);
      return (await runScript(redis, script, k, args)) === 1;
    },

    async recordRecommendations(recs) {
      return (await runScripts(redis, recs.map(recordCall))).map((reply) => reply === 1);
    },

    async readUserHistories(users, n) {
      if (users.length === 0 || n <= 0) return users.map(() => []);
      return (await readUserStates(users)).map((st) => lastEntries(st, n));
    },

    async readSeenItems(users) {
      if (users.length === 0) return [];
      return (await readUserStates(users)).map(seenItems);
    },

    async readUsers(users, historyLength) {
      if (users.length === 0) return [];
      return (await readUserStates(users)).map((st) => ({
        history: lastEntries(st, historyLength),
        seen: seenItems(st),
      }));
    },

    async readPopularItems(n, now = Date.now()) {
      if (n <= 0) return [];
      // Each partition's top n, then every candidate's exact score summed over all partitions.
      const partitions = await redis.smembers(keys.popularityPartitions);
      const tops = await Promise.all(partitions.map((p) => redis.zrevrange(keys.popularity(p), 0, n - 1)));
      const candidates = [...new Set(tops.flat())];
      if (candidates.length === 0) return [];
      const scores = await Promise.all(partitions.map((p) => redis.zmscore(keys.popularity(p), ...candidates)));
      const merged = candidates.map((itemId, c) => {
        let log = -Infinity;
        for (const s of scores) {
          const v = s[c];
          if (v === null || v === undefined) continue;
          const x = Number(v);
          const hi = Math.max(log, x);
          log = hi === -Infinity ? x : hi + Math.log(Math.exp(log - hi) + Math.exp(x - hi));
        }
        return { itemId, log };
      });
      merged.sort((a, b) => b.log - a.log || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
      return merged
        .slice(0, n)
        .map(({ itemId, log }) => ({ itemId, score: decayedPopularity(log, now, opts.popularityHalfLifeMs) }));
    },

    async readItemStats(itemIds, policy) {
      if (itemIds.length === 0) return [];
      const f = ITEM_STATS_FIELDS;
      const fields =
        policy === undefined
          ? [f.impressions, f.clicks, f.expectedClicks]
          : [
              f.impressions,
              f.clicks,
              f.expectedClicks,
              f.policyImpressions(policy),
              f.policyClicks(policy),
              f.policyExpectedClicks(policy),
            ];
      // Every shard's hash holds the stats of its recommendations: sum them.
      const names = itemIds.flatMap((id) => fields.map((f) => itemStatField(id, f)));
      const shards = await Promise.all(
        Array.from({ length: REC_SHARDS }, (_, k) => redis.hmget(keys.itemStats(k), ...names)),
      );
      const sum = (i: number, f: number): number => {
        let total = 0;
        for (const values of shards) total += toInt(values[i * fields.length + f]);
        return total;
      };
      return itemIds.map((itemId, i) => {
        const stats: ItemStats = {
          itemId,
          impressions: sum(i, 0),
          clicks: sum(i, 1),
          expectedClicks: sum(i, 2),
        };
        if (policy !== undefined)
          stats.policy = { id: policy, impressions: sum(i, 3), clicks: sum(i, 4), expectedClicks: sum(i, 5) };
        return stats;
      });
    },

    async addLinearImpressions(version, d, a, b, count) {
      if (count === 0) return;
      // Bandit state lives as long as its model version is likely to serve. One script call per
      // key: a cluster runs a script only when all its keys share a slot.
      const ttl = 7 * 86_400_000;
      await Promise.all([
        runScript(redis, SCRIPTS.addLinear, [keys.linearA(version)], [float64Bytes(a, d * d), ttl, ""]),
        runScript(redis, SCRIPTS.addLinear, [keys.linearB(version)], [float64Bytes(b, d), ttl, count]),
      ]);
    },

    async addLinearRewards(version, clicks) {
      let folded = 0;
      for (const [shard, indexes] of groupBy(clicks.keys(), (i) => recShard(clicks[i]!.recId)))
        folded += Number(
          await runScript(
            redis,
            SCRIPTS.linearRewards,
            [keys.linearRewards(shard, version), ...indexes.map((i) => keys.rec(clicks[i]!.recId))],
            [opts.attributionWindowMs, version, ...indexes.flatMap((i) => [clicks[i]!.itemId, clicks[i]!.ts])],
          ),
        );
      return folded;
    },

    async readLinearSums(version, d) {
      const [aRaw, bRaw, ...rewardParts] = await Promise.all([
        redis.hgetall(keys.linearA(version)),
        redis.hgetall(keys.linearB(version)),
        ...Array.from({ length: REC_SHARDS }, (_, k) => redis.hgetall(keys.linearRewards(k, version))),
      ]);
      const a = new Float64Array(d * d);
      const b = new Float64Array(d);
      for (const [field, value] of Object.entries(aRaw)) {
        const i = Number(field);
        if (Number.isInteger(i) && i >= 0 && i < d * d) a[i] = Number(value);
      }
      for (const part of [bRaw, ...rewardParts])
        for (const [field, value] of Object.entries(part)) {
          const j = Number(field);
          if (Number.isInteger(j) && j >= 0 && j < d) b[j]! += Number(value);
        }
      return { a, b, count: Number(bRaw.n ?? 0) };
    },

    async readServingPolicy() {
      return (await redis.get(keys.servingPolicy)) ?? undefined;
    },

    async writeServingPolicy(policyId) {
      if (policyId === undefined) await redis.del(keys.servingPolicy);
      else await redis.set(keys.servingPolicy, policyId);
    },

    async eraseUser(pseudonym) {
      const receiptId = randomUUID();
      const at = Date.now();
      // The data key is read first to name its by-id copy; the script refuses (−1) when a worker
      // created a key in between, and the loop reads again.
      let byIdDeleted = 0;
      for (let attempt = 1; ; attempt++) {
        const dataKey = (await redis.get(keys.userDataKey(pseudonym))) ?? "";
        const kid = dataKey.split(".", 1)[0]!;
        // The by-id copy first: once it is gone nothing sealed with the key opens, even if the
        // rest is interrupted (a retry reads the same user key and finishes).
        if (kid) byIdDeleted += await redis.del(keys.dataKey(kid));
        const reply = Number(
          await runScript(
            redis,
            SCRIPTS.eraseUser,
            [keys.userDataKey(pseudonym), ...keys.userKeys(pseudonym)],
            [dataKey],
          ),
        );
        if (reply >= 0) {
          // Keys older layouts wrote live in other slots: deleted one by one.
          const legacy = await Promise.all(keys.legacyUserKeys(pseudonym).map((k) => redis.del(k)));
          const keysDeleted = reply + byIdDeleted + legacy.reduce((a, b) => a + b, 0);
          await redis.xadd(
            keys.erasures,
            "MAXLEN",
            "~",
            100_000,
            "*",
            "receipt",
            receiptId,
            "at",
            at,
            "keys",
            keysDeleted,
          );
          return { receiptId, at, keysDeleted, dataKeyDeleted: dataKey !== "" };
        }
        if (attempt >= 10) throw new RecfleetError("erase-user: the user's data key kept changing; run it again");
      }
    },
  };
}

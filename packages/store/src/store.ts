import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { RecfleetError } from "@recfleet/runtime";
import type { EventType } from "@recfleet/contracts";
import { storeKeys, historyMember, parseHistoryMember, ITEM_STATS_FIELDS, type StoreKeys } from "./keys";
import { storeOptions, popularityLogWeight, decayedPopularity, type StoreOptions } from "./config";
import { SCRIPTS, runScript } from "./scripts";

/** Raised when Redis answers something the store's scripts never return (a version mismatch). */
export class StoreProtocolError extends RecfleetError {
  constructor(what: string, got: unknown) {
    super(`unexpected reply from Redis for ${what}: ${JSON.stringify(got)?.slice(0, 200)}`, { retriable: false });
  }
}

export type ClaimOutcome = "new" | "replay" | "duplicate";

export interface EventClaim {
  eventId: string;
  /** "<topic>/<partition>/<offset>" of the consumed message. */
  source: string;
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
}

export interface ApplyResult {
  applied: number;
  replayed: number;
  attributed: number;
  /** Events whose refresh request is due (first applied, past the user's rate limit). */
  refresh: FeatureEvent[];
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

export interface ErasureReceipt {
  receiptId: string;
  at: number;
  keysDeleted: number;
  /** The user had a data key and it is gone: everything sealed with it (Kafka, training window, decision log) is unreadable. */
  dataKeyDeleted: boolean;
}

export interface Store {
  readonly keys: StoreKeys;
  readonly options: StoreOptions;
  /** Ingest dedupe for a batch, one round trip. */
  claimEvents(claims: readonly EventClaim[]): Promise<ClaimOutcome[]>;
  /** Features update for a batch, one round trip; replayed events change nothing. */
  applyEvents(events: readonly FeatureEvent[]): Promise<ApplyResult>;
  /** Records what was served (for attribution) and counts impressions; idempotent per recId. Call before publishing it. */
  recordRecommendation(rec: RecommendationRecord): Promise<boolean>;
  /** Last n history entries per user, oldest first (most recent last). */
  readUserHistories(users: readonly string[], n: number): Promise<HistoryEntry[][]>;
  readSeenItems(users: readonly string[]): Promise<string[][]>;
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

type PipelineResult = [Error | null, unknown][] | null;

function results(what: string, res: PipelineResult): unknown[] {
  if (!res) throw new StoreProtocolError(what, res);
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

const toInt = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function createStore(redis: Redis, namespace: string, options: Partial<StoreOptions> = {}): Store {
  const keys = storeKeys(namespace);
  const opts = storeOptions(options);

  return {
    keys,
    options: opts,

    async claimEvents(claims) {
      if (claims.length === 0) return [];
      const reply = await runScript(
        redis,
        SCRIPTS.claimEvents,
        claims.map((c) => keys.dedupe(c.eventId)),
        [opts.dedupeWindowMs, ...claims.map((c) => c.source)],
      );
      if (!Array.isArray(reply) || reply.length !== claims.length) throw new StoreProtocolError("claim-events", reply);
      return reply.map((r) => (r === 1 ? "new" : r === 2 ? "replay" : "duplicate"));
    },

    async applyEvents(events) {
      if (events.length === 0) return { applied: 0, replayed: 0, attributed: 0, refresh: [] };
      // KEYS: pop, one applied-marker per event, then every other key once (events name them by index).
      const k: string[] = [keys.popularity];
      for (const e of events) k.push(keys.applied(e.eventId));
      const index = new Map<string, number>();
      const keyIndex = (key: string): number => {
        let i = index.get(key);
        if (i === undefined) {
          k.push(key);
          i = k.length; // 1-based, as KEYS[i] in Lua
          index.set(key, i);
        }
        return i;
      };
      const userIndex = new Map<string, number>();
      const perEvent: (string | number)[] = [];
      for (const e of events) {
        let u = userIndex.get(e.user);
        if (u === undefined) {
          k.push(keys.userHistory(e.user), keys.userSeen(e.user), keys.userRefresh(e.user));
          u = k.length - 2; // KEYS index of the hist key; seen, rl follow
          userIndex.set(e.user, u);
        }
        const hasReward = e.reward && e.recId !== undefined;
        perEvent.push(
          u,
          hasReward ? keyIndex(keys.itemStats(e.itemId)) : 0,
          hasReward ? keyIndex(keys.rec(e.recId!)) : 0,
          historyMember(e.itemId, e.type, e.eventId),
          e.itemId,
          e.ts,
          popularityLogWeight(e.weight, e.ts, opts.popularityHalfLifeMs),
          (e.markSeen ? 1 : 0) + (hasReward ? 2 : 0) + (e.refresh ? 4 : 0),
        );
      }
      const a: (string | number)[] = [
        opts.historyCap,
        opts.replayHorizonMs,
        opts.attributionWindowMs,
        opts.refreshIntervalMs,
        events.length,
        JSON.stringify(perEvent),
      ];
      const reply = await runScript(redis, SCRIPTS.applyEvents, k, a);
      if (!Array.isArray(reply) || reply.length !== 4 || !Array.isArray(reply[3]))
        throw new StoreProtocolError("apply-events", reply);
      const [applied, replayed, attributed, refresh] = reply as [number, number, number, number[]];
      return { applied, replayed, attributed, refresh: refresh.map((i) => events[i]!) };
    },

    async recordRecommendation(rec) {
      const seen = new Set<string>();
      const items = rec.items.filter((i) => !seen.has(i.itemId) && seen.add(i.itemId));
      const reply = await runScript(
        redis,
        SCRIPTS.recordRecommendation,
        [keys.recMarker(rec.recId), keys.rec(rec.recId), ...items.map((i) => keys.itemStats(i.itemId))],
        [
          opts.replayHorizonMs,
          rec.servedAt + opts.attributionWindowMs + opts.attributionGraceMs,
          rec.policy,
          rec.servedAt,
          rec.modelVersion ?? "",
          ...items.flatMap((i) => [
            i.itemId,
            i.expected === undefined ? "" : String(i.expected),
            i.banditContext ? Array.from(i.banditContext, (v) => v.toPrecision(6)).join(",") : "",
          ]),
        ],
      );
      return reply === 1;
    },

    async readUserHistories(users, n) {
      if (users.length === 0 || n <= 0) return users.map(() => []);
      const p = redis.pipeline();
      for (const u of users) p.zrange(keys.userHistory(u), -n, -1, "WITHSCORES");
      return results("readUserHistories", await p.exec()).map((flat) => {
        const list = flat as string[];
        const out: HistoryEntry[] = [];
        for (let i = 0; i + 1 < list.length; i += 2) {
          const m = parseHistoryMember(list[i]!);
          out.push({ itemId: m.itemId, type: m.type, ts: Number(list[i + 1]) });
        }
        return out;
      });
    },

    async readSeenItems(users) {
      if (users.length === 0) return [];
      const p = redis.pipeline();
      for (const u of users) p.smembers(keys.userSeen(u));
      return results("readSeenItems", await p.exec()).map((s) => [...(s as string[])].sort());
    },

    async readPopularItems(n, now = Date.now()) {
      if (n <= 0) return [];
      const flat = await redis.zrevrange(keys.popularity, 0, n - 1, "WITHSCORES");
      const out: { itemId: string; score: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2)
        out.push({ itemId: flat[i]!, score: decayedPopularity(Number(flat[i + 1]), now, opts.popularityHalfLifeMs) });
      return out;
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
      const p = redis.pipeline();
      for (const id of itemIds) p.hmget(keys.itemStats(id), ...fields);
      return results("readItemStats", await p.exec()).map((v, i) => {
        const r = v as (string | null)[];
        const stats: ItemStats = {
          itemId: itemIds[i]!,
          impressions: toInt(r[0]),
          clicks: toInt(r[1]),
          expectedClicks: toInt(r[2]),
        };
        if (policy !== undefined)
          stats.policy = { id: policy, impressions: toInt(r[3]), clicks: toInt(r[4]), expectedClicks: toInt(r[5]) };
        return stats;
      });
    },

    async addLinearImpressions(version, d, a, b, count) {
      if (count === 0) return;
      const p = redis.pipeline();
      for (let i = 0; i < d * d; i++) if (a[i] !== 0) p.hincrbyfloat(keys.linearA(version), String(i), a[i]!);
      for (let j = 0; j < d; j++) if (b[j] !== 0) p.hincrbyfloat(keys.linearB(version), String(j), b[j]!);
      p.hincrby(keys.linearB(version), "n", count);
      // Bandit state lives as long as its model version is likely to serve.
      p.pexpire(keys.linearA(version), 7 * 86_400_000);
      p.pexpire(keys.linearB(version), 7 * 86_400_000);
      results("addLinearImpressions", await p.exec());
    },

    async addLinearRewards(version, clicks) {
      if (clicks.length === 0) return 0;
      const k: string[] = [];
      const a: (string | number)[] = [opts.attributionWindowMs, version];
      for (const c of clicks) {
        k.push(keys.rec(c.recId), keys.linearB(version));
        a.push(c.itemId, c.ts);
      }
      return Number(await runScript(redis, SCRIPTS.linearRewards, k, a));
    },

    async readLinearSums(version, d) {
      const [aRaw, bRaw] = await Promise.all([
        redis.hgetall(keys.linearA(version)),
        redis.hgetall(keys.linearB(version)),
      ]);
      const a = new Float64Array(d * d);
      const b = new Float64Array(d);
      for (const [field, value] of Object.entries(aRaw)) {
        const i = Number(field);
        if (Number.isInteger(i) && i >= 0 && i < d * d) a[i] = Number(value);
      }
      for (const [field, value] of Object.entries(bRaw)) {
        const j = Number(field);
        if (Number.isInteger(j) && j >= 0 && j < d) b[j] = Number(value);
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
      for (let attempt = 1; ; attempt++) {
        const dataKey = (await redis.get(keys.userDataKey(pseudonym))) ?? "";
        const kid = dataKey.split(".", 1)[0]!;
        const reply = Number(
          await runScript(
            redis,
            SCRIPTS.eraseUser,
            [
              keys.erasures,
              keys.userDataKey(pseudonym),
              keys.dataKey(kid || "none"),
              ...keys.userKeys(pseudonym),
              ...keys.legacyUserKeys(pseudonym),
            ],
            [receiptId, at, 100_000, dataKey],
          ),
        );
        if (reply >= 0) return { receiptId, at, keysDeleted: reply, dataKeyDeleted: dataKey !== "" };
        if (attempt >= 10) throw new RecfleetError("erase-user: the user's data key kept changing; run it again");
      }
    },
  };
}

/**
 * Pure reference of the store's write scripts (apply-events, record-recommendation): the same
 * semantics in plain TypeScript, with no Redis. Tests compare the real Lua against it and use
 * it to compute the expected state of a whole pipeline run.
 */
import {
  storeKeys,
  encodeBanditContext,
  eventFingerprint,
  itemStatField,
  recShard,
  ITEM_STATS_FIELDS,
  type StoreKeys,
} from "./keys";
import { applyUserEntries, decodeUserState, encodeUserState } from "./user-state";
import { storeOptions, popularityLogWeight, type StoreOptions } from "./config";
import type { FeatureEvent, ApplyResult, RecommendationRecord } from "./store";
import type { Snapshot, KeyValue } from "./snapshot";

type Value =
  | { type: "string"; value: string; expireAt?: number }
  | { type: "hash"; value: Map<string, string>; expireAt?: number }
  | { type: "set"; value: Set<string>; expireAt?: number }
  | { type: "zset"; value: Map<string, number>; expireAt?: number };

const byScoreThenMember = (a: [string, number], b: [string, number]) =>
  a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export class ReferenceStore {
  readonly keys: StoreKeys;
  readonly options: StoreOptions;
  private readonly data = new Map<string, Value>();

  /** `now` decides which expiring keys exist (records); TTL-only keys never expire here. */
  constructor(
    namespace: string,
    options: Partial<StoreOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.keys = storeKeys(namespace);
    this.options = storeOptions(options);
  }

  private live(key: string): Value | undefined {
    const v = this.data.get(key);
    if (v?.expireAt !== undefined && v.expireAt <= this.now()) {
      this.data.delete(key);
      return undefined;
    }
    return v;
  }

  private hash(key: string): Map<string, string> {
    const v = this.live(key);
    if (v?.type === "hash") return v.value;
    const value = new Map<string, string>();
    this.data.set(key, { type: "hash", value });
    return value;
  }

  private zset(key: string): Map<string, number> {
    const v = this.live(key);
    if (v?.type === "zset") return v.value;
    const value = new Map<string, number>();
    this.data.set(key, { type: "zset", value });
    return value;
  }

  private set(key: string): Set<string> {
    const v = this.live(key);
    if (v?.type === "set") return v.value;
    const value = new Set<string>();
    this.data.set(key, { type: "set", value });
    return value;
  }

  private hincr(key: string, field: string, by = 1) {
    const h = this.hash(key);
    h.set(field, String(Number(h.get(field) ?? "0") + by));
  }

  private expireAt(key: string, at: number) {
    const v = this.data.get(key);
    if (!v) return;
    if (at <= this.now()) this.data.delete(key);
    else v.expireAt = at;
  }

  recordRecommendation(rec: RecommendationRecord): boolean {
    const marker = this.keys.recMarker(rec.recId);
    if (this.live(marker)) return false;
    this.data.set(marker, { type: "string", value: "1" });
    const record = this.hash(this.keys.rec(rec.recId));
    record.set("policy", rec.policy);
    record.set("servedAt", String(rec.servedAt));
    record.set("mv", rec.modelVersion ?? "");
    const seen = new Set<string>();
    const items = rec.items.filter((i) => !seen.has(i.itemId) && seen.add(i.itemId));
    items.forEach(({ itemId: item, expected, banditContext }, j) => {
      record.set(`i:${item}`, String(j + 1));
      // As snapshotRedis shows binary fields: base64 of the bytes.
      if (banditContext) record.set(`xb:${item}`, encodeBanditContext(banditContext).toString("base64"));
      const stats = this.keys.itemStats(recShard(rec.recId));
      this.hincr(stats, itemStatField(item, ITEM_STATS_FIELDS.impressions));
      this.hincr(stats, itemStatField(item, ITEM_STATS_FIELDS.policyImpressions(rec.policy)));
      if (expected !== undefined) {
        this.hincr(stats, itemStatField(item, ITEM_STATS_FIELDS.expectedClicks), expected);
        this.hincr(stats, itemStatField(item, ITEM_STATS_FIELDS.policyExpectedClicks(rec.policy)), expected);
      }
    });
    this.expireAt(
      this.keys.rec(rec.recId),
      rec.servedAt + this.options.attributionWindowMs + this.options.attributionGraceMs,
    );
    return true;
  }

  applyEvents(events: readonly FeatureEvent[]): ApplyResult {
    const result: ApplyResult = { applied: 0, replayed: 0, attributed: 0, refresh: [], stateMissing: [] };
    const k = this.keys;
    const o = this.options;
    for (const e of events) {
      const partition = e.partition === undefined ? "none" : String(e.partition);
      const offset = e.offset ?? -1;
      this.set(k.popularityPartitions).add(partition);
      // The partition: new, replay or duplicate (apply-partition.lua).
      const ids = this.zset(k.applied(partition));
      const fp = eventFingerprint(e.eventId);
      const first = ids.get(fp);
      const wmKey = k.appliedWatermark(partition);
      const wmValue = this.live(wmKey);
      const wm = wmValue?.type === "string" ? Number(wmValue.value) : -1;
      let duplicate: boolean;
      if (offset >= 0 && offset <= wm) {
        duplicate = first !== undefined && first !== offset;
        result.replayed++;
      } else if (first !== undefined) {
        duplicate = true;
        result.replayed++;
      } else {
        duplicate = false;
        result.applied++;
        ids.set(fp, Math.max(offset, 0));
        if (offset > wm) this.data.set(wmKey, { type: "string", value: String(offset) });
        if (ids.size > o.dedupeCapacity) {
          const sorted = [...ids.entries()].sort(byScoreThenMember);
          for (const [m] of sorted.slice(0, sorted.length - o.dedupeCapacity)) ids.delete(m);
        }
        const pop = this.zset(k.popularity(partition));
        const w = popularityLogWeight(e.weight, e.ts, o.popularityHalfLifeMs);
        const cur = pop.get(e.itemId);
        if (cur === undefined) pop.set(e.itemId, w);
        else {
          const hi = Math.max(cur, w);
          const lo = Math.min(cur, w);
          pop.set(e.itemId, hi + Math.log(1 + Math.exp(lo - hi)));
        }
      }
      // The user, guarded by its watermark (apply-users.lua).
      if (!duplicate) {
        const key = k.userState(e.user);
        const cur = this.live(key);
        const user = decodeUserState(cur?.type === "string" ? cur.value : undefined);
        const uwm = user.watermarks.get(partition) ?? -1;
        if (offset < 0 || offset > uwm) {
          applyUserEntries(user, [{ itemId: e.itemId, type: e.type, ts: e.ts, seen: e.markSeen }], o.historyCap);
          if (offset > uwm) user.watermarks.set(partition, offset);
          this.data.set(key, { type: "string", value: encodeUserState(user) });
          if (e.refresh && !this.live(k.userRefresh(e.user))) {
            this.data.set(k.userRefresh(e.user), { type: "string", value: "1" });
            result.refresh.push(e);
          }
        }
      }
      // The reward (attribute-rewards.lua): once per (recId, item), duplicates and replays included.
      if (e.reward && e.recId !== undefined) {
        const rec = this.live(k.rec(e.recId));
        if (rec?.type === "hash") {
          const served = Number(rec.value.get("servedAt"));
          if (
            e.ts >= served &&
            e.ts - served <= o.attributionWindowMs &&
            rec.value.has(`i:${e.itemId}`) &&
            !rec.value.has(`c:${e.itemId}`)
          ) {
            rec.value.set(`c:${e.itemId}`, "1");
            const policy = rec.value.get("policy") ?? "";
            const stats = k.itemStats(recShard(e.recId));
            this.hincr(stats, itemStatField(e.itemId, ITEM_STATS_FIELDS.clicks));
            this.hincr(stats, itemStatField(e.itemId, ITEM_STATS_FIELDS.policyClicks(policy)));
            result.attributed++;
          }
        }
      }
    }
    return result;
  }

  /** The state as a snapshot (expired keys left out), comparable with snapshotNamespace(). */
  snapshot(): Snapshot {
    const out: Snapshot = new Map();
    for (const key of [...this.data.keys()].sort()) {
      const v = this.live(key);
      if (!v) continue;
      let kv: KeyValue;
      switch (v.type) {
        case "string":
          kv = { type: "string", value: v.value };
          break;
        case "hash":
          kv = {
            type: "hash",
            value: Object.fromEntries([...v.value.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
          };
          break;
        case "set":
          kv = { type: "set", value: [...v.value].sort() };
          break;
        case "zset":
          kv = { type: "zset", value: [...v.value.entries()].sort(byScoreThenMember) };
          break;
      }
      out.set(key, kv);
    }
    return out;
  }
}

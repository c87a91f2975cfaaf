/**
 * The item catalog in Redis: one hash of items (newest change per item wins, by the change's
 * ts) and a capped stream naming each applied change, which scorers tail to learn about new,
 * changed, unavailable and deleted items within a poll interval.
 */
import type { Redis } from "ioredis";
import type { CatalogItem } from "@recfleet/contracts";
import { storeKeys } from "./keys";
import { runScript, SCRIPTS } from "./scripts";
import { StoreProtocolError } from "./store";

/** What the catalog holds per item: the upsert's state, or a tombstone (`deleted`) after a delete. */
export type StoredCatalogItem = Omit<CatalogItem, "op"> & { deleted?: true };

/** Entries kept in the change stream; a reader further behind than this reloads the whole catalog. */
export const CATALOG_CHANGES_CAP = 100_000;

export interface CatalogChanges {
  /** Stream id to read after next time. */
  cursor: string;
  /** The changed items' current state (undefined: gone from the catalog). */
  items: Map<string, StoredCatalogItem | undefined>;
  /** The reader fell behind the capped stream: reload with readAll(). */
  gap: boolean;
}

export interface CatalogStore {
  /** Applies validated changes in order, one round trip; returns how many were newer than the stored state. */
  apply(changes: readonly CatalogItem[]): Promise<number>;
  /** Every item with the cursor to read changes after (read first, so nothing between is missed). */
  readAll(): Promise<{ items: Map<string, StoredCatalogItem>; cursor: string }>;
  read(itemIds: readonly string[]): Promise<(StoredCatalogItem | undefined)[]>;
  /** Changes after `cursor` (at most `count`). */
  readChanges(cursor: string, count?: number): Promise<CatalogChanges>;
}

export function toStoredItem(change: CatalogItem): StoredCatalogItem {
  if (change.op === "delete") return { itemId: change.itemId, ts: change.ts, available: false, deleted: true };
  const { op: _op, ...state } = change;
  return state;
}

function parse(json: string | null): StoredCatalogItem | undefined {
  return json === null ? undefined : (JSON.parse(json) as StoredCatalogItem);
}

/** Stream ids "ms-seq" compare numerically part by part. */
function idBefore(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am < bm || (am === bm && as < bs);
}

export function createCatalogStore(redis: Redis, namespace: string): CatalogStore {
  const keys = storeKeys(namespace);
  const keyList = [keys.catalog, keys.catalogTimes, keys.catalogChanges];
  return {
    async apply(changes) {
      if (changes.length === 0) return 0;
      const args: (string | number)[] = [CATALOG_CHANGES_CAP];
      for (const c of changes) args.push(c.itemId, c.ts, JSON.stringify(toStoredItem(c)));
      const reply = await runScript(redis, SCRIPTS.applyCatalog, keyList, args);
      if (typeof reply !== "number") throw new StoreProtocolError("apply-catalog", reply);
      return reply;
    },

    async readAll() {
      const last = (await redis.xrevrange(keys.catalogChanges, "+", "-", "COUNT", 1)) as [string, string[]][];
      const cursor = last[0]?.[0] ?? "0-0";
      const all = await redis.hgetall(keys.catalog);
      const items = new Map<string, StoredCatalogItem>();
      for (const [id, json] of Object.entries(all)) items.set(id, JSON.parse(json) as StoredCatalogItem);
      return { items, cursor };
    },

    async read(itemIds) {
      if (itemIds.length === 0) return [];
      return (await redis.hmget(keys.catalog, ...itemIds)).map(parse);
    },

    async readChanges(cursor, count = 10_000) {
      const reply = (await redis.xread("COUNT", count, "STREAMS", keys.catalogChanges, cursor)) as
        [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      let gap = false;
      if (cursor !== "0-0" && entries.length > 0) {
        // Our cursor's entry was trimmed away when the oldest one left is newer: changes may be lost.
        const first = (await redis.xrange(keys.catalogChanges, "-", "+", "COUNT", 1)) as [string, string[]][];
        gap = first[0] !== undefined && idBefore(cursor, first[0][0]) && first[0][0] === entries[0]![0];
      }
      const ids = [...new Set(entries.map(([, fields]) => fields[1]!))];
      const states = ids.length > 0 ? (await redis.hmget(keys.catalog, ...ids)).map(parse) : [];
      return {
        cursor: entries.at(-1)?.[0] ?? cursor,
        items: new Map(ids.map((id, i) => [id, states[i]])),
        gap,
      };
    },
  };
}

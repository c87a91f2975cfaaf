/**
 * A user's online state, packed into one Redis string at `ns:u:{<user>}`:
 *
 *   "<watermarks>|<older seen>|<newest>,<count>|<history>"
 *
 *   watermarks   "<partition>:<offset>,…" sorted by partition label: the highest applied offset of
 *                this user's events in each events partition (replays at or below it are no-ops)
 *   older seen   item ids, sorted, ","-joined: items the user has seen whose entries have left the
 *                history (an item still in the history is not repeated here)
 *   newest       the newest entry's time, seconds since the epoch; count: entries in the history;
 *                both hexadecimal, both empty with an empty history
 *   history      entries, oldest first, ";"-joined; one entry is "<n><T>[*]<itemId>":
 *                n   seconds since the entry before it (the oldest: 0), hexadecimal — so an event
 *                    newer than the newest is appended without reading the history, and cutting
 *                    the oldest rewrites only the next one
 *                T   the event type's code, one upper-case letter (TYPE_CODES)
 *                *   the item counts as seen (FeatureEvent.markSeen)
 *
 * Why one string and these codes: a hash with a value over 64 bytes is stored as a hashtable
 * (about 400 B of overhead per user), and an entry with an absolute millisecond time cost about
 * 20 B; at 50 items this layout holds a user in under 1 KiB (bench/memory-footprint.ts). Numbers
 * are hexadecimal rather than base 36 (a byte more per entry) because Lua formats hex in C.
 * apply-users.lua writes exactly what `applyUserEntries` computes; the reference store uses it.
 */
import type { EventType } from "@recfleet/contracts";

/** One character per event type (a type name costs up to 11 bytes per entry). */
const TYPE_CODES: Readonly<Record<EventType, string>> = {
  view: "V",
  click: "C",
  add_to_cart: "A",
  purchase: "P",
  rating: "R",
};
const TYPE_OF_CODE = new Map(Object.entries(TYPE_CODES).map(([t, c]) => [c, t]));

export interface UserHistoryEntry {
  itemId: string;
  type: string;
  /** Milliseconds since the epoch, to the second (the history keeps whole seconds). */
  ts: number;
  seen: boolean;
}

export interface UserState {
  watermarks: Map<string, number>;
  olderSeen: string[];
  history: UserHistoryEntry[];
}

/** One event on its way into a user's state. */
export interface UserEntryInput {
  itemId: string;
  type: EventType;
  ts: number;
  seen: boolean;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const ENTRY = /^([0-9a-f]+)([A-Z])(\*?)(.+)$/;

export function emptyUserState(): UserState {
  return { watermarks: new Map(), olderSeen: [], history: [] };
}

export function decodeUserState(packed: string | null | undefined): UserState {
  const state = emptyUserState();
  if (!packed) return state;
  const [wm = "", older = "", newest = "", hist = ""] = packed.split("|");
  for (const part of wm.split(",")) {
    if (part === "") continue;
    const at = part.lastIndexOf(":");
    state.watermarks.set(part.slice(0, at), Number(part.slice(at + 1)));
  }
  state.olderSeen = older === "" ? [] : older.split(",");
  const parsed = (hist === "" ? [] : hist.split(";")).flatMap((e) => {
    const m = ENTRY.exec(e);
    return m ? [{ n: parseInt(m[1]!, 16), code: m[2]!, seen: m[3] === "*", itemId: m[4]! }] : [];
  });
  // Times from the newest back: each number is the seconds since the entry before it.
  let t = parseInt(newest.split(",")[0] ?? "0", 16);
  for (let k = parsed.length - 1; k >= 0; k--) {
    const e = parsed[k]!;
    state.history[k] = { itemId: e.itemId, type: TYPE_OF_CODE.get(e.code) ?? e.code, ts: t * 1000, seen: e.seen };
    t -= e.n;
  }
  return state;
}

export function encodeUserState(state: UserState): string {
  const wm = [...state.watermarks]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, o]) => `${p}:${o}`)
    .join(",");
  const seconds = state.history.map((e) => Math.floor(e.ts / 1000));
  const hist = state.history.map((e, k) => {
    const n = k === 0 ? 0 : seconds[k]! - seconds[k - 1]!;
    return `${n.toString(16)}${typeCode(e.type)}${e.seen ? "*" : ""}${e.itemId}`;
  });
  const newest = seconds.length === 0 ? "" : `${seconds.at(-1)!.toString(16)},${seconds.length.toString(16)}`;
  return `${wm}|${state.olderSeen.join(",")}|${newest}|${hist.join(";")}`;
}

/** Every item the user has seen (the older ones and the history's seen entries), sorted. */
export function seenItems(state: UserState): string[] {
  const items = new Set(state.olderSeen);
  for (const e of state.history) if (e.seen) items.add(e.itemId);
  return [...items].sort(byText);
}

/**
 * Adds entries to a state: the history keeps the newest `cap` in (second, type code, item, seen)
 * order — the same whatever order the entries came in — and the seen items of entries that leave
 * it move to olderSeen.
 */
export function applyUserEntries(state: UserState, entries: readonly UserEntryInput[], cap: number): void {
  const seenBefore = seenItems(state);
  const all = [
    ...state.history,
    ...entries.map((e) => ({
      itemId: e.itemId,
      type: e.type,
      ts: historySeconds(e.ts) * 1000,
      seen: e.seen,
    })),
  ].sort(compareEntries);
  state.history = all.slice(Math.max(0, all.length - cap));
  const inHistory = new Set(state.history.filter((e) => e.seen).map((e) => e.itemId));
  const older = new Set(seenBefore);
  for (const e of entries) if (e.seen) older.add(e.itemId);
  state.olderSeen = [...older].filter((i) => !inHistory.has(i)).sort(byText);
}

/** An event time (ms) as the history keeps it: whole seconds since the epoch, never negative. */
export function historySeconds(ts: number): number {
  return Math.max(0, Math.floor(ts / 1000));
}

/** The one-letter code of an event type in a packed history. */
export function typeCode(type: string): string {
  return TYPE_CODES[type as EventType] ?? type;
}

function compareEntries(a: UserHistoryEntry, b: UserHistoryEntry): number {
  return (
    a.ts - b.ts ||
    byText(typeCode(a.type), typeCode(b.type)) ||
    byText(a.itemId, b.itemId) ||
    Number(a.seen) - Number(b.seen)
  );
}

/**
 * The state as versions before this layout kept it: a hash with h (entries "<ms base 36>,<code>,<item>"
 * with lower-case codes), s (seen items) and w:<partition> fields. Readers meet it until the
 * user's next event rewrites the key (apply-users.lua converts it the same way).
 */
export function decodeLegacyUserHash(fields: Record<string, string>): UserState {
  const state = emptyUserState();
  const seen = new Set((fields.s ?? "").split(",").filter((x) => x !== ""));
  for (const [f, v] of Object.entries(fields)) if (f.startsWith("w:")) state.watermarks.set(f.slice(2), Number(v));
  const entries: UserEntryInput[] = [];
  for (const e of (fields.h ?? "").split(";")) {
    const [ts = "", code = "", itemId = ""] = e.split(",");
    if (itemId === "") continue;
    const type = (TYPE_OF_CODE.get(code.toUpperCase()) ?? "view") as EventType;
    entries.push({ itemId, type, ts: parseInt(ts, 36), seen: seen.has(itemId) });
  }
  applyUserEntries(state, entries, Number.MAX_SAFE_INTEGER);
  const inHistory = new Set(state.history.map((e) => e.itemId));
  state.olderSeen = [...seen].filter((i) => !inHistory.has(i)).sort(byText);
  return state;
}

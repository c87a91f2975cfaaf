/**
 * Training window → training data, pure. Per user, events in time order; the newest
 * `holdoutPerUser` of each user with enough events are held out for evaluation; every other
 * position j ≥ 1 is an example with history = up to `historyLength` items before j, target = item j.
 */
import type { TrainingData, TrainingExample } from "@recfleet/towers";

/** One window event as the trainer needs it (a subset of the store's TrainingEvent). */
export interface WindowEvent {
  user: string;
  itemId: string;
  ts: number;
  eventId: string;
}

/** One held-out user: their training-part history and the items they went on to interact with. */
export interface EvalCase {
  user: string;
  /** Item ids oldest → newest (the newest historyLength), the user tower's input. */
  history: string[];
  /** Held-out item ids (the relevant set). */
  targets: string[];
  /** Every item id of the user's training part: excluded from the ranking. */
  seen: string[];
  /** Time of the newest held-out event (to pick the most recent users when capped). */
  lastTs: number;
}

export interface DatasetOptions {
  holdoutPerUser: number;
  historyLength: number;
  maxExamples: number;
  maxEvalUsers: number;
  /** The warm-start model's vocabulary: kept first, in order, so every known item keeps a row. */
  previousItemIds?: readonly string[];
}

export interface Dataset {
  data: TrainingData;
  /** The user (privacy unit) of each example, parallel to data.examples: DP-SGD clips per unit. */
  units: Int32Array;
  evalCases: EvalCase[];
  /** Events after de-duplication by eventId. */
  events: number;
  users: number;
  /** Items of the vocabulary that were not in the warm-start model. */
  newItems: number;
  /** "<first ts ISO>/<last ts ISO>" of the events used. */
  range: string;
}

/** Event ids are unique; the window may still hold a replayed one, so de-duplicate here too. */
function byUser(events: readonly WindowEvent[]): Map<string, WindowEvent[]> {
  const seen = new Set<string>();
  const users = new Map<string, WindowEvent[]>();
  for (const e of events) {
    if (seen.has(e.eventId)) continue;
    seen.add(e.eventId);
    const list = users.get(e.user);
    if (list) list.push(e);
    else users.set(e.user, [e]);
  }
  // Stable sort keeps arrival order for equal timestamps.
  for (const list of users.values()) list.sort((a, b) => a.ts - b.ts);
  return users;
}

export function buildDataset(events: readonly WindowEvent[], options: DatasetOptions): Dataset {
  const users = byUser(events);
  const itemIds = [...(options.previousItemIds ?? [])];
  const row = new Map(itemIds.map((id, r) => [id, r]));
  const previous = itemIds.length;
  let minTs = Infinity;
  let maxTs = -Infinity;
  let count = 0;
  for (const list of users.values()) {
    for (const e of list) {
      if (!row.has(e.itemId)) {
        row.set(e.itemId, itemIds.length);
        itemIds.push(e.itemId);
      }
      minTs = Math.min(minTs, e.ts);
      maxTs = Math.max(maxTs, e.ts);
      count++;
    }
  }

  const examples: (TrainingExample & { ts: number; unit: number })[] = [];
  const evalCases: EvalCase[] = [];
  const L = options.historyLength;
  let unit = 0;
  for (const [user, list] of users) {
    unit++;
    // Hold out only when at least two events stay for training (one history item, one target).
    const holdout = list.length >= options.holdoutPerUser + 2 ? options.holdoutPerUser : 0;
    const train = list.slice(0, list.length - holdout);
    const rows = train.map((e) => row.get(e.itemId)!);
    for (let j = 1; j < rows.length; j++)
      examples.push({ history: rows.slice(Math.max(0, j - L), j), target: rows[j]!, ts: train[j]!.ts, unit });
    if (holdout > 0) {
      const held = list.slice(list.length - holdout);
      evalCases.push({
        user,
        history: train.slice(Math.max(0, train.length - L)).map((e) => e.itemId),
        targets: [...new Set(held.map((e) => e.itemId))],
        seen: [...new Set(train.map((e) => e.itemId))],
        lastTs: held[held.length - 1]!.ts,
      });
    }
  }
  // Cap: keep the newest examples and the most recent evaluation users.
  examples.sort((a, b) => b.ts - a.ts);
  const newest = examples.slice(0, options.maxExamples);
  const kept = newest.map(({ history, target }) => ({ history, target }));
  evalCases.sort((a, b) => b.lastTs - a.lastTs || (a.user < b.user ? -1 : 1));
  const range = count === 0 ? "" : `${new Date(minTs).toISOString()}/${new Date(maxTs).toISOString()}`;
  return {
    data: { itemIds, itemFeatures: new Float32Array(0), examples: kept },
    units: Int32Array.from(newest, (e) => e.unit),
    evalCases: evalCases.slice(0, options.maxEvalUsers),
    events: count,
    users: users.size,
    newItems: itemIds.length - previous,
    range,
  };
}

import type { Dataset } from "./datasets.js";

/** Per-user chronological item rows: train[u] and test[u] are oldest → newest. */
export interface ChronoSplit {
  train: number[][];
  test: number[][];
  numItems: number;
}

/**
 * ML100K-CHRONO split: per user, sort by (timestamp, item id); the last round(testFraction·n)
 * interactions (at least 1) are test, the rest train. Users with a single interaction end up
 * with an empty train list and one test item.
 */
export function splitChrono(dataset: Dataset, testFraction = 0.2): ChronoSplit {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`testFraction must be in (0, 1), got ${testFraction}`);
  }
  const { user, item, timestamp } = dataset.interactions;
  const byUser: number[][] = dataset.userIds.map(() => []);
  for (let i = 0; i < user.length; i++) byUser[user[i]!]!.push(i);
  const train: number[][] = [];
  const test: number[][] = [];
  for (const events of byUser) {
    events.sort((a, b) => timestamp[a]! - timestamp[b]! || item[a]! - item[b]!);
    const items = events.map((e) => item[e]!);
    const nTest = items.length === 0 ? 0 : Math.max(1, Math.round(testFraction * items.length));
    train.push(items.slice(0, items.length - nTest));
    test.push(items.slice(items.length - nTest));
  }
  return { train, test, numItems: dataset.itemIds.length };
}

/** How many users interacted with each item in the train split (the popularity of MostPop). */
export function itemPopularity(split: ChronoSplit): Float64Array {
  const counts = new Float64Array(split.numItems);
  for (const items of split.train) for (const i of items) counts[i]! += 1;
  return counts;
}

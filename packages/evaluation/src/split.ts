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
    const [head, tail] = holdOutTail(
      events.map((e) => item[e]!),
      testFraction,
    );
    train.push(head);
    test.push(tail);
  }
  return { train, test, numItems: dataset.itemIds.length };
}

/** The last round(fraction·n) items (at least 1 when n ≥ 1) are held out; both parts keep their order. */
function holdOutTail(items: readonly number[], fraction: number): [number[], number[]] {
  const held = items.length === 0 ? 0 : Math.max(1, Math.round(fraction * items.length));
  return [items.slice(0, items.length - held), items.slice(items.length - held)];
}

/**
 * The validation split inside a chronological split's train items: per user, the last
 * round(validationFraction·n) train items (chronological, at least 1) become the "test" of the
 * returned split and the rest its train. Every choice (hyperparameters, epochs, early stopping)
 * is made on this split, so the real test items are never looked at until the chosen
 * configuration is evaluated once. The test items of `split` play no part.
 */
export function splitValidation(split: ChronoSplit, validationFraction = 0.2): ChronoSplit {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new RangeError(`validationFraction must be in (0, 1), got ${validationFraction}`);
  }
  const train: number[][] = [];
  const validation: number[][] = [];
  for (const items of split.train) {
    const [head, tail] = holdOutTail(items, validationFraction);
    train.push(head);
    validation.push(tail);
  }
  return { train, test: validation, numItems: split.numItems };
}

/** How many users interacted with each item in the train split (the popularity of MostPop). */
export function itemPopularity(split: ChronoSplit): Float64Array {
  const counts = new Float64Array(split.numItems);
  for (const items of split.train) for (const i of items) counts[i]! += 1;
  return counts;
}

import { catalogCoverage, exposureGini, hitAtK, ndcgAtK, novelty, recallAtK, reciprocalRank } from "./metrics.js";
import { itemPopularity, type ChronoSplit } from "./split.js";

/** Scores for a batch of user rows: users.length × numItems, row-major (higher = better). */
export type Scorer = (users: number[]) => Float32Array | Float64Array | Promise<Float32Array | Float64Array>;

export interface RankingMetrics {
  "recall@20": number;
  "ndcg@20": number;
  "hr@10": number;
  "mrr@20": number;
  "coverage@20": number;
  "gini@20": number;
  "novelty@20": number;
  users: number;
}

export interface EvaluateOptions {
  /** Users scored per scorer call (memory: batchSize × numItems floats). Default 256. */
  batchSize?: number;
}

const K = 20;
const HR_K = 10;

/**
 * Top-k item rows of one score row, skipping excluded rows; among equal scores the lower row
 * wins. Items are scanned in ascending row order and a later item enters only with a strictly
 * higher score, which is exactly that tie-break.
 */
export function topK(
  scores: ArrayLike<number>,
  offset: number,
  numItems: number,
  k: number,
  exclude: ReadonlySet<number>,
): number[] {
  const items: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < numItems; i++) {
    if (exclude.has(i)) continue;
    const s = scores[offset + i]!;
    if (items.length === k && !(s > values[k - 1]!)) continue;
    let pos = items.length === k ? k - 1 : items.length;
    while (pos > 0 && s > values[pos - 1]!) {
      if (pos < k) {
        values[pos] = values[pos - 1]!;
        items[pos] = items[pos - 1]!;
      }
      pos--;
    }
    values[pos] = s;
    items[pos] = i;
  }
  return items;
}

/**
 * ML100K-CHRONO evaluation: full ranking over the catalog minus each user's train items,
 * metrics averaged over users with at least one test item.
 */
export async function evaluateRanking(
  score: Scorer,
  split: ChronoSplit,
  options: EvaluateOptions = {},
): Promise<RankingMetrics> {
  const batchSize = options.batchSize ?? 256;
  const { numItems } = split;
  const users = split.test.map((t, u) => (t.length > 0 ? u : -1)).filter((u) => u >= 0);
  const lists: number[][] = [];
  let recall = 0;
  let ndcg = 0;
  let hr = 0;
  let mrr = 0;
  for (let start = 0; start < users.length; start += batchSize) {
    const batch = users.slice(start, start + batchSize);
    const scores = await score(batch);
    if (scores.length !== batch.length * numItems) {
      throw new RangeError(`scorer returned ${scores.length} scores for ${batch.length} users × ${numItems} items`);
    }
    batch.forEach((u, b) => {
      const top = topK(scores, b * numItems, numItems, K, new Set(split.train[u]));
      const truth = new Set(split.test[u]);
      lists.push(top);
      recall += recallAtK(top, truth, K);
      ndcg += ndcgAtK(top, truth, K);
      hr += hitAtK(top, truth, HR_K);
      mrr += reciprocalRank(top, truth);
    });
  }
  const n = users.length;
  return {
    "recall@20": recall / n,
    "ndcg@20": ndcg / n,
    "hr@10": hr / n,
    "mrr@20": mrr / n,
    "coverage@20": catalogCoverage(lists, numItems),
    "gini@20": exposureGini(lists, numItems),
    "novelty@20": novelty(lists, itemPopularity(split), split.train.length),
    users: n,
  };
}

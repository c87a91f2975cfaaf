// Ranking metrics over one user's top-K list (item rows, best first) and their relevant set.
// Definitions follow ML100K-CHRONO in BENCHMARKS.md.

/** hits in the top k / |relevant|. */
export function recallAtK(ranked: ArrayLike<number>, relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r]!)) hits++;
  return hits / relevant.size;
}

/** NDCG with binary gains; the ideal DCG puts min(|relevant|, k) hits on top. */
export function ndcgAtK(ranked: ArrayLike<number>, relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  let dcg = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r]!)) dcg += 1 / Math.log2(r + 2);
  let idcg = 0;
  for (let r = 0; r < Math.min(relevant.size, k); r++) idcg += 1 / Math.log2(r + 2);
  return dcg / idcg;
}

/** 1 when any of the top k is relevant, else 0 (HR@k is its mean over users). */
export function hitAtK(ranked: ArrayLike<number>, relevant: ReadonlySet<number>, k: number): number {
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r]!)) return 1;
  return 0;
}

/** 1 / rank of the first relevant item in the list, 0 when none is (MRR@k over a top-k list). */
export function reciprocalRank(ranked: ArrayLike<number>, relevant: ReadonlySet<number>): number {
  for (let r = 0; r < ranked.length; r++) if (relevant.has(ranked[r]!)) return 1 / (r + 1);
  return 0;
}

/** Distinct items in all lists / catalog size. */
export function catalogCoverage(lists: readonly ArrayLike<number>[], numItems: number): number {
  const seen = new Set<number>();
  for (const list of lists) for (let r = 0; r < list.length; r++) seen.add(list[r]!);
  return seen.size / numItems;
}

/**
 * Gini coefficient of how often each catalog item is shown across all lists (items never
 * shown count as 0): 0 = every item equally exposed, → 1 = all exposure on one item.
 */
export function exposureGini(lists: readonly ArrayLike<number>[], numItems: number): number {
  const counts = new Float64Array(numItems);
  for (const list of lists) for (let r = 0; r < list.length; r++) counts[list[r]!]! += 1;
  counts.sort();
  let total = 0;
  let weighted = 0;
  for (let i = 0; i < numItems; i++) {
    total += counts[i]!;
    weighted += (i + 1) * counts[i]!;
  }
  if (total === 0) return 0;
  return (2 * weighted) / (numItems * total) - (numItems + 1) / numItems;
}

/**
 * Mean self-information of recommended items, -log2(p(i)) with p(i) = users who interacted
 * with i / number of users (floored at 1 user so unseen items stay finite), averaged over
 * every slot of every list.
 */
export function novelty(lists: readonly ArrayLike<number>[], popularity: ArrayLike<number>, numUsers: number): number {
  let sum = 0;
  let slots = 0;
  for (const list of lists) {
    for (let r = 0; r < list.length; r++) {
      sum += -Math.log2(Math.max(1, popularity[list[r]!]!) / numUsers);
      slots++;
    }
  }
  return slots === 0 ? 0 : sum / slots;
}

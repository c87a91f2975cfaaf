import type { Scorer } from "./evaluate.js";
import { itemPopularity, type ChronoSplit } from "./split.js";

/** MostPop: every user gets the items ranked by train popularity. */
export function mostPop(split: ChronoSplit): Scorer {
  const pop = itemPopularity(split);
  const n = split.numItems;
  return (users) => {
    const out = new Float64Array(users.length * n);
    for (let b = 0; b < users.length; b++) out.set(pop, b * n);
    return out;
  };
}

/**
 * ItemKNN with cosine similarity on the binary user × item train matrix and the full
 * neighbourhood: score(u, j) = Σ_{i ∈ train(u)} cos(i, j), self-similarity 0.
 * The similarity matrix is numItems² floats (11 MB for ML-100K); for catalogs much larger
 * than ~20k items keep only the top neighbours per item instead.
 */
export function itemKnn(split: ChronoSplit): Scorer {
  const n = split.numItems;
  const cooc = new Float32Array(n * n);
  for (const items of split.train) {
    const unique = [...new Set(items)];
    for (const i of unique) {
      const row = i * n;
      for (const j of unique) cooc[row + j]! += 1;
    }
  }
  const norm = new Float64Array(n);
  for (let i = 0; i < n; i++) norm[i] = Math.sqrt(cooc[i * n + i]!) + 1e-9;
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) cooc[row + j] = i === j ? 0 : cooc[row + j]! / norm[i]! / norm[j]!;
  }
  const similarity = cooc;
  return (users) => {
    const out = new Float64Array(users.length * n);
    users.forEach((u, b) => {
      const base = b * n;
      for (const i of new Set(split.train[u])) {
        const row = i * n;
        for (let j = 0; j < n; j++) out[base + j]! += similarity[row + j]!;
      }
    });
    return out;
  };
}

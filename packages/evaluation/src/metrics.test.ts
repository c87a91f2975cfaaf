import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { topK } from "./evaluate.js";
import { catalogCoverage, exposureGini, hitAtK, ndcgAtK, novelty, recallAtK, reciprocalRank } from "./metrics.js";

const close = (actual: number, expected: number, msg?: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${msg ?? ""} ${actual} ≠ ${expected}`);

describe("ranking metrics (hand-computed)", () => {
  // Hits at ranks 2 and 4 out of 3 relevant items.
  const ranked = [5, 2, 9, 7];
  const relevant = new Set([2, 7, 8]);

  it("Recall@K", () => {
    close(recallAtK(ranked, relevant, 4), 2 / 3);
    close(recallAtK(ranked, relevant, 2), 1 / 3);
    close(recallAtK(ranked, relevant, 1), 0);
  });

  it("NDCG@K with binary gains and ideal DCG over min(|relevant|, K)", () => {
    const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
    close(ndcgAtK(ranked, relevant, 4), dcg / (1 + 1 / Math.log2(3) + 1 / Math.log2(4)));
    // K=2: ideal has 2 hits; one hit at rank 2.
    close(ndcgAtK(ranked, relevant, 2), 1 / Math.log2(3) / (1 + 1 / Math.log2(3)));
    close(ndcgAtK([8, 2, 7], relevant, 3), 1);
  });

  it("HR@K and reciprocal rank", () => {
    assert.equal(hitAtK(ranked, relevant, 1), 0);
    assert.equal(hitAtK(ranked, relevant, 2), 1);
    close(reciprocalRank(ranked, relevant), 1 / 2);
    close(reciprocalRank([1, 3], relevant), 0);
  });

  it("catalog coverage", () => {
    close(
      catalogCoverage(
        [
          [0, 1],
          [1, 2],
        ],
        10,
      ),
      0.3,
    );
  });

  it("exposure Gini: 0 when even, (n−1)/n when all on one item", () => {
    close(
      exposureGini(
        [
          [0, 1],
          [2, 3],
        ],
        4,
      ),
      0,
    );
    close(exposureGini([[3], [3], [3]], 4), 3 / 4);
    // counts [0, 1, 1, 2] → G = 2·(1·0+2·1+3·1+4·2)/(4·4) − 5/4 = 26/16 − 20/16
    close(
      exposureGini(
        [
          [1, 3],
          [2, 3],
        ],
        4,
      ),
      6 / 16,
    );
  });

  it("novelty = mean self-information of recommended items", () => {
    close(novelty([[0, 1]], [10, 5], 20), (1 + 2) / 2);
  });
});

describe("topK", () => {
  it("breaks ties by the lower item row and skips excluded items", () => {
    const scores = [1, 3, 3, 2, 3];
    assert.deepEqual(topK(scores, 0, 5, 2, new Set([4])), [1, 2]);
    assert.deepEqual(topK(scores, 0, 5, 3, new Set()), [1, 2, 4]);
    assert.deepEqual(topK(scores, 0, 5, 10, new Set([1])), [2, 4, 3, 0]);
    assert.deepEqual(topK([0, 0, 9, 1, 1, 1], 3, 3, 2, new Set()), [0, 1]);
  });
});

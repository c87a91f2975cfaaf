import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CandidateError, PolicyConfigError } from "./errors.js";
import { createLinearState, linUcbPolicy } from "./linear.js";
import { epsilonGreedyPolicy, greedyPolicy, softmaxPolicy, thompsonPolicy, ucbPolicy } from "./policies.js";
import { withColdStartBoost, withExplorationBudget, withMmr } from "./slate.js";
import { candidatesFromScores, contextWith } from "./test-helpers.js";
import type { Candidate } from "./types.js";

const scores = [0.5, 2.0, -1.0, 1.5, 0.0, 1.0];
const candidates = candidatesFromScores(scores);
const ids = (items: readonly { itemId: string }[]): string[] => items.map((item) => item.itemId);
const byScore = ["item1", "item3", "item5", "item0", "item4", "item2"];

describe("greedy", () => {
  it("returns the top k by score with propensity 1, nothing explored", () => {
    const decision = greedyPolicy().select(candidates, 3, contextWith(1));
    assert.deepEqual(ids(decision.items), byScore.slice(0, 3));
    assert.deepEqual(
      decision.items.map((i) => [i.rank, i.propensity, i.explored]),
      [
        [1, 1, false],
        [2, 1, false],
        [3, 1, false],
      ],
    );
    assert.equal(decision.policyId, "greedy");
    assert.equal(decision.propensityMethod, "exact");
  });

  it("returns at most the number of candidates", () => {
    assert.equal(greedyPolicy().select(candidates.slice(0, 2), 5, contextWith(1)).items.length, 2);
    assert.equal(greedyPolicy().select([], 5, contextWith(1)).items.length, 0);
  });

  it("rejects duplicate candidates and non-finite scores with CandidateError", () => {
    const duplicated: Candidate[] = [...candidates, { itemId: "item0", score: 1 }];
    assert.throws(() => greedyPolicy().select(duplicated, 2, contextWith(1)), CandidateError);
    assert.throws(() => greedyPolicy().select([{ itemId: "x", score: NaN }], 1, contextWith(1)), CandidateError);
  });
});

describe("epsilon-greedy", () => {
  it("epsilon 0 is greedy", () => {
    for (let seed = 0; seed < 20; seed++) {
      assert.deepEqual(ids(epsilonGreedyPolicy(0).select(candidates, 4, contextWith(seed)).items), byScore.slice(0, 4));
    }
  });

  it("propensity is ε/|remaining| + (1−ε)·[best remaining], given the slots above", () => {
    const epsilon = 0.3;
    const decision = epsilonGreedyPolicy(epsilon).select(candidates, 3, contextWith(7));
    const remaining = new Set(ids(candidates));
    for (const item of decision.items) {
      const best = byScore.find((id) => remaining.has(id));
      const expected = epsilon / remaining.size + (item.itemId === best ? 1 - epsilon : 0);
      assert.ok(Math.abs(item.propensity - expected) < 1e-12);
      assert.equal(item.explored, item.itemId !== best);
      remaining.delete(item.itemId);
    }
  });

  it("rejects epsilon outside [0,1] with PolicyConfigError", () => {
    assert.throws(() => epsilonGreedyPolicy(1.5), PolicyConfigError);
  });
});

describe("softmax", () => {
  it("temperature → 0 is greedy", () => {
    for (const temperature of [0, 1e-6]) {
      for (let seed = 0; seed < 10; seed++) {
        assert.deepEqual(
          ids(softmaxPolicy(temperature).select(candidates, 4, contextWith(seed)).items),
          byScore.slice(0, 4),
        );
      }
    }
  });

  it("first slot propensity is the softmax of the scores; later slots renormalise over the rest", () => {
    const temperature = 0.7;
    const decision = softmaxPolicy(temperature).select(candidates, 2, contextWith(3));
    const weights = new Map(candidates.map((c) => [c.itemId, Math.exp(c.score / temperature)]));
    let total = [...weights.values()].reduce((a, b) => a + b, 0);
    for (const item of decision.items) {
      const w = weights.get(item.itemId) ?? 0;
      assert.ok(Math.abs(item.propensity - w / total) < 1e-12);
      total -= w;
    }
  });
});

describe("UCB and Thompson favour unexplored items early", () => {
  // Same model score; itemA has been shown a lot at exactly its prior CTR, itemB never.
  const pair: Candidate[] = [
    { itemId: "itemA", score: -2 },
    { itemId: "itemB", score: -2 },
  ];
  const p = 1 / (1 + Math.exp(2));
  const stats = { itemA: { impressions: 5000, clicks: Math.round(5000 * p) } };

  it("UCB puts the unexplored item first and marks it explored", () => {
    const decision = ucbPolicy().select(pair, 2, contextWith(1, stats));
    assert.equal(decision.items[0]?.itemId, "itemB");
    assert.equal(decision.items[0]?.propensity, 1);
  });

  it("UCB with lift evidence does too", () => {
    const liftStats = { itemA: { impressions: 5000, clicks: Math.round(5000 * p), expectedClicks: 5000 * p } };
    assert.equal(ucbPolicy({ evidence: "lift" }).select(pair, 1, contextWith(1, liftStats)).items[0]?.itemId, "itemB");
  });

  it("Thompson puts the unexplored item first in about half the requests or more, and rarely ignores it", () => {
    let firstB = 0;
    const policy = thompsonPolicy({ samples: 20 });
    for (let seed = 0; seed < 300; seed++)
      if (policy.select(pair, 1, contextWith(seed, stats)).items[0]?.itemId === "itemB") firstB++;
    // The posterior of A is tight around p, B's prior is wide (α0 = 10) but skewed: B wins often.
    assert.ok(firstB > 0.3 * 300, `itemB first in ${firstB}/300`);
    const decision = policy.select(pair, 2, contextWith(5, stats));
    assert.equal(decision.propensityMethod, "monte-carlo");
    assert.equal(decision.monteCarloSamples, 20);
  });

  it("LinUCB puts the item in an unexplored direction first", () => {
    // As if 1000 observations had been made along the first axis only.
    const linear = { ...createLinearState(2, 1), aInverse: [1 / 1001, 0, 0, 1], count: 1000 };
    const user = Float32Array.from([1, 1]);
    const items: Candidate[] = [
      { itemId: "known", score: -2, vector: Float32Array.from([1, 0]) },
      { itemId: "unknown", score: -2, vector: Float32Array.from([0, 1]) },
    ];
    const decision = linUcbPolicy(1).select(items, 2, contextWith(1, {}, { linear, userVector: user }));
    assert.equal(decision.items[0]?.itemId, "unknown");
  });
});

describe("slate options", () => {
  it("exploration budget caps explored slots per slate", () => {
    const policy = withExplorationBudget(epsilonGreedyPolicy(1), 1);
    for (let seed = 0; seed < 50; seed++) {
      const decision = policy.select(candidates, 5, contextWith(seed));
      assert.ok(decision.items.filter((i) => i.explored).length <= 1);
      // After the explored slot, the rest are the exploit choice with propensity 1.
      const firstExplored = decision.items.findIndex((i) => i.explored);
      if (firstExplored >= 0)
        for (const item of decision.items.slice(firstExplored + 1)) assert.equal(item.propensity, 1);
    }
    assert.equal(policy.id, "epsilon:1+budget:1");
  });

  it("cold-start boost lifts new items, decaying with age", () => {
    const items: Candidate[] = [
      { itemId: "old", score: 1 },
      { itemId: "new", score: 0, isNew: true },
      { itemId: "young", score: 0.5, ageMs: 500 },
    ];
    const policy = withColdStartBoost(greedyPolicy(), { boost: 2, windowMs: 1000 });
    const decision = policy.select(items, 3, contextWith(1));
    assert.deepEqual(ids(decision.items), ["new", "young", "old"]); // 2, 1.5, 1
    assert.equal(decision.items[0]?.score, 2);
  });

  it("MMR pushes a near-duplicate below a diverse item", () => {
    const items: Candidate[] = [
      { itemId: "a", score: 1.0, vector: Float32Array.from([1, 0]) },
      { itemId: "a-twin", score: 0.9, vector: Float32Array.from([1, 0.01]) },
      { itemId: "b", score: 0.6, vector: Float32Array.from([0, 1]) },
    ];
    assert.deepEqual(ids(greedyPolicy().select(items, 3, contextWith(1)).items), ["a", "a-twin", "b"]);
    assert.deepEqual(ids(withMmr(greedyPolicy(), { weight: 0.5 }).select(items, 3, contextWith(1)).items), [
      "a",
      "b",
      "a-twin",
    ]);
  });
});

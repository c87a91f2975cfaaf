import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultTwoTowerConfig, type TwoTowerModel } from "@recfleet/towers";
import { decidePromotion, evaluateModel, type EvalMetrics } from "./evaluate-candidate";

const m = (recall: number, ndcg = recall, users = 10): EvalMetrics => ({ k: 20, recall, ndcg, users });
const policy = { metric: "recall" as const, margin: 0.02, minRecall: 0.01 };

test("promotion gate: within the margin promotes, beyond it rejects with metric and values", () => {
  assert.equal(decidePromotion(m(0.3), undefined, policy).code, "no_current_model");
  assert.equal(decidePromotion(m(0.3), { unusable: "corrupt" }, policy).promote, true);
  assert.deepEqual(decidePromotion(m(0.29), m(0.3), policy).promote, true);
  const worse = decidePromotion(m(0.27), m(0.3), policy);
  assert.equal(worse.promote, false);
  assert.equal(worse.code, "worse_than_current");
  assert.match(worse.detail, /recall@20 0\.2700 < current 0\.3000/);
  assert.equal(
    decidePromotion(m(0.9, 0.1), m(0.1, 0.5), { metric: "ndcg", margin: 0.1, minRecall: 0.01 }).promote,
    false,
  );
  assert.equal(decidePromotion(m(0, 0, 0), m(0.3), policy).code, "empty_holdout");
});

// With the registry gone, `train --wait` promoted a model with recall@20 0.0: nothing to compare with.
test("promotion gate: with no usable current model, a candidate below PROMOTE_MIN_RECALL is rejected (below_floor)", () => {
  for (const current of [undefined, { unusable: "corrupt" }]) {
    const zero = decidePromotion(m(0), current, policy);
    assert.equal(zero.promote, false);
    assert.equal(zero.code, "below_floor");
    assert.match(zero.detail, /recall@20 0\.0000 < floor 0\.01 \(PROMOTE_MIN_RECALL\)/);
    assert.equal(decidePromotion(m(0.009), current, policy).code, "below_floor");
    assert.equal(decidePromotion(m(0, 0, 0), current, policy).code, "below_floor");
    assert.equal(decidePromotion(m(0.01), current, policy).promote, true);
  }
  // The floor is about recall whatever the gate's metric; with a current model the margin decides.
  assert.equal(decidePromotion(m(0.005, 0.5), undefined, { ...policy, metric: "ndcg" }).code, "below_floor");
  assert.equal(decidePromotion(m(0.005), m(0.005), policy).code, "not_worse");
});

/** A model whose towers are identities on one-hot embeddings: item i's vector is e_i, the user's the mean of their history's. */
function identityModel(itemIds: string[]): TwoTowerModel {
  const d = itemIds.length;
  const eye = (n: number) => {
    const a = new Float32Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = 1;
    return a;
  };
  const config = { ...defaultTwoTowerConfig, dim: d, hidden: d };
  return {
    config,
    itemIds,
    featureWidth: 0,
    itemFeatures: new Float32Array(0),
    weights: {
      historyEmbedding: eye(d),
      itemEmbedding: eye(d),
      userW1: eye(d),
      userB1: new Float32Array(d),
      userW2: eye(d),
      userB2: new Float32Array(d),
      itemW1: eye(d),
      itemB1: new Float32Array(d),
      itemW2: eye(d),
      itemB2: new Float32Array(d),
    },
  };
}

test("evaluateModel: seen items are excluded; unknown targets are misses; vocabularies matched by id", () => {
  const model = identityModel(["a", "b", "c", "d"]);
  // History a → user vector e_a; a is seen (excluded), so rank 1 among b, c, d is a tie at 0: target b or not.
  const hit = evaluateModel(model, [{ user: "u", history: ["a", "b"], targets: ["b"], seen: ["a"], lastTs: 0 }], 1);
  assert.equal(hit.recall, 1);
  assert.equal(hit.ndcg, 1);
  const unknown = evaluateModel(model, [{ user: "u", history: ["a"], targets: ["zzz"], seen: ["a"], lastTs: 0 }], 3);
  assert.equal(unknown.recall, 0);
  const half = evaluateModel(model, [{ user: "u", history: ["c"], targets: ["c", "zzz"], seen: [], lastTs: 0 }], 1);
  assert.equal(half.recall, 0.5);
  assert.equal(half.users, 1);
});

test("evaluateModel: cases past the first scoring batch are ranked by their own scores", () => {
  const ids = ["a", "b", "c", "d"];
  const model = identityModel(ids);
  // Each user's history is their target, so every case is a hit at k=1, in every batch.
  const cases = Array.from({ length: 600 }, (_, i) => ({
    user: `u${i}`,
    history: [ids[i % 4]!],
    targets: [ids[i % 4]!],
    seen: [],
    lastTs: 0,
  }));
  const metrics = evaluateModel(model, cases, 1);
  assert.equal(metrics.recall, 1);
  assert.equal(metrics.users, 600);
});

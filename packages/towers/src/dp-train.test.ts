/**
 * The clipping test: no user's contribution to a DP-SGD step exceeds the clip norm, measured
 * the way the guarantee needs it — the step's summed gradient with and without that user
 * (same negatives, no noise) differs by at most clipNorm in L2, over every tensor including
 * every embedding row. And a DP run reports its privacy and learns something.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GradientComputer } from "./train.js";
import { WEIGHT_NAMES, type TowerWeights } from "./model.js";
import { addClippedUserGradients, packWithNegatives, planDpSgd, trainTwoTowerPrivately } from "./dp-train.js";
import { dpSgdEpsilon } from "./dp-accountant.js";
import { randomModel, tinyConfig, tinyData } from "./test-fixtures.js";

function zeros(like: TowerWeights): TowerWeights {
  const out = {} as TowerWeights;
  for (const n of WEIGHT_NAMES) out[n] = new Float32Array(like[n].length);
  return out;
}

function distance(a: TowerWeights, b: TowerWeights): number {
  let s = 0;
  for (const n of WEIGHT_NAMES) for (let i = 0; i < a[n].length; i++) s += (a[n][i]! - b[n][i]!) ** 2;
  return Math.sqrt(s);
}

test("clipping: removing any one user changes a step's gradient sum by at most the clip norm (in-batch coupling removed)", async () => {
  const config = { ...tinyConfig, historyDropout: 0, logQWeight: 0 };
  const data = tinyData(12, 3, 60, 11);
  const model = randomModel(config, data);
  const packed = packWithNegatives(config, data);
  const computer = await GradientComputer.create(config, 3);
  try {
    // 10 users of 6 examples each; negatives: 5 items, as pseudo-examples after the real ones.
    const users = Array.from({ length: 10 }, (_, u) => ({
      examples: Int32Array.from({ length: 6 }, (_, j) => u * 6 + j),
    }));
    const negatives = Int32Array.from([0, 3, 5, 7, 11], (r) => data.examples.length + r);
    for (const clipNorm of [0.05, 0.5, 100]) {
      const all = zeros(model.weights);
      const { norms } = await addClippedUserGradients(
        computer,
        model,
        packed,
        users,
        negatives,
        clipNorm,
        all,
        zeros(model.weights),
      );
      assert.ok(norms.every((n) => n > 0));
      let largest = 0;
      for (let u = 0; u < users.length; u++) {
        const without = zeros(model.weights);
        await addClippedUserGradients(
          computer,
          model,
          packed,
          users.filter((_, v) => v !== u),
          negatives,
          clipNorm,
          without,
          zeros(model.weights),
        );
        const contribution = distance(all, without);
        largest = Math.max(largest, contribution);
        // float32 sums: a relative tolerance of 1e-4
        assert.ok(contribution <= clipNorm * (1 + 1e-4), `user ${u}: ${contribution} > C=${clipNorm}`);
        // Unclipped users contribute exactly their own gradient norm.
        if (norms[u]! < clipNorm) assert.ok(Math.abs(contribution - norms[u]!) <= 1e-4 * norms[u]! + 1e-6);
      }
      console.log(
        `# clip ${clipNorm}: per-user norms ${Math.min(...norms).toFixed(3)}…${Math.max(...norms).toFixed(3)}, largest contribution ${largest.toFixed(4)}`,
      );
    }
  } finally {
    await computer.release();
  }
});

test("DP-SGD run: reports (ε, δ) for the user as the unit, consistent with the accountant; training moves the weights", async () => {
  const data = tinyData(12, 3, 120, 5);
  const units = data.examples.map((_, e) => e % 20);
  const dp = {
    targetEpsilon: 3,
    delta: 1e-5,
    clipNorm: 1,
    usersPerStep: 5,
    epochs: 2,
    examplesPerUser: 4,
    negatives: 6,
  };
  const { model, privacy } = await trainTwoTowerPrivately(data, units, { ...tinyConfig, epochs: 1 }, dp);
  assert.equal(privacy.unit, "user");
  assert.equal(privacy.users, 20);
  assert.equal(privacy.sampleRate, 0.25);
  assert.equal(privacy.steps, 8);
  assert.ok(privacy.epsilon <= 3 && privacy.epsilon > 2.9, `${privacy.epsilon}`);
  assert.equal(
    dpSgdEpsilon({ sampleRate: 0.25, noiseMultiplier: privacy.noiseMultiplier, steps: 8, delta: 1e-5 }).epsilon,
    privacy.epsilon,
  );
  const fresh = randomModel(model.config, data);
  assert.ok(distance(model.weights, fresh.weights) > 0);
  assert.throws(() => planDpSgd({ ...dp, noiseMultiplier: 1 }, 20), /one of them/);
});

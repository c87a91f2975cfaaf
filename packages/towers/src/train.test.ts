import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "./config.js";
import { TrainingAbortedError, TwoTowerConfigError } from "./errors.js";
import { NORM_EPS, WEIGHT_NAMES, type TowerWeights, type TwoTowerModel } from "./model.js";
import { SeededRandom } from "@recfleet/numeric";
import { randomModel, tinyConfig, tinyData } from "./test-fixtures.js";
import { GradientComputer, logQFromFrequency, packExamples, trainTwoTower, type PackedExamples } from "./train.js";

type Weights64 = Record<keyof TowerWeights, Float64Array>;

/** The training loss recomputed in float64 straight from the definition (no ONNX). */
function referenceLoss(
  model: TwoTowerModel,
  W: Weights64,
  packed: PackedExamples,
  batch: Int32Array,
  logQ: Float64Array,
): number {
  const { dim: d, hidden: h, historyLength: L, temperature: tau } = model.config;
  const F = model.featureWidth;
  const tower = (
    x: Float64Array,
    w1: Float64Array,
    b1: Float64Array,
    w2: Float64Array,
    b2: Float64Array,
  ): Float64Array => {
    const a = new Float64Array(h);
    for (let o = 0; o < h; o++) {
      let s = b1[o]!;
      for (let i = 0; i < x.length; i++) s += x[i]! * w1[i * h + o]!;
      a[o] = Math.max(0, s);
    }
    const z = new Float64Array(d);
    for (let o = 0; o < d; o++) {
      let s = b2[o]!;
      for (let i = 0; i < h; i++) s += a[i]! * w2[i * d + o]!;
      z[o] = s;
    }
    const n = Math.max(Math.hypot(...z), NORM_EPS);
    return z.map((v) => v / n);
  };
  const B = batch.length;
  const users: Float64Array[] = [];
  const items: Float64Array[] = [];
  for (const e of batch) {
    const pooled = new Float64Array(d);
    for (let j = e * L; j < e * L + L; j++) {
      const w = packed.historyWeight[j]!;
      for (let k = 0; k < d; k++) pooled[k]! += w * W.historyEmbedding[packed.historyRows[j]! * d + k]!;
    }
    users.push(tower(pooled, W.userW1, W.userB1, W.userW2, W.userB2));
    const t = packed.targets[e]!;
    const x = new Float64Array(d + F);
    for (let k = 0; k < d; k++) x[k] = W.itemEmbedding[t * d + k]!;
    for (let f = 0; f < F; f++) x[d + f] = model.itemFeatures[t * F + f]!;
    items.push(tower(x, W.itemW1, W.itemB1, W.itemW2, W.itemB2));
  }
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const logits: number[] = [];
    for (let j = 0; j < B; j++) {
      const ti = packed.targets[batch[i]!]!;
      const tj = packed.targets[batch[j]!]!;
      if (i !== j && ti === tj) continue; // duplicate positive: not a negative
      let dot = 0;
      for (let k = 0; k < d; k++) dot += users[i]![k]! * items[j]![k]!;
      const logit = dot / tau - model.config.logQWeight * logQ[tj]!;
      logits.push(logit);
      if (j === i) loss -= logit;
    }
    const max = Math.max(...logits);
    loss += max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
  }
  return loss / B;
}

describe("training step gradients", () => {
  it("match central finite differences of the float64 loss for every parameter", async () => {
    const data = tinyData();
    const model = randomModel(tinyConfig, data);
    const packed = packExamples(tinyConfig, data.examples, data.itemIds.length);
    const batch = Int32Array.from({ length: 10 }, (_, i) => i);
    const counts = new Float64Array(data.itemIds.length);
    for (const t of packed.targets) counts[t]! += 1;
    const logQ = logQFromFrequency(counts, data.itemIds.length);
    assert.ok(
      new Set(batch.map((e) => packed.targets[e]!)).size < batch.length,
      "fixture batch should repeat a target",
    );

    const computer = await GradientComputer.create(tinyConfig, model.featureWidth);
    const grads = {} as TowerWeights;
    for (const n of WEIGHT_NAMES) grads[n] = new Float32Array(model.weights[n].length);
    const loss = await computer.run(model.weights, model.itemFeatures, logQ, packed, batch, grads);
    await computer.release();

    const W = {} as Weights64;
    for (const n of WEIGHT_NAMES) W[n] = Float64Array.from(model.weights[n]);
    assert.ok(Math.abs(loss - referenceLoss(model, W, packed, batch, logQ)) < 1e-4, "loss value");
    const eps = 1e-5;
    let checked = 0;
    for (const name of WEIGHT_NAMES) {
      const p = W[name];
      for (let i = 0; i < p.length; i++) {
        const orig = p[i]!;
        p[i] = orig + eps;
        const up = referenceLoss(model, W, packed, batch, logQ);
        p[i] = orig - eps;
        const down = referenceLoss(model, W, packed, batch, logQ);
        p[i] = orig;
        const numeric = (up - down) / (2 * eps);
        const analytic = grads[name][i]!;
        assert.ok(
          Math.abs(numeric - analytic) <= 2e-4 + 1e-3 * Math.abs(numeric),
          `${name}[${i}]: analytic ${analytic} vs numeric ${numeric}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 200);
  });

  it("reusing one grads buffer across batches gives the gradients a fresh buffer gets", async () => {
    const data = tinyData(30, 3, 60);
    const model = randomModel(tinyConfig, data);
    const packed = packExamples(tinyConfig, data.examples, data.itemIds.length);
    const computer = await GradientComputer.create(tinyConfig, model.featureWidth);
    const reused = emptyGrads(model);
    // Different sizes and overlapping rows: only the rows a batch touched may be non-zero after it.
    for (const [from, to] of [
      [0, 10],
      [10, 14],
      [5, 25],
      [40, 48],
    ] as const) {
      const batch = Int32Array.from({ length: to - from }, (_, i) => from + i);
      const fresh = emptyGrads(model);
      const a = await computer.run(model.weights, model.itemFeatures, undefined, packed, batch, reused);
      const b = await computer.run(model.weights, model.itemFeatures, undefined, packed, batch, fresh);
      assert.equal(a, b);
      for (const n of WEIGHT_NAMES) assert.deepEqual(reused[n], fresh[n], `${n} after batch ${from}–${to}`);
    }
    await computer.release();
  });
});

function emptyGrads(model: TwoTowerModel): TowerWeights {
  const grads = {} as TowerWeights;
  for (const n of WEIGHT_NAMES) grads[n] = new Float32Array(model.weights[n].length);
  return grads;
}

describe("trainTwoTower", () => {
  it("is deterministic for a seed and differs across seeds", async () => {
    const data = tinyData();
    const a = await trainTwoTower(data, tinyConfig);
    const b = await trainTwoTower(data, tinyConfig);
    const c = await trainTwoTower(data, { ...tinyConfig, seed: 4 });
    for (const n of WEIGHT_NAMES) assert.deepEqual(a.weights[n], b.weights[n], `${n} differs between equal seeds`);
    assert.notDeepEqual(a.weights.userW1, c.weights.userW1);
    // The seeded history dropout is part of the determinism too.
    const withDropout = { ...tinyConfig, historyDropout: 0.3, recencyDecay: 0.9 };
    const d1 = await trainTwoTower(data, withDropout);
    const d2 = await trainTwoTower(data, withDropout);
    for (const n of WEIGHT_NAMES) assert.deepEqual(d1.weights[n], d2.weights[n], `${n} differs with dropout`);
    assert.notDeepEqual(d1.weights.userW1, a.weights.userW1);
  });

  it("trains the same weights from users' sequences as from the examples cut out of them", async () => {
    const base = tinyData();
    const rng = new SeededRandom(9);
    const sequences: number[][] = Array.from({ length: 6 }, (_, u) =>
      Array.from({ length: u === 2 ? 1 : 3 + Math.floor(rng.next() * 9) }, () => Math.floor(rng.next() * 12)),
    );
    const examples = sequences.flatMap((seq) =>
      seq.slice(1).map((target, j) => ({ history: seq.slice(0, j + 1), target })),
    );
    const offsets = new Int32Array(sequences.length + 1);
    sequences.forEach((seq, u) => (offsets[u + 1] = offsets[u]! + seq.length));
    const config = { ...tinyConfig, historyDropout: 0.3, recencyDecay: 0.9 };
    const fromExamples = await trainTwoTower({ ...base, examples }, config);
    const fromSequences = await trainTwoTower(
      { ...base, examples: [], sequences: { items: Int32Array.from(sequences.flat()), offsets } },
      config,
    );
    for (const n of WEIGHT_NAMES) assert.deepEqual(fromSequences.weights[n], fromExamples.weights[n], n);
    await assert.rejects(
      trainTwoTower(
        { ...base, examples: [], sequences: { items: Int32Array.of(0, 99), offsets: Int32Array.of(0, 2) } },
        config,
      ),
      TwoTowerConfigError,
    );
  });

  it("lowers the training loss and reports progress", async () => {
    const data = tinyData(12, 3, 200);
    const losses: number[] = [];
    await trainTwoTower(
      data,
      { ...tinyConfig, epochs: 8, learningRate: 1e-2 },
      {
        onProgress: (p) => {
          if (p.step === p.stepsPerEpoch) losses.push(p.loss);
          assert.ok(p.examplesPerSecond > 0 && p.etaSeconds >= 0);
        },
      },
    );
    assert.equal(losses.length, 8);
    assert.ok(losses.at(-1)! < losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
  });

  it("onEpochEnd sees every epoch and can stop early: stopping after 2 of 5 equals a 2-epoch run", async () => {
    const data = tinyData();
    const seen: number[] = [];
    const stopped = await trainTwoTower(
      data,
      { ...tinyConfig, epochs: 5 },
      {
        onEpochEnd: (epoch) => {
          seen.push(epoch);
          return epoch === 2 ? "stop" : undefined;
        },
      },
    );
    const two = await trainTwoTower(data, { ...tinyConfig, epochs: 2 });
    assert.deepEqual(seen, [1, 2]);
    for (const n of WEIGHT_NAMES) assert.deepEqual(stopped.weights[n], two.weights[n], `${n} differs`);
  });

  it("warm start keeps the rows of known items and gives new items fresh rows", async () => {
    const data = tinyData();
    const old = await trainTwoTower(data, tinyConfig);
    const d = tinyConfig.dim;
    // New vocabulary: drops item-0, reorders, adds two new items.
    const itemIds = ["new-a", ...data.itemIds.slice(1).reverse(), "new-b"];
    const F = old.featureWidth;
    const itemFeatures = new Float32Array(itemIds.length * F);
    const warm = await trainTwoTower(
      { itemIds, itemFeatures, examples: [] },
      { ...tinyConfig, epochs: 0 },
      { warmStart: old },
    );
    itemIds.forEach((id, r) => {
      const oldRow = old.itemIds.indexOf(id);
      const row = warm.weights.itemEmbedding.subarray(r * d, r * d + d);
      if (oldRow >= 0) {
        assert.deepEqual(row, old.weights.itemEmbedding.subarray(oldRow * d, oldRow * d + d), `${id} item row`);
        assert.deepEqual(
          warm.weights.historyEmbedding.subarray(r * d, r * d + d),
          old.weights.historyEmbedding.subarray(oldRow * d, oldRow * d + d),
        );
      } else {
        assert.ok(
          row.some((v) => v !== 0),
          `${id} should get a fresh non-zero row`,
        );
      }
    });
    assert.deepEqual(warm.weights.userW1, old.weights.userW1);
    // Fine-tuning from the warm start runs.
    const tuned = await trainTwoTower({ ...data }, tinyConfig, { warmStart: old });
    assert.notDeepEqual(tuned.weights.userW1, old.weights.userW1);
  });

  it("refuses a warm start with other dimensions", async () => {
    const data = tinyData();
    const old = await trainTwoTower(data, { ...tinyConfig, epochs: 0 });
    await assert.rejects(trainTwoTower(data, { ...tinyConfig, hidden: 7 }, { warmStart: old }), TwoTowerConfigError);
  });

  it("stops with TrainingAbortedError when the signal fires", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(trainTwoTower(tinyData(), tinyConfig, { signal: controller.signal }), TrainingAbortedError);
  });

  it("validates the config", () => {
    assert.throws(() => resolveConfig({ dim: 0 }), TwoTowerConfigError);
    assert.throws(() => resolveConfig({ temperature: -1 }), TwoTowerConfigError);
  });
});

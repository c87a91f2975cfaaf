import * as ort from "onnxruntime-node";
import { SeededRandom } from "@recfleet/numeric";
import { resolveConfig, type TwoTowerConfig } from "./config.js";
import { TrainingAbortedError, TwoTowerConfigError } from "./errors.js";
import { historyWeights, initWeights, POOL_EPS, WEIGHT_NAMES, type TowerWeights, type TwoTowerModel } from "./model.js";
import { buildTrainingGraph, MLP_TENSORS } from "./train-graph.js";

export interface TrainingExample {
  /** Item rows the user interacted with before the target, oldest → newest (the newest historyLength are used). */
  history: readonly number[];
  /** Item row of the positive. */
  target: number;
  /** Optional pooling weight per history item (e.g. by event type), parallel to history. */
  historyWeights?: readonly number[];
}

export interface TrainingData {
  /** Item vocabulary in row order. */
  itemIds: string[];
  /** itemIds.length × F content features, row-major (F may be 0). */
  itemFeatures: Float32Array;
  examples: readonly TrainingExample[];
  /**
   * Occurrences per item row for the logQ correction; default: how often each row is a
   * target. ML100K-CHRONO passes all train interactions, as the peer does.
   */
  itemFrequency?: ArrayLike<number>;
}

export interface TrainingProgress {
  epoch: number; // 1-based
  epochs: number;
  step: number; // steps done in this epoch
  stepsPerEpoch: number;
  /** Mean training loss over this epoch so far. */
  loss: number;
  examplesPerSecond: number;
  etaSeconds: number;
}

export interface TrainOptions {
  /** Continue from this model: its rows are kept for items it knows, new items get fresh rows. */
  warmStart?: TwoTowerModel;
  onProgress?: (progress: TrainingProgress) => void;
  /** How often onProgress fires within an epoch (it always fires at each epoch end). Default 1000 ms. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /**
   * Called after each epoch with the model trained so far (its weights keep changing in place
   * afterwards: read what you need before returning). Return "stop" to end training there —
   * early stopping on a validation split. With the constant schedule the model after epoch k
   * equals a k-epoch run, so one run gives the whole validation curve over epochs.
   */
  onEpochEnd?: (epoch: number, model: TwoTowerModel) => void | "stop" | Promise<void | "stop">;
}

/** Examples packed into flat arrays: slots are right-aligned like the ONNX `history` input. */
export interface PackedExamples {
  count: number;
  historyRows: Int32Array; // count × L
  historyWeight: Float32Array; // count × L, normalised so each row sums to 1 (0 on padding)
  targets: Int32Array;
}

export function packExamples(
  config: TwoTowerConfig,
  examples: readonly TrainingExample[],
  numItems: number,
): PackedExamples {
  const L = config.historyLength;
  const n = examples.length;
  const historyRows = new Int32Array(n * L);
  const historyWeight = new Float32Array(n * L);
  const targets = new Int32Array(n);
  examples.forEach((ex, e) => {
    if (!Number.isInteger(ex.target) || ex.target < 0 || ex.target >= numItems) {
      throw new TwoTowerConfigError(
        `examples[${e}].target ${ex.target} is not an item row in [0, ${numItems})`,
        "examples",
      );
    }
    targets[e] = ex.target;
    const w = historyWeights(config, ex.history.length, ex.historyWeights);
    let total = 0;
    for (const x of w) total += x;
    const denom = Math.max(total, POOL_EPS);
    const skip = ex.history.length - w.length;
    const pad = L - w.length;
    for (let j = 0; j < w.length; j++) {
      const row = ex.history[skip + j]!;
      if (!Number.isInteger(row) || row < 0 || row >= numItems) {
        throw new TwoTowerConfigError(
          `examples[${e}].history holds ${row}, not an item row in [0, ${numItems})`,
          "examples",
        );
      }
      historyRows[e * L + pad + j] = row;
      historyWeight[e * L + pad + j] = w[j]! / denom;
    }
  });
  return { count: n, historyRows, historyWeight, targets };
}

/** One ONNX session that computes the loss and all gradients of a batch. */
export class GradientComputer {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: TwoTowerConfig,
    private readonly featureWidth: number,
  ) {}

  static async create(config: TwoTowerConfig, featureWidth: number): Promise<GradientComputer> {
    const session = await ort.InferenceSession.create(buildTrainingGraph(config, featureWidth), {
      executionProviders: ["cpu"],
      intraOpNumThreads: config.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    return new GradientComputer(session, config, featureWidth);
  }

  /**
   * Loss and gradients of the batch `batch` (indices into packed); `grads` is overwritten
   * (embedding tables: zero except the rows the batch touched). Rows from `negativesFrom` on
   * only lend their item as a negative to the rows before (their own row is masked to a zero
   * loss and gradient): DP-SGD's per-user batches use that for data-independent negatives.
   */
  async run(
    weights: TowerWeights,
    itemFeatures: Float32Array,
    logQ: Float64Array | undefined,
    packed: PackedExamples,
    batch: Int32Array,
    grads: TowerWeights,
    rng?: SeededRandom,
    negativesFrom = batch.length,
  ): Promise<number> {
    const { dim: d, historyLength: L } = this.config;
    const F = this.featureWidth;
    const B = batch.length;
    const inWidth = d + F;
    const { historyRows, targets } = packed;
    const historyWeight = this.slotWeights(packed, batch, rng);
    const histTable = weights.historyEmbedding;
    const itemTable = weights.itemEmbedding;

    // idDropout: these targets are seen through their content alone (id embedding zeroed, no id gradient).
    const dropId = new Uint8Array(B);
    if (this.config.idDropout > 0 && F > 0 && rng !== undefined)
      for (let b = 0; b < B; b++) dropId[b] = rng.next() < this.config.idDropout ? 1 : 0;
    // Gather: pooled history and item-tower input.
    const pooled = new Float32Array(B * d);
    const itemInput = new Float32Array(B * inWidth);
    for (let b = 0; b < B; b++) {
      const e = batch[b]!;
      const out = b * d;
      for (let s = 0; s < L; s++) {
        const w = historyWeight[b * L + s]!;
        if (w === 0) continue;
        const row = historyRows[e * L + s]! * d;
        for (let k = 0; k < d; k++) pooled[out + k]! += w * histTable[row + k]!;
      }
      const t = targets[e]!;
      if (dropId[b] === 0) itemInput.set(itemTable.subarray(t * d, t * d + d), b * inWidth);
      if (F > 0) itemInput.set(itemFeatures.subarray(t * F, t * F + F), b * inWidth + d);
    }
    // Logit bias: −log q of each column's item; a repeated target is masked off the diagonal
    // (as the peer does) so an item is never its own negative.
    const bias = new Float32Array(B * B);
    for (let j = 0; j < B; j++) {
      const tj = targets[batch[j]!]!;
      const value = logQ === undefined ? 0 : -this.config.logQWeight * logQ[tj]!;
      for (let i = 0; i < B; i++) bias[i * B + j] = value;
    }
    const rowsByTarget = new Map<number, number[]>();
    for (let b = 0; b < B; b++) {
      const t = targets[batch[b]!]!;
      const same = rowsByTarget.get(t);
      if (same === undefined) rowsByTarget.set(t, [b]);
      else same.push(b);
    }
    for (const rows of rowsByTarget.values()) {
      if (rows.length < 2) continue;
      for (const i of rows) for (const j of rows) if (i !== j) bias[i * B + j] = -1e9;
    }
    // A negatives-only row sees only its own column: softmax 1 there, so loss and gradient 0.
    for (let i = negativesFrom; i < B; i++) for (let j = 0; j < B; j++) bias[i * B + j] = i === j ? 0 : -1e9;

    const feeds: Record<string, ort.Tensor> = {
      pooled: new ort.Tensor("float32", pooled, [B, d]),
      item_input: new ort.Tensor("float32", itemInput, [B, inWidth]),
      logit_bias: new ort.Tensor("float32", bias, [B, B]),
    };
    for (const [name, onnxName] of MLP_TENSORS) {
      const w = weights[name];
      feeds[onnxName] = new ort.Tensor("float32", w, shapeOf(this.config, F, onnxName));
    }
    const result = await this.session.run(feeds);
    for (const [name, onnxName] of MLP_TENSORS) grads[name].set(result[`grad_${onnxName}`]!.data as Float32Array);

    // Scatter: embedding-row gradients.
    const gPooled = result["grad_pooled"]!.data as Float32Array;
    const gItemInput = result["grad_item_input"]!.data as Float32Array;
    const gHist = grads.historyEmbedding;
    const gItem = grads.itemEmbedding;
    gHist.fill(0);
    gItem.fill(0);
    for (let b = 0; b < B; b++) {
      const e = batch[b]!;
      const src = b * d;
      for (let s = 0; s < L; s++) {
        const w = historyWeight[b * L + s]!;
        if (w === 0) continue;
        const row = historyRows[e * L + s]! * d;
        for (let k = 0; k < d; k++) gHist[row + k]! += w * gPooled[src + k]!;
      }
      if (dropId[b] === 1) continue;
      const row = targets[e]! * d;
      const srcItem = b * inWidth;
      for (let k = 0; k < d; k++) gItem[row + k]! += gItemInput[srcItem + k]!;
    }
    return (result["loss"]!.data as Float32Array)[0]!;
  }

  /**
   * Pooling weights of the batch's history slots (B × L, each row summing to 1). With
   * historyDropout, each item is dropped with that probability and the rest renormalised;
   * a history that would lose every item keeps them all.
   */
  private slotWeights(packed: PackedExamples, batch: Int32Array, rng?: SeededRandom): Float32Array {
    const L = this.config.historyLength;
    const out = new Float32Array(batch.length * L);
    const p = this.config.historyDropout;
    for (let b = 0; b < batch.length; b++) {
      const src = batch[b]! * L;
      out.set(packed.historyWeight.subarray(src, src + L), b * L);
      if (p === 0 || rng === undefined) continue;
      let kept = 0;
      for (let s = b * L; s < b * L + L; s++) {
        if (out[s] === 0) continue;
        if (rng.next() < p) out[s] = 0;
        else kept += out[s]!;
      }
      if (kept === 0) out.set(packed.historyWeight.subarray(src, src + L), b * L);
      else for (let s = b * L; s < b * L + L; s++) out[s]! /= kept;
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function shapeOf(config: TwoTowerConfig, F: number, onnxName: string): number[] {
  const { dim: d, hidden: h } = config;
  switch (onnxName) {
    case "user_w1":
      return [d, h];
    case "item_w1":
      return [d + F, h];
    case "user_w2":
    case "item_w2":
      return [h, d];
    case "user_b1":
    case "item_b1":
      return [h];
    default:
      return [d];
  }
}

/**
 * Adam (Kingma & Ba) with PyTorch's defaults β=(0.9, 0.999), ε=1e-8, dense over every tensor
 * (embedding rows a batch did not touch still move with their momentum, as in the peer), with
 * optional decoupled weight decay (AdamW).
 */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(private readonly params: Float32Array[]) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  step(grads: Float32Array[], lr: number, weightDecay: number): void {
    const beta1 = 0.9;
    const beta2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2 = 1 - Math.pow(beta2, this.t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const keep = 1 - lr * weightDecay;
    for (let p = 0; p < this.params.length; p++) {
      const param = this.params[p]!;
      const grad = grads[p]!;
      const m = this.m[p]!;
      const v = this.v[p]!;
      for (let i = 0; i < param.length; i++) {
        const g = grad[i]!;
        const mi = beta1 * m[i]! + (1 - beta1) * g;
        const vi = beta2 * v[i]! + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      }
    }
  }
}

export function emptyLike(w: TowerWeights): TowerWeights {
  const out = {} as Record<keyof TowerWeights, Float32Array>;
  for (const name of WEIGHT_NAMES) out[name] = new Float32Array(w[name].length);
  return out;
}

/** log q(item) from occurrence counts, +1 smoothed so unseen items stay finite. */
export function logQFromFrequency(frequency: ArrayLike<number>, numItems: number): Float64Array {
  let total = 0;
  for (let i = 0; i < numItems; i++) total += (frequency[i] ?? 0) + 1;
  const out = new Float64Array(numItems);
  for (let i = 0; i < numItems; i++) out[i] = Math.log(((frequency[i] ?? 0) + 1) / total);
  return out;
}

/** Initial weights: fresh, or the warm-start model's, remapped onto this vocabulary. */
export function startingWeights(
  config: TwoTowerConfig,
  data: TrainingData,
  featureWidth: number,
  rng: SeededRandom,
  warm?: TwoTowerModel,
): TowerWeights {
  const numItems = data.itemIds.length;
  const fresh = initWeights(config, numItems, featureWidth, rng);
  if (warm === undefined) return fresh;
  for (const key of ["dim", "hidden"] as const) {
    if (warm.config[key] !== config[key]) {
      throw new TwoTowerConfigError(
        `warm start: config.${key} is ${config[key]} but the model has ${warm.config[key]}; keep it equal`,
        key,
      );
    }
  }
  if (warm.featureWidth !== featureWidth) {
    throw new TwoTowerConfigError(
      `warm start: data has ${featureWidth} content features, the model ${warm.featureWidth}`,
      "itemFeatures",
    );
  }
  const d = config.dim;
  const oldRow = new Map(warm.itemIds.map((id, r) => [id, r]));
  for (let r = 0; r < numItems; r++) {
    const old = oldRow.get(data.itemIds[r]!);
    if (old === undefined) continue; // a new item keeps its fresh init rows
    fresh.historyEmbedding.set(warm.weights.historyEmbedding.subarray(old * d, old * d + d), r * d);
    fresh.itemEmbedding.set(warm.weights.itemEmbedding.subarray(old * d, old * d + d), r * d);
  }
  for (const [name] of MLP_TENSORS) fresh[name].set(warm.weights[name]);
  return fresh;
}

/** Train (or fine-tune, with options.warmStart) a two-tower model. Deterministic for a seed and thread count. */
export async function trainTwoTower(
  data: TrainingData,
  configOverrides: Partial<TwoTowerConfig> = {},
  options: TrainOptions = {},
): Promise<TwoTowerModel> {
  const config = resolveConfig(configOverrides);
  const numItems = data.itemIds.length;
  if (numItems === 0) throw new TwoTowerConfigError("data.itemIds is empty", "itemIds");
  const featureWidth = data.itemFeatures.length / numItems;
  if (!Number.isInteger(featureWidth)) {
    throw new TwoTowerConfigError(
      `data.itemFeatures has ${data.itemFeatures.length} values, not a multiple of ${numItems} items`,
      "itemFeatures",
    );
  }
  const rng = new SeededRandom(config.seed);
  const weights = startingWeights(config, data, featureWidth, rng, options.warmStart);
  const model: TwoTowerModel = {
    config,
    itemIds: [...data.itemIds],
    featureWidth,
    itemFeatures: data.itemFeatures,
    weights,
  };
  if (data.examples.length === 0 || config.epochs === 0) return model;

  const packed = packExamples(config, data.examples, numItems);
  let frequency = data.itemFrequency;
  if (frequency === undefined) {
    const counts = new Float64Array(numItems);
    for (const t of packed.targets) counts[t]! += 1;
    frequency = counts;
  }
  const logQ = config.logQWeight > 0 ? logQFromFrequency(frequency, numItems) : undefined;

  const computer = await GradientComputer.create(config, featureWidth);
  const grads = emptyLike(weights);
  const adam = new Adam(WEIGHT_NAMES.map((n) => weights[n]));
  const gradList = WEIGHT_NAMES.map((n) => grads[n]);
  const stepsPerEpoch = Math.ceil(packed.count / config.batchSize);
  const totalSteps = stepsPerEpoch * config.epochs;
  const intervalMs = options.progressIntervalMs ?? 1000;
  const started = performance.now();
  let lastReport = started;
  let globalStep = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = rng.permutation(packed.count);
      let lossSum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        if (options.signal?.aborted) throw new TrainingAbortedError(epoch, { cause: options.signal.reason });
        const batch = order.subarray(step * config.batchSize, Math.min(packed.count, (step + 1) * config.batchSize));
        lossSum += await computer.run(weights, data.itemFeatures, logQ, packed, batch, grads, rng);
        const lr =
          config.learningRateSchedule === "cosine"
            ? config.learningRate * 0.5 * (1 + Math.cos((Math.PI * globalStep) / totalSteps))
            : config.learningRate;
        adam.step(gradList, lr, config.weightDecay);
        globalStep++;
        const now = performance.now();
        const epochEnd = step === stepsPerEpoch - 1;
        if (options.onProgress && (epochEnd || now - lastReport >= intervalMs)) {
          lastReport = now;
          const seconds = (now - started) / 1000;
          const examplesDone = (epoch - 1) * packed.count + Math.min(packed.count, (step + 1) * config.batchSize);
          const rate = examplesDone / seconds;
          options.onProgress({
            epoch,
            epochs: config.epochs,
            step: step + 1,
            stepsPerEpoch,
            loss: lossSum / (step + 1),
            examplesPerSecond: rate,
            etaSeconds: (config.epochs * packed.count - examplesDone) / rate,
          });
        }
      }
      if (options.onEpochEnd && (await options.onEpochEnd(epoch, model)) === "stop") break;
    }
  } finally {
    await computer.release();
  }
  return model;
}

import { SeededRandom } from "@recfleet/numeric";
import type { TwoTowerConfig } from "./config.js";

/**
 * All trainable tensors, row-major. Linear layers are stored input × output so that a layer
 * is x·W + b (the orientation of ONNX MatMul/Gemm).
 */
export interface TowerWeights {
  /** numItems × d: embeddings the user tower pools over the history. */
  historyEmbedding: Float32Array;
  /** numItems × d: the item tower's id embedding. */
  itemEmbedding: Float32Array;
  userW1: Float32Array; // d × hidden
  userB1: Float32Array; // hidden
  userW2: Float32Array; // hidden × d
  userB2: Float32Array; // d
  itemW1: Float32Array; // (d + featureWidth) × hidden
  itemB1: Float32Array; // hidden
  itemW2: Float32Array; // hidden × d
  itemB2: Float32Array; // d
}

export type WeightName = keyof TowerWeights;

export const WEIGHT_NAMES: readonly WeightName[] = [
  "historyEmbedding",
  "itemEmbedding",
  "userW1",
  "userB1",
  "userW2",
  "userB2",
  "itemW1",
  "itemB1",
  "itemW2",
  "itemB2",
];

export interface TwoTowerModel {
  config: TwoTowerConfig;
  /** Item vocabulary in row order: row r of every per-item tensor is itemIds[r]. */
  itemIds: string[];
  /** Content features per item (numItems × featureWidth), part of the item tower's input. */
  featureWidth: number;
  itemFeatures: Float32Array;
  weights: TowerWeights;
}

export function weightShapes(
  config: TwoTowerConfig,
  numItems: number,
  featureWidth: number,
): Record<WeightName, number[]> {
  const { dim: d, hidden: h } = config;
  return {
    historyEmbedding: [numItems, d],
    itemEmbedding: [numItems, d],
    userW1: [d, h],
    userB1: [h],
    userW2: [h, d],
    userB2: [d],
    itemW1: [d + featureWidth, h],
    itemB1: [h],
    itemW2: [h, d],
    itemB2: [d],
  };
}

/** Fill embedding rows [fromRow, toRow) with N(0, std²), the reference init. */
export function initEmbeddingRows(
  table: Float32Array,
  d: number,
  fromRow: number,
  toRow: number,
  std: number,
  rng: SeededRandom,
): void {
  for (let i = fromRow * d; i < toRow * d; i++) table[i] = rng.normal() * std;
}

/**
 * Fresh weights: embeddings N(0, std²); linear layers U(±1/√fan_in) like PyTorch's nn.Linear
 * default, so the comparison with the peer starts from the same distribution.
 */
export function initWeights(
  config: TwoTowerConfig,
  numItems: number,
  featureWidth: number,
  rng: SeededRandom,
): TowerWeights {
  const shapes = weightShapes(config, numItems, featureWidth);
  const d = config.dim;
  const historyEmbedding = new Float32Array(numItems * d);
  const itemEmbedding = new Float32Array(numItems * d);
  initEmbeddingRows(historyEmbedding, d, 0, numItems, config.embeddingInitStd, rng);
  initEmbeddingRows(itemEmbedding, d, 0, numItems, config.embeddingInitStd, rng);
  const linear = (fanIn: number, shape: number[]): Float32Array => {
    const bound = 1 / Math.sqrt(fanIn);
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < out.length; i++) out[i] = (rng.next() * 2 - 1) * bound;
    return out;
  };
  const fanInUser1 = d;
  const fanInItem1 = d + featureWidth;
  return {
    historyEmbedding,
    itemEmbedding,
    userW1: linear(fanInUser1, shapes.userW1),
    userB1: linear(fanInUser1, shapes.userB1),
    userW2: linear(config.hidden, shapes.userW2),
    userB2: linear(config.hidden, shapes.userB2),
    itemW1: linear(fanInItem1, shapes.itemW1),
    itemB1: linear(fanInItem1, shapes.itemB1),
    itemW2: linear(config.hidden, shapes.itemW2),
    itemB2: linear(config.hidden, shapes.itemB2),
  };
}

/** Smallest norm divided by when L2-normalising (as torch F.normalize). */
export const NORM_EPS = 1e-12;
/** Smallest pooled-weight total divided by (an all-padding history pools to zeros). */
export const POOL_EPS = 1e-6;

/**
 * Final pooling weights of one history (oldest → newest, only the newest historyLength kept):
 * per-item weights (default 1) × recencyDecay^(distance from the newest item).
 */
export function historyWeights(config: TwoTowerConfig, length: number, weights?: ArrayLike<number>): Float64Array {
  const kept = Math.min(length, config.historyLength);
  const out = new Float64Array(kept);
  const skip = length - kept;
  for (let j = 0; j < kept; j++) {
    const w = weights === undefined ? 1 : weights[skip + j]!;
    out[j] = w * Math.pow(config.recencyDecay, kept - 1 - j);
  }
  return out;
}

/**
 * The user tower's input for the ONNX graphs: `history` int64 [B, historyLength] item rows,
 * right-aligned (newest last, padding rows 0 at the start) and `history_mask` float
 * [B, historyLength] holding each slot's pooling weight (0 on padding).
 */
export function encodeHistories(
  model: Pick<TwoTowerModel, "config">,
  histories: readonly (readonly number[])[],
  weights?: readonly (readonly number[] | undefined)[],
): { history: BigInt64Array; historyMask: Float32Array } {
  const L = model.config.historyLength;
  const history = new BigInt64Array(histories.length * L);
  const historyMask = new Float32Array(histories.length * L);
  histories.forEach((h, b) => {
    const w = historyWeights(model.config, h.length, weights?.[b]);
    const skip = h.length - w.length;
    const pad = L - w.length;
    for (let j = 0; j < w.length; j++) {
      history[b * L + pad + j] = BigInt(h[skip + j]!);
      historyMask[b * L + pad + j] = w[j]!;
    }
  });
  return { history, historyMask };
}

/** x·W + b for one row (float64 accumulation). */
function dense(x: Float64Array, w: Float32Array, b: Float32Array, outDim: number, relu: boolean): Float64Array {
  const out = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) out[o] = b[o]!;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const row = i * outDim;
    for (let o = 0; o < outDim; o++) out[o]! += xi * w[row + o]!;
  }
  if (relu) for (let o = 0; o < outDim; o++) if (out[o]! < 0) out[o] = 0;
  return out;
}

function normalizeInto(z: Float64Array, out: Float32Array, offset: number): void {
  let sq = 0;
  for (const v of z) sq += v * v;
  const n = Math.max(Math.sqrt(sq), NORM_EPS);
  for (let i = 0; i < z.length; i++) out[offset + i] = z[i]! / n;
}

/** Weighted mean of history embeddings (the user tower's pooled input). */
export function poolHistory(
  model: TwoTowerModel,
  history: readonly number[],
  weights?: ArrayLike<number>,
): Float64Array {
  const d = model.config.dim;
  const w = historyWeights(model.config, history.length, weights);
  const skip = history.length - w.length;
  const pooled = new Float64Array(d);
  let total = 0;
  const table = model.weights.historyEmbedding;
  for (let j = 0; j < w.length; j++) {
    const wj = w[j]!;
    total += wj;
    const row = history[skip + j]! * d;
    for (let k = 0; k < d; k++) pooled[k]! += wj * table[row + k]!;
  }
  const denom = Math.max(total, POOL_EPS);
  for (let k = 0; k < d; k++) pooled[k]! /= denom;
  return pooled;
}

/**
 * User tower in TypeScript: histories are item rows oldest → newest (the newest
 * historyLength are used). Returns B × d L2-normalised vectors.
 */
export function userVectors(
  model: TwoTowerModel,
  histories: readonly (readonly number[])[],
  weights?: readonly (readonly number[] | undefined)[],
): Float32Array {
  const { dim: d, hidden } = model.config;
  const W = model.weights;
  const out = new Float32Array(histories.length * d);
  histories.forEach((h, b) => {
    const pooled = poolHistory(model, h, weights?.[b]);
    const a = dense(pooled, W.userW1, W.userB1, hidden, true);
    normalizeInto(dense(a, W.userW2, W.userB2, d, false), out, b * d);
  });
  return out;
}

/** Item tower in TypeScript for the given rows (default: every item). rows.length × d. */
export function itemVectors(model: TwoTowerModel, rows?: readonly number[]): Float32Array {
  const { dim: d, hidden } = model.config;
  const F = model.featureWidth;
  const W = model.weights;
  const list = rows ?? Array.from({ length: model.itemIds.length }, (_, i) => i);
  const out = new Float32Array(list.length * d);
  const x = new Float64Array(d + F);
  list.forEach((r, b) => {
    for (let k = 0; k < d; k++) x[k] = W.itemEmbedding[r * d + k]!;
    for (let f = 0; f < F; f++) x[d + f] = model.itemFeatures[r * F + f]!;
    const a = dense(x, W.itemW1, W.itemB1, hidden, true);
    normalizeInto(dense(a, W.itemW2, W.itemB2, d, false), out, b * d);
  });
  return out;
}

/**
 * Item tower from content alone (the id embedding replaced by zeros): the vector of an item the
 * model has no row for yet, as trained by idDropout. features: count × featureWidth. count × d.
 */
export function contentItemVectors(model: TwoTowerModel, features: Float32Array): Float32Array {
  const { dim: d, hidden } = model.config;
  const F = model.featureWidth;
  if (F === 0 || features.length % F !== 0)
    throw new RangeError(`features has ${features.length} values; the model takes ${F} per item`);
  const count = features.length / F;
  const W = model.weights;
  const out = new Float32Array(count * d);
  const x = new Float64Array(d + F);
  for (let b = 0; b < count; b++) {
    for (let f = 0; f < F; f++) x[d + f] = features[b * F + f]!;
    const a = dense(x, W.itemW1, W.itemB1, hidden, true);
    normalizeInto(dense(a, W.itemW2, W.itemB2, d, false), out, b * d);
  }
  return out;
}

// ONNX export of the towers and of the retrieval graph (opset OPSET, default domain).
//
// User tower   inputs : history       int64 [B, historyLength]  item rows, padding anywhere (mask 0)
//                       history_mask  float [B, historyLength]  pooling weight per slot (0 = padding)
//              output : user_vector   float [B, d]              L2-normalised
// Item tower   inputs : item_row      int64 [B]                 item rows of the model's vocabulary
//              (the vocabulary's content features are an initializer gathered by item_row)
//              output : item_vector   float [B, d]              L2-normalised
// Content tower input  : item_features float [B, F]               content features (F > 0 only)
//              output : item_vector   float [B, d]              the item tower with a zero id embedding
// Retrieval    inputs : history, history_mask (as the user tower)
//              outputs: scores        float [B, k]              inner products, best first
//                       indices       int64 [B, k]              rows of the item matrix
// encodeHistories(model, histories) builds history/history_mask exactly as the TS forward pools.
import type { TwoTowerModel } from "./model.js";
import { NORM_EPS, POOL_EPS } from "./model.js";
import { GraphBuilder, OPSET } from "./onnx-graph.js";
import { serializeModel } from "./serialize.js";
import { itemScores, type ItemScoresOptions } from "./item-scores.js";
import type { ItemMatrixFormat } from "./quantize.js";

export interface ExportMetadata {
  /** Registry version of the model, e.g. "2026-11-27T21:00:00Z-abc123". */
  modelVersion: string;
  /** Range of the training data, e.g. "2026-11-01T00:00:00Z/2026-11-27T00:00:00Z". */
  trainingDataRange?: string;
  /** Offline metrics of this version (e.g. recall@20), stored as JSON. */
  metrics?: Record<string, number>;
  /** Differential privacy of the training run (dp-train's PrivacyReport), stored as JSON; absent: none. */
  privacy?: object;
}

function metadataProps(
  model: TwoTowerModel,
  meta: ExportMetadata,
  kind: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    kind,
    model_version: meta.modelVersion,
    d: String(model.config.dim),
    history_length: String(model.config.historyLength),
    opset: String(OPSET),
    training_data_range: meta.trainingDataRange ?? "",
    metrics: JSON.stringify(meta.metrics ?? {}),
    privacy: JSON.stringify(meta.privacy ?? { mechanism: "none" }),
    ...extra,
  };
}

/**
 * relu(x·W1 + b1)·W2 + b2, L2-normalised; weights become initializers with the given prefix.
 * "content" is the item tower fed only the content features: with the id embedding all zeros,
 * x·W1 is the features times W1's feature rows, so only those rows are exported.
 */
function towerMlp(
  g: GraphBuilder,
  model: TwoTowerModel,
  x: string,
  tower: "user" | "item" | "content",
  output: string,
): string {
  const { dim: d, hidden: h } = model.config;
  const W = model.weights;
  const F = model.featureWidth;
  const first =
    tower === "user"
      ? { w: W.userW1, rows: d }
      : tower === "item"
        ? { w: W.itemW1, rows: d + F }
        : { w: W.itemW1.subarray(d * h), rows: F };
  const w1 = g.initializer(`${tower}_w1`, first.w, [first.rows, h]);
  const user = tower === "user";
  const b1 = g.initializer(`${tower}_b1`, user ? W.userB1 : W.itemB1, [h]);
  const w2 = g.initializer(`${tower}_w2`, user ? W.userW2 : W.itemW2, [h, d]);
  const b2 = g.initializer(`${tower}_b2`, user ? W.userB2 : W.itemB2, [d]);
  const z = g.op("Gemm", [g.op("Relu", [g.op("Gemm", [x, w1, b1])]), w2, b2]);
  const norm = g.op("Max", [
    g.op("Sqrt", [g.op("ReduceSumSquare", [z], { axes: [1], keepdims: 1 })]),
    g.constFloat(NORM_EPS),
  ]);
  return g.op("Div", [z, norm], {}, output);
}

/** The user tower nodes: weighted mean of history embeddings → MLP → normalise. */
function userTower(g: GraphBuilder, model: TwoTowerModel, output: string): string {
  const L = model.config.historyLength;
  const history = g.input("history", "int64", ["B", L]);
  const mask = g.input("history_mask", "float", ["B", L]);
  const table = g.initializer("history_embedding", model.weights.historyEmbedding, [
    model.itemIds.length,
    model.config.dim,
  ]);
  const embedded = g.op("Gather", [table, history], { axis: 0 }); // [B, L, d]
  const weighted = g.op("Mul", [embedded, g.op("Unsqueeze", [mask, g.constInts([2])])]);
  const summed = g.op("ReduceSum", [weighted, g.constInts([1])], { keepdims: 0 }); // [B, d]
  const total = g.op("Max", [g.op("ReduceSum", [mask, g.constInts([1])], { keepdims: 1 }), g.constFloat(POOL_EPS)]);
  return towerMlp(g, model, g.op("Div", [summed, total]), "user", output);
}

export function exportUserTowerOnnx(model: TwoTowerModel, meta: ExportMetadata): Uint8Array {
  const g = new GraphBuilder("user_tower");
  userTower(g, model, "user_vector");
  g.output("user_vector", "float", ["B", model.config.dim]);
  return g.encode(metadataProps(model, meta, "user_tower"), "recfleet two-tower: user tower");
}

export function exportItemTowerOnnx(model: TwoTowerModel, meta: ExportMetadata): Uint8Array {
  const { dim: d } = model.config;
  const F = model.featureWidth;
  const g = new GraphBuilder("item_tower");
  const rows = g.input("item_row", "int64", ["B"]);
  const table = g.initializer("item_embedding", model.weights.itemEmbedding, [model.itemIds.length, d]);
  let x = g.op("Gather", [table, rows], { axis: 0 });
  if (F > 0) {
    const features = g.initializer("item_features", model.itemFeatures, [model.itemIds.length, F]);
    x = g.op("Concat", [x, g.op("Gather", [features, rows], { axis: 0 })], { axis: 1 });
  }
  towerMlp(g, model, x, "item", "item_vector");
  g.output("item_vector", "float", ["B", d]);
  return g.encode(
    metadataProps(model, meta, "item_tower", { feature_width: String(F) }),
    "recfleet two-tower: item tower",
  );
}

/** The item tower of an item without an id row yet: content features alone (see contentItemVectors). */
export function exportContentTowerOnnx(model: TwoTowerModel, meta: ExportMetadata): Uint8Array {
  const F = model.featureWidth;
  if (F === 0) throw new RangeError("the model has no content features: there is no content tower to export");
  const g = new GraphBuilder("content_tower");
  towerMlp(g, model, g.input("item_features", "float", ["B", F]), "content", "item_vector");
  g.output("item_vector", "float", ["B", model.config.dim]);
  return g.encode(
    metadataProps(model, meta, "content_tower", { feature_width: String(F) }),
    "recfleet two-tower: item tower from content features alone",
  );
}

/**
 * User tower → scores against this version's item matrix → TopK, in one graph.
 * itemMatrix is numItems × d (row i = item vector of row i) and is stored as an initializer:
 * 4·d bytes per item, so 1M items at d=64 is 256 MB in the file, held again by onnxruntime
 * once loaded (and transiently a third time while encoding here); protobuf caps one file at
 * 2 GB. Beyond a few million items pass the matrix as an input or use ONNX external data.
 * Scores are not filtered: the caller drops already-seen items, so ask for k + history length.
 * k is clamped to numItems.
 */
export function exportRetrievalOnnx(
  model: TwoTowerModel,
  itemMatrix: Float32Array,
  numItems: number,
  k: number,
  meta: ExportMetadata,
): Uint8Array {
  const d = model.config.dim;
  if (!Number.isInteger(numItems) || numItems < 1 || itemMatrix.length !== numItems * d) {
    throw new RangeError(`itemMatrix has ${itemMatrix.length} values; expected numItems (${numItems}) × d (${d})`);
  }
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const topK = Math.min(k, numItems);
  const g = new GraphBuilder("retrieval");
  const user = userTower(g, model, "user_vector");
  const items = g.initializer("item_matrix", itemMatrix, [numItems, d]);
  const all = g.op("Gemm", [user, items], { transB: 1 }); // [B, numItems]
  g.node2("TopK", [all, g.constInts([topK])], ["scores", "indices"], { axis: 1, largest: 1, sorted: 1 });
  g.output("scores", "float", ["B", topK]);
  g.output("indices", "int64", ["B", topK]);
  return g.encode(
    metadataProps(model, meta, "retrieval", { k: String(topK), item_count: String(numItems) }),
    "recfleet two-tower: user tower → item matrix → TopK",
  );
}

/**
 * The scorer's graph: user tower → scores against the item matrix → TopK, in one run, with the
 * item matrix and k as INPUTS (the scorer holds the matrix once and passes it per run; CPU tensors
 * wrap the caller's buffer). Inputs: history, history_mask (as the user tower), the item matrix —
 * float32: item_matrix float [N, d]; int8: item_codes int8 [d, N] and item_scales float [N]
 * (quantize.ts, scored by onnxruntime's integer MatMul; item-scores.ts) — item_bias float
 * [B or 1, N] added to every score before TopK (−∞ masks an item out — catalog availability and
 * request filters — a finite value boosts it), k int64 [1].
 * Outputs: user_vector [B, d], scores [B, K] (biases included), indices int64 [B, K].
 */
export function exportServingOnnx(
  model: TwoTowerModel,
  meta: ExportMetadata,
  options: ItemScoresOptions = {},
): Uint8Array {
  const d = model.config.dim;
  const format = options.itemMatrix ?? "float32";
  const g = new GraphBuilder("serving");
  const user = userTower(g, model, "user_vector");
  const bias = g.input("item_bias", "float", ["BB", "N"]);
  const k = g.input("k", "int64", [1]);
  const all = itemScores(g, user, d, options, bias);
  g.node2("TopK", [all, k], ["scores", "indices"], { axis: 1, largest: 1, sorted: 1 });
  g.output("user_vector", "float", ["B", d]);
  g.output("scores", "float", ["B", "K"]);
  g.output("indices", "int64", ["B", "K"]);
  return g.encode(
    metadataProps(model, meta, "serving", { item_matrix: format }),
    `recfleet two-tower: user tower → ${format} item matrix input → TopK`,
  );
}

/** The serving graph's registry name for each item-matrix format (the trainer stores both). */
export const SERVING_GRAPHS: Record<ItemMatrixFormat, string> = {
  float32: "serving.onnx",
  int8: "serving-int8.onnx",
};

/**
 * Every artefact of a model version, by registry name: the trainer stores exactly these, and
 * tests and benchmarks that publish a model directly use the same set. `serving.json` is what a
 * scorer needs besides the serving graph (config, vocabulary, content feature width, and which
 * serving graph this version serves with: `itemMatrix` "float32" → serving.onnx, "int8" →
 * serving-int8.onnx; both are stored, so the choice is a setting of the version), so it never
 * loads the weights; `content_tower.onnx` (models with content features) gives new items vectors.
 */
export function exportModelArtefacts(
  model: TwoTowerModel,
  meta: ExportMetadata,
  options: { itemMatrix?: ItemMatrixFormat } = {},
): Record<string, Uint8Array> {
  const serving = {
    config: model.config,
    itemIds: model.itemIds,
    featureWidth: model.featureWidth,
    itemMatrix: options.itemMatrix ?? "float32",
  };
  return {
    "model.bin": serializeModel(model),
    "user_tower.onnx": exportUserTowerOnnx(model, meta),
    "item_tower.onnx": exportItemTowerOnnx(model, meta),
    [SERVING_GRAPHS.float32]: exportServingOnnx(model, meta),
    [SERVING_GRAPHS.int8]: exportServingOnnx(model, meta, { itemMatrix: "int8" }),
    "serving.json": new TextEncoder().encode(JSON.stringify(serving)),
    ...(model.featureWidth > 0 ? { "content_tower.onnx": exportContentTowerOnnx(model, meta) } : {}),
  };
}

/**
 * One model version ready to serve: its vocabulary, item matrix and one session of the serving
 * graph (user tower → MatMul with the item matrix as an input → TopK). The matrix is held once,
 * in JS memory, and handed to onnxruntime per run (CPU tensors wrap the buffer), so a hot swap
 * holds at most one extra copy of it — the incoming version's. A version whose serving.json says
 * `itemMatrix: "int8"` is served by serving-int8.onnx from a per-item int8 copy of the matrix
 * (quantized here at load, the float one dropped): about a quarter of the memory.
 */
import * as ort from "onnxruntime-node";
import {
  concatQuantized,
  createInferenceSession,
  dequantizeItem,
  encodeHistories,
  ITEM_MATRIX_FORMATS,
  quantizeItemMatrix,
  SERVING_GRAPHS,
  type ExecutionProviderName,
  type ItemMatrixFormat,
  type QuantizedItemMatrix,
  type TwoTowerModel,
} from "@recfleet/towers";
import { CorruptArtefactError, type ModelRegistry } from "@recfleet/store";
import type { Logger } from "@recfleet/runtime";

export interface RetrievalResult {
  /** B × d, L2-normalised. */
  userVectors: Float32Array;
  /** B × k scores and item rows, best first. */
  scores: Float32Array;
  rows: Int32Array;
  k: number;
}

/**
 * Added to every score before TopK: `values` is rows × itemIds.length (rows 1: the same for every
 * history; rows B: one per history). −∞ masks an item out, a finite value boosts it.
 */
export interface ItemBias {
  values: Float32Array;
  rows: number;
}

export interface ServingModel {
  readonly version: string;
  readonly itemIds: readonly string[];
  readonly rowOf: ReadonlyMap<string, number>;
  readonly dim: number;
  readonly historyLength: number;
  /** How the item matrix is held and scored: float32, or int8 per item (about a quarter of the memory). */
  readonly itemMatrixFormat: ItemMatrixFormat;
  /** Item `row`'s vector (d floats; int8 versions: dequantized). A view: do not write to it. */
  itemVector(row: number): Float32Array;
  /** Rows < this are the model's vocabulary (the user tower's history rows); rows above are catalog items served by content. */
  readonly vocabularySize: number;
  readonly provider: ExecutionProviderName;
  /** Width of the content features (0: the model has no content tower, new items wait for a retrain). */
  readonly featureWidth: number;
  /** histories: item rows < vocabularySize, oldest → newest. One session run for the whole batch. */
  retrieve(histories: number[][], k: number, bias?: ItemBias): Promise<RetrievalResult>;
  /** Content-only item vectors (count × featureWidth → count × d); only when featureWidth > 0. */
  contentVectors(features: Float32Array): Promise<Float32Array>;
  /** The same model serving more items: the vocabulary's rows, then `extra` (ids and vectors, content-only). */
  withExtraItems(extraIds: readonly string[], extraMatrix: Float32Array): ServingModel;
  release(): Promise<void>;
}

export async function loadServingModel(
  registry: ModelRegistry,
  version: string,
  options: { executionProviders: ExecutionProviderName[]; logger: Logger; intraOpNumThreads?: number },
): Promise<ServingModel> {
  // All throw typed errors on a corrupt artefact; the caller keeps serving the old version.
  const vocabulary = parseVocabulary(version, await registry.loadArtefact(version, "serving.json"));
  const format = vocabulary.itemMatrix ?? "float32";
  const graph = await registry.loadArtefact(version, SERVING_GRAPHS[format]);
  const floats = await registry.readItemMatrix(version);
  // int8: quantized once here; the float copy is garbage as soon as this returns.
  const itemMatrix = format === "int8" ? quantizeItemMatrix(floats, vocabulary.config.dim) : floats;
  // Models without content features (and those exported before content towers) have none.
  const content =
    (vocabulary.featureWidth ?? 0) > 0 ? await registry.loadArtefact(version, "content_tower.onnx") : undefined;
  return createServingModel(version, vocabulary, graph, itemMatrix, { ...options, contentTower: content });
}

/** What serving needs of a model besides its ONNX graph (exportModelArtefacts' serving.json). */
export type ServingVocabulary = Pick<TwoTowerModel, "config" | "itemIds"> & {
  featureWidth?: number;
  /** Which serving graph and matrix this version serves with (absent: float32, versions before int8). */
  itemMatrix?: ItemMatrixFormat;
};

function parseVocabulary(version: string, bytes: Buffer): ServingVocabulary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new CorruptArtefactError(version, "serving.json", "not JSON");
  }
  const v = parsed as Partial<ServingVocabulary> | null;
  if (
    !v ||
    typeof v.config?.dim !== "number" ||
    typeof v.config.historyLength !== "number" ||
    !Array.isArray(v.itemIds)
  ) {
    throw new CorruptArtefactError(version, "serving.json", "missing config or itemIds");
  }
  if (v.itemMatrix !== undefined && !ITEM_MATRIX_FORMATS.includes(v.itemMatrix))
    throw new CorruptArtefactError(
      version,
      "serving.json",
      `itemMatrix ${JSON.stringify(v.itemMatrix)} is none of ${ITEM_MATRIX_FORMATS.join(", ")}`,
    );
  return v as ServingVocabulary;
}

export async function createServingModel(
  version: string,
  model: ServingVocabulary,
  /** exportServingOnnx: user tower → MatMul over the item matrix input(s) → TopK, of the matrix's format. */
  servingGraph: Uint8Array,
  /** Float N × d, or quantizeItemMatrix's int8 form for a graph exported with { itemMatrix: "int8" }. */
  itemMatrix: Float32Array | QuantizedItemMatrix,
  options: {
    executionProviders: ExecutionProviderName[];
    logger: Logger;
    intraOpNumThreads?: number;
    /** exportContentTowerOnnx's graph, for models with content features. */
    contentTower?: Uint8Array;
  },
): Promise<ServingModel> {
  const dim = model.config.dim;
  const numItems = model.itemIds.length;
  const format: ItemMatrixFormat = itemMatrix instanceof Float32Array ? "float32" : "int8";
  const values = itemMatrix instanceof Float32Array ? itemMatrix.length : itemMatrix.codes.length;
  if (values !== numItems * dim)
    throw new RangeError(`item matrix of ${version} has ${values} values, expected ${numItems} × ${dim}`);
  const sessionOptions = {
    executionProviders: options.executionProviders,
    logger: options.logger,
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  const serving = await createInferenceSession(servingGraph, sessionOptions);
  const content = options.contentTower ? await createInferenceSession(options.contentTower, sessionOptions) : undefined;
  const featureWidth = content ? (model.featureWidth ?? 0) : 0;
  // Graphs exported before the item_bias input: the bias is applied to an over-fetched top list instead.
  const takesBias = serving.session.inputNames.includes("item_bias");
  const graphFormat: ItemMatrixFormat = serving.session.inputNames.includes("item_codes") ? "int8" : "float32";
  if (graphFormat !== format) {
    await serving.session.release();
    await content?.session.release();
    throw new RangeError(`model ${version}: a ${format} item matrix for a serving graph that takes ${graphFormat}`);
  }
  const { config } = model;
  const L = config.historyLength;

  const view = (itemIds: readonly string[], matrix: Float32Array | QuantizedItemMatrix): ServingModel => {
    const n = itemIds.length;
    const matrixFeeds: Record<string, ort.Tensor> =
      matrix instanceof Float32Array
        ? { item_matrix: new ort.Tensor("float32", matrix, [n, dim]) }
        : {
            item_codes: new ort.Tensor("int8", matrix.codes, [dim, n]),
            item_scales: new ort.Tensor("float32", matrix.scales, [n]),
          };
    const noBias = new ort.Tensor("float32", new Float32Array(n), [1, n]);
    const run = async (histories: number[][], kk: number, bias?: ItemBias) => {
      const { history, historyMask } = encodeHistories({ config }, histories);
      const B = histories.length;
      const feeds: Record<string, ort.Tensor> = {
        history: new ort.Tensor("int64", history, [B, L]),
        history_mask: new ort.Tensor("float32", historyMask, [B, L]),
        ...matrixFeeds,
        k: new ort.Tensor("int64", BigInt64Array.from([BigInt(kk)]), [1]),
      };
      if (takesBias) feeds["item_bias"] = bias ? new ort.Tensor("float32", bias.values, [bias.rows, n]) : noBias;
      const out = await serving.session.run(feeds);
      const idx = out.indices!.data as BigInt64Array;
      const rows = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) rows[i] = Number(idx[i]);
      return { userVectors: out.user_vector!.data as Float32Array, scores: out.scores!.data as Float32Array, rows };
    };
    return {
      version,
      itemIds,
      rowOf: itemIds === model.itemIds ? vocabularyRows : new Map(itemIds.map((id, row) => [id, row])),
      dim,
      historyLength: config.historyLength,
      itemMatrixFormat: format,
      itemVector:
        matrix instanceof Float32Array
          ? (row) => matrix.subarray(row * dim, (row + 1) * dim)
          : (row) => dequantizeItem(matrix, row),
      vocabularySize: numItems,
      provider: serving.provider,
      featureWidth,
      async retrieve(histories, k, bias) {
        const kk = Math.max(1, Math.min(k, n));
        if (takesBias || !bias) return { ...(await run(histories, kk, bias)), k: kk };
        return applyBiasAfterTopK(
          await run(histories, Math.min(n, kk * 4 + 100), undefined),
          histories.length,
          bias,
          n,
          kk,
        );
      },
      async contentVectors(features) {
        if (!content) throw new RangeError(`model ${version} has no content tower`);
        const count = features.length / featureWidth;
        const out = await content.session.run({
          item_features: new ort.Tensor("float32", features, [count, featureWidth]),
        });
        return out.item_vector!.data as Float32Array;
      },
      withExtraItems(extraIds, extraMatrix) {
        if (extraIds.length === 0) return base;
        const ids = [...model.itemIds, ...extraIds];
        if (!(itemMatrix instanceof Float32Array))
          return view(ids, concatQuantized(itemMatrix, quantizeItemMatrix(extraMatrix, dim)));
        const all = new Float32Array(itemMatrix.length + extraMatrix.length);
        all.set(itemMatrix);
        all.set(extraMatrix, itemMatrix.length);
        return view(ids, all);
      },
      async release() {
        await serving.session.release();
        await content?.session.release();
      },
    };
  };
  const vocabularyRows = new Map(model.itemIds.map((id, row) => [id, row]));
  const base = view(model.itemIds, itemMatrix);
  return base;
}

/** The fallback for serving graphs without item_bias: add the bias to an over-fetched top list and keep the best k. */
function applyBiasAfterTopK(
  top: { userVectors: Float32Array; scores: Float32Array; rows: Int32Array },
  B: number,
  bias: ItemBias,
  n: number,
  k: number,
): RetrievalResult {
  const fetched = top.rows.length / B;
  const scores = new Float32Array(B * k).fill(-Infinity);
  const rows = new Int32Array(B * k);
  for (let b = 0; b < B; b++) {
    const offset = bias.rows === 1 ? 0 : b * n;
    const list = Array.from({ length: fetched }, (_, j) => {
      const row = top.rows[b * fetched + j]!;
      return { row, score: top.scores[b * fetched + j]! + bias.values[offset + row]! };
    }).sort((x, y) => y.score - x.score);
    for (let j = 0; j < Math.min(k, list.length); j++) {
      scores[b * k + j] = list[j]!.score;
      rows[b * k + j] = list[j]!.row;
    }
  }
  return { userVectors: top.userVectors, scores, rows, k };
}

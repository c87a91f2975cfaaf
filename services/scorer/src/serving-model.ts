/**
 * One model version ready to serve: its vocabulary, item matrix and one session of the serving
 * graph (user tower → MatMul with the item matrix as an input → TopK). The matrix is held once,
 * in JS memory, and handed to onnxruntime per run (CPU tensors wrap the buffer), so a hot swap
 * holds at most one extra copy of it — the incoming version's.
 */
import * as ort from "onnxruntime-node";
import {
  createInferenceSession,
  encodeHistories,
  type ExecutionProviderName,
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

export interface ServingModel {
  readonly version: string;
  readonly itemIds: readonly string[];
  readonly rowOf: ReadonlyMap<string, number>;
  readonly dim: number;
  readonly historyLength: number;
  readonly itemMatrix: Float32Array;
  readonly provider: ExecutionProviderName;
  /** histories: item rows, oldest → newest. One session run for the whole batch. */
  retrieve(histories: number[][], k: number): Promise<RetrievalResult>;
  release(): Promise<void>;
}

export async function loadServingModel(
  registry: ModelRegistry,
  version: string,
  options: { executionProviders: ExecutionProviderName[]; logger: Logger; intraOpNumThreads?: number },
): Promise<ServingModel> {
  // All throw typed errors on a corrupt artefact; the caller keeps serving the old version.
  const vocabulary = parseVocabulary(version, await registry.loadArtefact(version, "serving.json"));
  const graph = await registry.loadArtefact(version, "serving.onnx");
  const itemMatrix = await registry.readItemMatrix(version);
  return createServingModel(version, vocabulary, graph, itemMatrix, options);
}

/** What serving needs of a model besides its ONNX graph (exportModelArtefacts' serving.json). */
export type ServingVocabulary = Pick<TwoTowerModel, "config" | "itemIds">;

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
  return v as ServingVocabulary;
}

export async function createServingModel(
  version: string,
  model: ServingVocabulary,
  /** exportServingOnnx: user tower → MatMul over the item_matrix input → TopK. */
  servingGraph: Uint8Array,
  itemMatrix: Float32Array,
  options: { executionProviders: ExecutionProviderName[]; logger: Logger; intraOpNumThreads?: number },
): Promise<ServingModel> {
  const dim = model.config.dim;
  const numItems = model.itemIds.length;
  if (itemMatrix.length !== numItems * dim)
    throw new RangeError(`item matrix of ${version} has ${itemMatrix.length} values, expected ${numItems} × ${dim}`);
  const sessionOptions = {
    executionProviders: options.executionProviders,
    logger: options.logger,
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  const serving = await createInferenceSession(servingGraph, sessionOptions);
  const rowOf = new Map(model.itemIds.map((id, row) => [id, row]));
  const itemTensor = new ort.Tensor("float32", itemMatrix, [numItems, dim]);
  // Keep only what serving needs: the weights (two N×d tables) are inside the sessions already.
  const { config, itemIds } = model;
  return {
    version,
    itemIds,
    rowOf,
    dim,
    historyLength: config.historyLength,
    itemMatrix,
    provider: serving.provider,
    async retrieve(histories, k) {
      const kk = Math.max(1, Math.min(k, numItems));
      const { history, historyMask } = encodeHistories({ config }, histories);
      const B = histories.length;
      const L = config.historyLength;
      const kTensor = new ort.Tensor("int64", BigInt64Array.from([BigInt(kk)]), [1]);
      const historyTensors = {
        history: new ort.Tensor("int64", history, [B, L]),
        history_mask: new ort.Tensor("float32", historyMask, [B, L]),
      };
      const out = await serving.session.run({ ...historyTensors, item_matrix: itemTensor, k: kTensor });
      const userVectors = out.user_vector!.data as Float32Array;
      const idx = out.indices!.data as BigInt64Array;
      const rows = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) rows[i] = Number(idx[i]);
      return { userVectors, scores: out.scores!.data as Float32Array, rows, k: kk };
    },
    async release() {
      await serving.session.release();
    },
  };
}

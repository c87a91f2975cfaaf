/**
 * One model version ready to serve: its vocabulary, item matrix, a user-tower session and a
 * MatMul+TopK session that takes the item matrix as an input. The matrix is held once, in JS
 * memory, and handed to onnxruntime per run (CPU tensors wrap the buffer), so a hot swap holds
 * at most one extra copy of it — the incoming version's.
 */
import * as ort from "onnxruntime-node";
import { createInferenceSession, deserializeModel, encodeHistories, exportTopKOnnx, type ExecutionProviderName, type TwoTowerModel } from "@recfleet/towers";
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
  const model = await loadVocabulary(registry, version);
  const meta = await registry.getMeta(version);
  // One graph (user tower → TopK) when the trainer exported it; else the user tower and a TopK graph.
  const graphs: ServingGraphs = meta?.checksums["serving.onnx"] ? { serving: await registry.loadArtefact(version, "serving.onnx") } : { userTower: await registry.loadArtefact(version, "user_tower.onnx") };
  const itemMatrix = await registry.readItemMatrix(version);
  return createServingModel(version, model, graphs, itemMatrix, options);
}

/** The combined serving graph (exportServingOnnx), or a user tower to pair with exportTopKOnnx. */
export type ServingGraphs = { serving: Uint8Array } | { userTower: Uint8Array };

/** What serving needs of a model besides its ONNX graphs. */
export type ServingVocabulary = Pick<TwoTowerModel, "config" | "itemIds">;

/** serving.json when the version has one (small), else the full model.bin (older versions). */
async function loadVocabulary(registry: ModelRegistry, version: string): Promise<ServingVocabulary> {
  const meta = await registry.getMeta(version);
  if (!meta?.checksums["serving.json"]) return deserializeModel(await registry.loadArtefact(version, "model.bin"));
  const bytes = await registry.loadArtefact(version, "serving.json");
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new CorruptArtefactError(version, "serving.json", "not JSON");
  }
  const v = parsed as Partial<ServingVocabulary> | null;
  if (!v || typeof v.config?.dim !== "number" || typeof v.config.historyLength !== "number" || !Array.isArray(v.itemIds)) {
    throw new CorruptArtefactError(version, "serving.json", "missing config or itemIds");
  }
  return v as ServingVocabulary;
}

export async function createServingModel(
  version: string,
  model: ServingVocabulary,
  graphs: ServingGraphs,
  itemMatrix: Float32Array,
  options: { executionProviders: ExecutionProviderName[]; logger: Logger; intraOpNumThreads?: number },
): Promise<ServingModel> {
  const dim = model.config.dim;
  const numItems = model.itemIds.length;
  if (itemMatrix.length !== numItems * dim) throw new RangeError(`item matrix of ${version} has ${itemMatrix.length} values, expected ${numItems} × ${dim}`);
  const sessionOptions = { executionProviders: options.executionProviders, logger: options.logger, ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}) };
  const single = "serving" in graphs ? await createInferenceSession(graphs.serving, sessionOptions) : undefined;
  const userTower = "userTower" in graphs ? await createInferenceSession(graphs.userTower, sessionOptions) : undefined;
  const topK = single ? undefined : await createInferenceSession(exportTopKOnnx(dim), sessionOptions);
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
    provider: (single ?? topK)!.provider,
    async retrieve(histories, k) {
      const kk = Math.max(1, Math.min(k, numItems));
      const { history, historyMask } = encodeHistories({ config }, histories);
      const B = histories.length;
      const L = config.historyLength;
      const kTensor = new ort.Tensor("int64", BigInt64Array.from([BigInt(kk)]), [1]);
      const historyTensors = { history: new ort.Tensor("int64", history, [B, L]), history_mask: new ort.Tensor("float32", historyMask, [B, L]) };
      let userVectors: Float32Array;
      let out: ort.InferenceSession.OnnxValueMapType;
      if (single) {
        out = await single.session.run({ ...historyTensors, item_matrix: itemTensor, k: kTensor });
        userVectors = out.user_vector!.data as Float32Array;
      } else {
        const u = await userTower!.session.run(historyTensors);
        userVectors = u.user_vector!.data as Float32Array;
        out = await topK!.session.run({ user_vector: new ort.Tensor("float32", userVectors, [B, dim]), item_matrix: itemTensor, k: kTensor });
      }
      const idx = out.indices!.data as BigInt64Array;
      const rows = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) rows[i] = Number(idx[i]);
      return { userVectors, scores: out.scores!.data as Float32Array, rows, k: kk };
    },
    async release() {
      for (const s of [single, userTower, topK]) await s?.session.release();
    },
  };
}

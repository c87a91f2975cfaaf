export { defaultTwoTowerConfig, referenceTwoTowerConfig, resolveConfig, type TwoTowerConfig } from "./config.js";
export { ModelFormatError, TwoTowerConfigError, TrainingAbortedError } from "./errors.js";
export {
  userVectors,
  itemVectors,
  contentItemVectors,
  encodeHistories,
  type TwoTowerModel,
  type TowerWeights,
} from "./model.js";
export { encodeItemContent, hasContent, type ItemContent } from "./content.js";
export {
  trainTwoTower,
  type TrainingData,
  type TrainingExample,
  type TrainingProgress,
  type TrainOptions,
} from "./train.js";
export { serializeModel, deserializeModel } from "./serialize.js";
export {
  exportUserTowerOnnx,
  exportItemTowerOnnx,
  exportRetrievalOnnx,
  exportServingOnnx,
  exportContentTowerOnnx,
  exportModelArtefacts,
  SERVING_GRAPHS,
  type ExportMetadata,
} from "./export.js";
export {
  quantizeItemMatrix,
  INT8_CODE_MAX,
  dequantizeItem,
  concatQuantized,
  ITEM_MATRIX_FORMATS,
  type ItemMatrixFormat,
  type QuantizedItemMatrix,
} from "./quantize.js";
export type { Int8Kernel, ItemScoresOptions } from "./item-scores.js";
export { createInt8ItemScorer, type Int8ItemScorer } from "./int8-scorer.js";
export { OPSET } from "./onnx-graph.js";
export {
  createInferenceSession,
  cudaProviderLibraryPath,
  cudaMissingReason,
  InferenceSessionError,
  type CreatedSession,
  type ExecutionProviderName,
  type InferenceSessionOptions,
  type SessionLogger,
} from "./session.js";
export { exportTopKOnnx } from "./topk.js";
export {
  trainTwoTowerPrivately,
  planDpSgd,
  DEFAULT_DP_SGD,
  type DpSgdOptions,
  type PrivacyReport,
} from "./dp-train.js";
export {
  dpSgdEpsilon,
  noiseMultiplierFor,
  computeRdp,
  epsilonFromRdp,
  DEFAULT_RDP_ORDERS,
  type DpSgdAccounting,
} from "./dp-accountant.js";

export { scorerConfigSchema, type ScorerConfig } from "./config";
export { startScorerWorker, decodeRecRequest, type ScorerWorker } from "./worker";
export {
  scoreRequests,
  createScorerHandler,
  recIdFor,
  type ScoringDeps,
  type ScoringStore,
  type ScoredBatch,
  type ScoredRecommendation,
  type ScorerStore,
  type ScorerHandlerDeps,
  type ScorerCounters,
} from "./handler";
export { main } from "./main";
export { ModelHolder } from "./model-holder";
export { loadServingModel, createServingModel, type ServingModel, type RetrievalResult } from "./serving-model";

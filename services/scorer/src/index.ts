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
  type ScoringCatalog,
} from "./handler";
export { CatalogView } from "./catalog-view";
export { ItemSpace, type ServedItems } from "./item-space";
export type { OperatorRules } from "./catalog-rules";
export { main } from "./main";
export { ModelHolder } from "./model-holder";
export { loadServingModel, createServingModel, type ServingModel, type RetrievalResult } from "./serving-model";

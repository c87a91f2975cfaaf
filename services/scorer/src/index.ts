export { scorerConfigSchema } from "./config";
export { startScorer, decodeRecRequest, type ScorerConfig, type RunningScorer } from "./worker";
export { scoreRequests, recIdFor, type ScoringDeps, type ScoringStore, type ScoredBatch } from "./handler";
export { ModelHolder } from "./model-holder";
export { loadServingModel, createServingModel, type ServingModel, type RetrievalResult } from "./serving-model";

export { trainerConfigSchema, dpOptions, type TrainerConfig } from "./config";
export { buildDataset, type WindowEvent, type EvalCase, type Dataset, type DatasetOptions } from "./examples";
export {
  evaluateModel,
  decidePromotion,
  type EvalMetrics,
  type EvalRole,
  type EvaluateFn,
  type PromotionDecision,
  type PromotionCode,
  type PromotionPolicy,
} from "./evaluate-candidate";
export { queueNames, type QueueNames } from "./keys";
export {
  JOB_NAMES,
  promoteJobId,
  embedJobId,
  type TrainJobData,
  type EmbedJobData,
  type EmbedJobResult,
  type PromoteJobData,
  type PromoteJobResult,
} from "./jobs";
export { createBullConnection, type BullConnection } from "./bull";
export {
  trainOnce,
  newVersionId,
  historyLengthFor,
  type TrainOutcome,
  type TrainRunDeps,
  type TrainRunConfig,
  type WarmStart,
  type WindowStats,
  type TrainOptions,
} from "./train-run";
export {
  createKafkaTrainingWindow,
  capRange,
  rangeSize,
  type TrainingWindowSource,
  type WindowRange,
  type WindowRead,
} from "./window";
export { startTrainer, type Trainer, type TrainerDeps } from "./trainer";
export { runTrainCli, runModelCli, trainerCommands } from "./cli";
export { main } from "./main";

export { loadMovieLens, loadMl100k, loadMlDat, loadMlCsv, DatasetFormatError, type Dataset } from "./datasets.js";
export { splitChrono, splitValidation, itemPopularity, type ChronoSplit } from "./split.js";
export { recallAtK, ndcgAtK, hitAtK, reciprocalRank, catalogCoverage, exposureGini, novelty } from "./metrics.js";
export { evaluateRanking, topK, type Scorer, type RankingMetrics, type EvaluateOptions } from "./evaluate.js";
export { mostPop, itemKnn } from "./baselines.js";
export {
  historyScorer,
  sequenceExamples,
  trainOnSplit,
  twoTowerScorer,
  type SequenceExampleOptions,
} from "./two-tower.js";
export {
  tuneTwoTower,
  formatTuneTable,
  runTuneCli,
  TUNE_AXES,
  type TuneSettings,
  type TuneOptions,
  type TuneResult,
  type TuneRow,
} from "./tune.js";
export { runEvalCli, defaultMl100kPath, evaluationCommands, type CliIo } from "./cli.js";
export {
  evaluateColdStart,
  coldStartScorer,
  validationSplit,
  runColdStart,
  bucketOf,
  type ColdStartRecall,
  type ColdStartReport,
} from "./cold-start.js";

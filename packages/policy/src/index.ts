// @recfleet/policy — exploration policies with propensities, bandit state, off-policy
// estimators, reward attribution and the in-process bandit simulator. Pure TypeScript, no I/O.
export type {
  Candidate,
  ItemStats,
  LinearBanditState,
  Policy,
  PolicyContext,
  PolicyDecision,
  SlateItem,
  SlotDistribution,
} from "./types.js";
export { checkBound, POLICY_BOUNDS, type BoundedParameter, type ParameterBound } from "./bounds.js";
export { CandidateError, LinearStateError, LoggedRecordError, PolicyConfigError, PolicyError } from "./errors.js";
export { createRng, hashString, mixSeeds, type Rng } from "@recfleet/numeric";
export { createNormalSampler, sampleBeta, sampleGamma, sampleNormal, sigmoid } from "./random.js";
export {
  SlatePolicy,
  withColdStartBoost,
  withExplorationBudget,
  withMmr,
  type ColdStartOptions,
  type MmrOptions,
  type SlateOptions,
  type SlotRule,
  type SlotSampler,
} from "./slate.js";
export {
  epsilonGreedyPolicy,
  epsilonGreedyRule,
  greedyPolicy,
  monteCarloSampler,
  softmaxPolicy,
  softmaxRule,
  thompsonPolicy,
  thompsonRule,
  ucbPolicy,
  ucbRule,
  type CtrPriorOptions,
  type EpsilonGreedyOptions,
  type ThompsonOptions,
  type UcbOptions,
} from "./policies.js";
export {
  createLinearState,
  deserializeLinearState,
  linearContext,
  linearMean,
  linearStateFromSums,
  linearTarget,
  linearVariance,
  linTsPolicy,
  linTsRule,
  linUcbPolicy,
  linUcbRule,
  readsLinearState,
  serializeLinearState,
  updateLinear,
  type LinearPolicyOptions,
  type LinTsOptions,
} from "./linear.js";
export { LinearImpressions, linearStateFromStoredSums, type LinearSums } from "./linear-impressions.js";
export {
  allowPolicies,
  assignPolicy,
  createPolicy,
  parsePolicySpec,
  parseTrafficSplit,
  type AllowedPolicies,
  type PolicyLookup,
  type PolicySpec,
  type TrafficShare,
} from "./registry.js";
export {
  attributeRewards,
  type AttributedSlot,
  type AttributionCounts,
  type AttributionOptions,
  type AttributionResult,
  type ClickEvent,
  type RecommendationRef,
} from "./attribution.js";
export {
  buildLoggedRecords,
  defaultContext,
  estimateOffPolicy,
  fitRankItemRewardModel,
  offPolicyTerms,
  type LoggedContext,
  type LoggedRecommendation,
  type LoggedRecord,
  type LoggedSlot,
  type OffPolicyEstimate,
  type OffPolicyOptions,
  type OffPolicyResult,
  type RecordTerms,
  type RewardModel,
} from "./ope.js";
export {
  confidenceSequence,
  estimateSlateOffPolicy,
  minNormSolve,
  SLATE_ESTIMATORS,
  type ConfidenceBound,
  type ConfidenceSequenceOptions,
  type SlateEstimate,
  type SlateEstimatorName,
  type SlateOffPolicyOptions,
  type SlateOffPolicyResult,
} from "./slate-ope.js";
export {
  estimateShadow,
  estimateShadowDr,
  fitScoreRankRewardModel,
  promotionDecision,
  type PromotionDecision,
  type ScoreRankRewardModel,
  type ShadowDrEstimate,
  type ShadowDrOptions,
  type ShadowEstimate,
} from "./shadow.js";
export {
  advanceWorld,
  clickProbability,
  createWorld,
  examination,
  nextUser,
  oracleSlate,
  resolveWorldConfig,
  trueLogit,
  type World,
  type WorldConfig,
  type WorldItem,
} from "./sim-world.js";
export {
  bucketRates,
  catalogCoverage,
  cumulativeRegret,
  cumulativeSum,
  exposureGini,
  gini,
  meanAndSpread,
  toCsv,
} from "./sim-metrics.js";
export {
  modelScorer,
  simulateInProcess,
  type ModelScorerOptions,
  type PolicyRun,
  type Scorer,
  type ScorerView,
  type SimulationOptions,
} from "./sim-harness.js";
export { toDecisionLog, fromDecisionLog, encodeVector, decodeVector, type DecisionLogRecord } from "./decision-log.js";

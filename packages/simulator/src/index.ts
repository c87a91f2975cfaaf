export {
  liftWithInterval,
  runFleetSimulation,
  type FleetSimulationOptions,
  type FleetSimulationReport,
  type PolicyReport,
} from "./fleet-sim";
export { listenForAnswers, type AnswerListener } from "./answers";
export { providerOf, ProviderTally, type ProviderFairness, type ProviderShare } from "./providers";
export {
  generateClickstream,
  userSequences,
  ClickstreamConfigError,
  GENRES,
  type SyntheticClickstream,
  type SyntheticClickstreamConfig,
} from "./clickstream";

export { featuresConfigSchema, DEFAULT_EVENT_WEIGHTS, type FeaturesConfig } from "./config";
export {
  featurePolicy,
  toFeatureEvent,
  refreshRequest,
  createFeaturesHandler,
  type FeaturePolicy,
  type FeaturesHandlerDeps,
  type FeaturesCounters,
} from "./handler";
export { startFeaturesWorker, type FeaturesWorker } from "./worker";
export { runEraseUserCli, eraseUser, featuresCommands } from "./erase";
export { rebuildFeatures, runRebuildFeaturesCli, parseFromTime, type RebuildReport } from "./rebuild";
export { createEventsHandler, decodeEventValue } from "./events-handler";
export { main } from "./main";

export { main } from "./main";
export {
  startWorker,
  waitReady,
  scrapeMetric,
  stopWorkers,
  startLocalFleet,
  retrainAndServe,
  simulateOnFleet,
  DEMO_FLEET_ENV,
  type RunningWorker,
  type WorkerName,
  type LocalFleet,
} from "./fleet";
export { allowPoliciesEnv } from "./fleet";
export {
  attributedRecords,
  offPolicyReport,
  readFleetLogs,
  readFleetLogsWithKeys,
  onPolicyCtr,
  type OffPolicyReport,
  type Logs,
} from "./ope";
export { shadowReport, promotionFor, runPolicyCli, type ShadowRow } from "./shadow";

export { main, registerCommand } from "./main";
export { startWorker, waitReady, scrapeMetric, stopWorkers, startLocalFleet, allowPoliciesEnv, retrainAndServe, simulateOnFleet, DEMO_FLEET_ENV, type RunningWorker, type WorkerName, type LocalFleet } from "./fleet";
export { offPolicyReport, readFleetLogs, onPolicyCtr, type OffPolicyReport, type Logs } from "./ope";

export { WORKER_DEPLOYMENTS, DEFAULT_DEPLOY_OPTIONS, type DeployOptions, type DeployedWorker } from "./fleet";
export { fleetManifests, type Manifest } from "./kubernetes";
export { ALERT_RULES, DASHBOARD_PANELS, grafanaDashboard, prometheusRule, monitoredMetricNames } from "./monitoring";
export { renderArtefacts, writeArtefacts } from "./generate";

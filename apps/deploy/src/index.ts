export {
  DEPLOYED_WORKERS,
  WORKER_DEPLOYMENTS,
  DEFAULT_DEPLOY_OPTIONS,
  kafkaGrants,
  type DeployOptions,
  type DeployedWorker,
  type KafkaGrants,
} from "./fleet";
export { fleetManifests, KAFKA_PRINCIPALS, type Manifest } from "./kubernetes";
export { ALERT_RULES, DASHBOARD_PANELS, grafanaDashboard, prometheusRule, monitoredMetricNames } from "./monitoring";
export { renderArtefacts, writeArtefacts } from "./generate";

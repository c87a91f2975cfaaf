export { gatewayConfigSchema, gatewayPolicies, type GatewayConfig } from "./config";
export { startGatewayWorker, type GatewayWorker } from "./worker";
export { createGatewayHandler, validateEventBatch, recRequestFromQuery, type GatewayDeps } from "./app";
export { buildOpenApi } from "./openapi";
export { createPendingReplies, type PendingReplies } from "./replies";
export { createFleetConsole, parsePrometheus, type FleetConsole, type PolicyStats } from "./console";
export { gatewayCommands, runKeysCli } from "./cli";
export { main } from "./main";

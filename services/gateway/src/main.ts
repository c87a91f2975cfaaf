/** Gateway process: wiring only (the HTTP logic is in app.ts). */
import { isEntryModule, runWorker } from "@recfleet/runtime";
import { gatewayConfigSchema } from "./config";
import { startGatewayWorker } from "./worker";

// worker.stop(): stop accepting → in-flight requests finish → reply reader → lease → producer → Redis.
export const main = (env: NodeJS.ProcessEnv = process.env) =>
  runWorker("gateway", gatewayConfigSchema, (ctx) => startGatewayWorker(ctx.config, ctx), env);

if (isEntryModule(import.meta.url)) await main();

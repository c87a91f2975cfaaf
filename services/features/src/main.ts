/** Features worker process: wiring only (the logic is in handler.ts and the store's Lua). */
import { isEntryModule, runWorker } from "@recfleet/runtime";
import { featuresConfigSchema } from "./config";
import { startFeaturesWorker } from "./worker";

export const main = (env: NodeJS.ProcessEnv = process.env) =>
  runWorker("features", featuresConfigSchema, (ctx) => startFeaturesWorker(ctx.config, ctx), env);

if (isEntryModule(import.meta.url)) await main();

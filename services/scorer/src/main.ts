/** Scorer worker process: wiring only (the logic is in handler.ts). */
import { isEntryModule, runWorker } from "@recfleet/runtime";
import { scorerConfigSchema } from "./config";
import { startScorerWorker } from "./worker";

// worker.stop(): stop consumers → flush impressions → close the producer → release models → quit Redis.
export const main = (env: NodeJS.ProcessEnv = process.env) =>
  runWorker("scorer", scorerConfigSchema, (ctx) => startScorerWorker(ctx.config, ctx), env);

if (isEntryModule(import.meta.url)) await main();

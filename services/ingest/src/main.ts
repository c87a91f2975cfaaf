/** Ingest worker process: wiring only (the logic is in handler.ts). */
import { isEntryModule, runWorker } from "@recfleet/runtime";
import { ingestConfigSchema } from "./config";
import { startIngestWorker } from "./worker";

export const main = (env: NodeJS.ProcessEnv = process.env) =>
  runWorker("ingest", ingestConfigSchema, (ctx) => startIngestWorker(ctx.config, ctx), env);

if (isEntryModule(import.meta.url)) await main();

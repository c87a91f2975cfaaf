/** Trainer worker process: wiring only (the logic is in train-run.ts, embed.ts and the pure modules). */
import { isEntryModule, runWorker } from "@recfleet/runtime";
import { trainerConfigSchema } from "./config";
import { startTrainer } from "./trainer";

// trainer.stop() aborts a training run in progress → stops consuming → closes the BullMQ workers
// (they finish their active jobs) → closes Kafka and Redis, so a long run cannot outlast
// SHUTDOWN_DEADLINE.
export const main = (env: NodeJS.ProcessEnv = process.env) =>
  runWorker("trainer", trainerConfigSchema, (ctx) => startTrainer(ctx.config, ctx), env);

if (isEntryModule(import.meta.url)) await main();

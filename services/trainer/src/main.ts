/** Trainer worker process: wiring only (the logic is in train-run.ts, embed.ts and the pure modules). */
import { pathToFileURL } from "node:url";
import { bootWorker } from "@recfleet/runtime";
import { trainerConfigSchema } from "./config";
import { startTrainer } from "./trainer";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const ctx = await bootWorker("trainer", trainerConfigSchema, env);
  const trainer = await startTrainer(ctx.config, ctx);
  // One step: abort a training run in progress → stop consuming → close the BullMQ workers (they finish
  // their active jobs) → close Kafka and Redis; so a long run cannot outlast SHUTDOWN_DEADLINE.
  ctx.shutdown.onShutdown("trainer", () => trainer.stop());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

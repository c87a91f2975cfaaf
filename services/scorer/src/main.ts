/** Scorer worker process: wiring only (the logic is in handler.ts and packages/policy). */
import { pathToFileURL } from "node:url";
import { bootWorker, ConfigError } from "@recfleet/runtime";
import { scorerConfigSchema } from "./config";
import { startScorerWorker } from "./worker";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const ctx = await bootWorker("scorer", scorerConfigSchema, env);
  let worker: Awaited<ReturnType<typeof startScorerWorker>>;
  try {
    worker = await startScorerWorker(ctx.config, ctx);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    ctx.logger.error("invalid configuration", { error: err.message });
    process.exit(2);
  }
  // Steps run in reverse order of registration: stop consumers → flush impressions → close
  // producer → release models → quit Redis.
  ctx.shutdown.onShutdown("redis", async () => void (await worker.redis.quit()));
  ctx.shutdown.onShutdown("models", () => worker.holder.close());
  ctx.shutdown.onShutdown("producer", () => worker.producer.close());
  ctx.shutdown.onShutdown("impressions", () => worker.flushImpressions());
  ctx.shutdown.onShutdown("consumers", () => worker.stopConsuming());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

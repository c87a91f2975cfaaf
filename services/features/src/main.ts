/** Features worker process: wiring only (the logic is in handler.ts and the store's Lua). */
import { pathToFileURL } from "node:url";
import { bootWorker } from "@recfleet/runtime";
import { featuresConfigSchema } from "./config";
import { startFeaturesWorker } from "./worker";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const ctx = await bootWorker("features", featuresConfigSchema, env);
  const worker = await startFeaturesWorker(ctx.config, ctx);
  // Steps run in reverse order of registration: stop consumer → close producer → quit Redis.
  ctx.shutdown.onShutdown("redis", async () => void (await worker.redis.quit()));
  ctx.shutdown.onShutdown("producer", () => worker.producer.close());
  ctx.shutdown.onShutdown("consumer", () => worker.loop.stop());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

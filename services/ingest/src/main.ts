/** Ingest worker process: wiring only (the logic is in handler.ts). */
import { pathToFileURL } from "node:url";
import { bootWorker, ConfigError } from "@recfleet/runtime";
import { ingestConfigSchema } from "./config";
import { startIngestWorker } from "./worker";

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const ctx = await bootWorker("ingest", ingestConfigSchema, env);
  let worker: Awaited<ReturnType<typeof startIngestWorker>>;
  try {
    worker = await startIngestWorker(ctx.config, ctx);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    ctx.logger.error("invalid configuration", { error: err.message });
    process.exit(2);
  }
  // Steps run in reverse order of registration: stop consumer → close producer → quit Redis.
  ctx.shutdown.onShutdown("redis", async () => void (await worker.redis.quit()));
  ctx.shutdown.onShutdown("producer", () => worker.producer.close());
  ctx.shutdown.onShutdown("consumer", () => worker.loop.stop());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

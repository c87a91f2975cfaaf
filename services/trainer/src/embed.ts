/**
 * Job processors any trainer process runs: embed-items (one shard of item vectors through the
 * version's item-tower ONNX session) and promote (the fan-out's parent: atomic flip, announce, GC).
 */
import * as ort from "onnxruntime-node";
import { UnrecoverableError, type Job } from "bullmq";
import { errorMessage, RecfleetError, shouldRetry } from "@recfleet/runtime";
import { createInferenceSession, type CreatedSession } from "@recfleet/towers";
import type { TrainerContext } from "./context";
import type { EmbedJobData, EmbedJobResult, PromoteJobData, PromoteJobResult } from "./jobs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps the newest two versions' item-tower sessions of this process. */
export function createItemTowerSessions(ctx: TrainerContext) {
  const sessions = new Map<string, Promise<CreatedSession>>();
  return {
    get(version: string): Promise<CreatedSession> {
      let s = sessions.get(version);
      if (!s) {
        s = ctx.models.loadArtefact(version, "item_tower.onnx").then((bytes) =>
          createInferenceSession(bytes, { executionProviders: ctx.config.executionProviders, logger: { warn: (m, c) => ctx.logger.warn(m, c ?? {}) } }),
        );
        sessions.set(version, s);
        s.catch(() => sessions.delete(version));
        while (sessions.size > 2) {
          const [oldest, old] = sessions.entries().next().value as [string, Promise<CreatedSession>];
          sessions.delete(oldest);
          void old.then((o) => o.session.release()).catch(() => undefined);
        }
      }
      return s;
    },
    async close() {
      for (const s of sessions.values()) await s.then((o) => o.session.release()).catch(() => undefined);
      sessions.clear();
    },
  };
}
export type ItemTowerSessions = ReturnType<typeof createItemTowerSessions>;

/** embed-items: idempotent (the same shard twice writes the same bytes). Non-retriable errors skip BullMQ's retries. */
export async function processEmbedJob(ctx: TrainerContext, sessions: ItemTowerSessions, job: Job<EmbedJobData>): Promise<EmbedJobResult> {
  const { version, shard, fromRow, toRow } = job.data;
  const started = Date.now();
  try {
    await ctx.redis.hset(ctx.keys.embedStarted(version), String(shard), ctx.workerId);
    const { session, provider } = await sessions.get(version);
    const rows = toRow - fromRow;
    const ids = new BigInt64Array(rows);
    for (let i = 0; i < rows; i++) ids[i] = BigInt(fromRow + i);
    const out = await session.run({ item_row: new ort.Tensor("int64", ids, [rows]) });
    const vectors = out["item_vector"]?.data;
    if (!(vectors instanceof Float32Array) || vectors.length % rows !== 0) throw new RecfleetError(`item tower of ${version} returned no float32 item_vector of ${rows} rows`, { retriable: false });
    const wait = started + ctx.config.embedThrottleMs - Date.now();
    if (wait > 0) await sleep(wait);
    await ctx.models.writeItemShard(version, shard, vectors);
    await ctx.redis.hincrby(ctx.keys.embedBy(version), ctx.workerId, 1);
    ctx.metrics.embedJobs.inc({ outcome: "completed" });
    return { version, shard, rows, workerId: ctx.workerId, provider };
  } catch (err) {
    ctx.metrics.embedJobs.inc({ outcome: "failed" });
    ctx.logger.warn("embed-items job failed", { version, shard, attempt: job.attemptsMade + 1, error: errorMessage(err) });
    if (!shouldRetry(err)) throw new UnrecoverableError(errorMessage(err));
    throw err;
  }
}

/** promote: runs once every shard job completed. Flips atomically, announces, then collects garbage. */
export async function processPromoteJob(ctx: TrainerContext, job: Job<PromoteJobData>): Promise<PromoteJobResult> {
  const { version } = job.data;
  const meta = await ctx.models.getMeta(version);
  if (!meta) throw new UnrecoverableError(`version ${version} is not in the registry (garbage-collected? MODEL_GC_GRACE=${ctx.config.gcGraceMs}ms)`);
  const result = await ctx.models.promote(version);
  if (!result.promoted) throw new RecfleetError(`version ${version}: only ${result.shardsDone} of ${meta.shards} shards embedded`);
  const flipped = result.previous !== version;
  if (flipped) ctx.metrics.promotions.inc();
  // Announced at least once: a promote job retried after a crash announces again; consumers key on version.
  await ctx.announce?.({ version, createdAt: meta.createdAt, itemCount: meta.itemCount, dim: meta.dim, metrics: meta.metrics });
  const garbageCollected = await ctx.models.collectGarbage(ctx.config.gcGraceMs);
  const embeddedBy: Record<string, number> = {};
  for (const [worker, n] of Object.entries(await ctx.redis.hgetall(ctx.keys.embedBy(version)))) embeddedBy[worker] = Number(n);
  ctx.logger.info("model version promoted", { version, previous: result.previous, flipped, itemCount: meta.itemCount, embeddedBy, garbageCollected });
  return { version, flipped, ...(result.previous && flipped ? { previous: result.previous } : {}), shards: meta.shards, embeddedBy, garbageCollected };
}

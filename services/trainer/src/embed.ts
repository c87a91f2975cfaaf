/**
 * Job processors any trainer process runs: embed-items (one shard of item vectors through the
 * version's item-tower ONNX session) and promote (the fan-out's parent: atomic flip, announce, GC).
 */
import { setTimeout as sleep } from "node:timers/promises";
import * as ort from "onnxruntime-node";
import { UnrecoverableError, type Job } from "bullmq";
import { errorMessage, RecfleetError, type Logger } from "@recfleet/runtime";
import type { ModelVersionAnnouncement } from "@recfleet/contracts";
import type { ModelRegistry, TrainerState } from "@recfleet/store";
import { createInferenceSession, type CreatedSession, type ExecutionProviderName } from "@recfleet/towers";
import { failFastUnlessRetriable } from "./bull";
import type { EmbedJobData, EmbedJobResult, PromoteJobData, PromoteJobResult } from "./jobs";
import type { TrainerMetrics } from "./metrics";

/** Keeps the newest two versions' item-tower sessions of this process. */
export function createItemTowerSessions(deps: {
  models: ModelRegistry;
  executionProviders: ExecutionProviderName[];
  logger: Logger;
}) {
  const sessions = new Map<string, Promise<CreatedSession>>();
  return {
    get(version: string): Promise<CreatedSession> {
      let s = sessions.get(version);
      if (!s) {
        s = deps.models.loadArtefact(version, "item_tower.onnx").then((bytes) =>
          createInferenceSession(bytes, {
            executionProviders: deps.executionProviders,
            logger: { warn: (m, c) => deps.logger.warn(m, c ?? {}) },
          }),
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

export interface EmbedJobDeps {
  models: ModelRegistry;
  state: TrainerState;
  sessions: ItemTowerSessions;
  workerId: string;
  /** EMBED_THROTTLE: the least time one job takes. */
  throttleMs: number;
  logger: Logger;
  metrics: Pick<TrainerMetrics, "embedJobs">;
}

/** embed-items: idempotent (the same shard twice writes the same bytes). Non-retriable errors skip BullMQ's retries. */
export async function processEmbedJob(deps: EmbedJobDeps, job: Job<EmbedJobData>): Promise<EmbedJobResult> {
  const { version, shard, fromRow, toRow } = job.data;
  const started = Date.now();
  try {
    return await failFastUnlessRetriable(async () => {
      await deps.state.markShardStarted(version, shard, deps.workerId);
      const { session, provider } = await deps.sessions.get(version);
      const rows = toRow - fromRow;
      const ids = new BigInt64Array(rows);
      for (let i = 0; i < rows; i++) ids[i] = BigInt(fromRow + i);
      const out = await session.run({ item_row: new ort.Tensor("int64", ids, [rows]) });
      const vectors = out["item_vector"]?.data;
      if (!(vectors instanceof Float32Array) || vectors.length % rows !== 0) {
        const problem = `item tower of ${version} returned no float32 item_vector of ${rows} rows; re-export the version`;
        throw new RecfleetError(problem, { retriable: false });
      }
      const wait = started + deps.throttleMs - Date.now();
      if (wait > 0) await sleep(wait);
      await deps.models.writeItemShard(version, shard, vectors);
      await deps.state.countShardEmbedded(version, deps.workerId);
      deps.metrics.embedJobs.inc({ outcome: "completed" });
      return { version, shard, rows, workerId: deps.workerId, provider };
    });
  } catch (err) {
    deps.metrics.embedJobs.inc({ outcome: "failed" });
    deps.logger.warn("embed-items job failed", {
      version,
      shard,
      attempt: job.attemptsMade + 1,
      error: errorMessage(err),
    });
    throw err;
  }
}

export interface PromoteJobDeps {
  models: ModelRegistry;
  state: TrainerState;
  /** MODEL_GC_GRACE */
  gcGraceMs: number;
  logger: Logger;
  metrics: Pick<TrainerMetrics, "promotions">;
  /** Publishes on model.versions; absent in processes without Kafka (then nothing is announced). */
  announce?: (announcement: ModelVersionAnnouncement) => Promise<void>;
}

/** promote: runs once every shard job completed. Flips atomically, announces, then collects garbage. */
export function processPromoteJob(deps: PromoteJobDeps, job: Job<PromoteJobData>): Promise<PromoteJobResult> {
  const { version } = job.data;
  return failFastUnlessRetriable(async () => {
    const meta = await deps.models.getMeta(version);
    if (!meta)
      throw new UnrecoverableError(
        `version ${version} is not in the registry (garbage-collected? MODEL_GC_GRACE=${deps.gcGraceMs}ms)`,
      );
    const result = await deps.models.promote(version);
    // Retriable: BullMQ runs the parent only after every child, so a missing shard is a race or a lost write.
    if (!result.promoted)
      throw new RecfleetError(`version ${version}: only ${result.shardsDone} of ${meta.shards} shards embedded`);
    const flipped = result.previous !== version;
    if (flipped) deps.metrics.promotions.inc();
    // Announced at least once: a promote job retried after a crash announces again; consumers key on version.
    await deps.announce?.({
      version,
      createdAt: meta.createdAt,
      itemCount: meta.itemCount,
      dim: meta.dim,
      metrics: meta.metrics,
    });
    const garbageCollected = await deps.models.collectGarbage(deps.gcGraceMs);
    const embeddedBy = await deps.state.embeddedBy(version);
    deps.logger.info("model version promoted", {
      version,
      previous: result.previous,
      flipped,
      itemCount: meta.itemCount,
      embeddedBy,
      garbageCollected,
    });
    return {
      version,
      flipped,
      ...(result.previous && flipped ? { previous: result.previous } : {}),
      shards: meta.shards,
      embeddedBy,
      garbageCollected,
    };
  });
}

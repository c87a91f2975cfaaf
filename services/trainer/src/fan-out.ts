/**
 * The embed fan-out of a registered version as BullMQ sees it: a promote (parent) job whose
 * children are the version's embed-items shard jobs. train-run.ts uses it through EmbedFanOut.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { FlowProducer, Queue } from "bullmq";
import { embedJobId, JOB_NAMES, promoteJobId, type PromoteJobData, type PromoteJobResult } from "./jobs";
import type { QueueNames } from "./keys";

export type PromotionResult =
  | { state: "promoted"; result: PromoteJobResult }
  | { state: "failed"; detail: string }
  /** The caller's signal fired first; the promote job goes on without it. */
  | { state: "abandoned" };

export interface EmbedFanOut {
  /** Enqueues one embed-items job per shard of `itemCount` items under the version's promote job. */
  start(version: string, itemCount: number, shardSize: number): Promise<void>;
  /** Waits for the version's promote job to complete or fail, at most timeoutMs. */
  awaitPromotion(version: string, timeoutMs: number, signal?: AbortSignal): Promise<PromotionResult>;
}

export function createEmbedFanOut(deps: {
  flow: FlowProducer;
  promoteQueue: Queue<PromoteJobData>;
  queues: QueueNames;
  /** EMBED_ATTEMPTS and EMBED_BACKOFF, for shard and promote jobs alike. */
  attempts: number;
  backoffMs: number;
}): EmbedFanOut {
  const retry = { attempts: deps.attempts, backoff: { type: "exponential", delay: deps.backoffMs } };
  const retention = { removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } };
  return {
    async start(version, itemCount, shardSize) {
      const shards = Math.ceil(itemCount / shardSize);
      await deps.flow.add({
        name: JOB_NAMES.promote,
        queueName: deps.queues.promote,
        data: { version },
        opts: { jobId: promoteJobId(version), ...retry, ...retention },
        children: Array.from({ length: shards }, (_, shard) => ({
          name: JOB_NAMES.embedItems,
          queueName: deps.queues.embedItems,
          data: { version, shard, fromRow: shard * shardSize, toRow: Math.min(itemCount, (shard + 1) * shardSize) },
          opts: { jobId: embedJobId(version, shard), ...retry, ...retention, failParentOnFailure: true },
        })),
      });
    },
    async awaitPromotion(version, timeoutMs, signal) {
      const deadline = Date.now() + timeoutMs;
      const jobId = promoteJobId(version);
      for (;;) {
        if (signal?.aborted) return { state: "abandoned" };
        const job = await deps.promoteQueue.getJob(jobId);
        const state = job ? await job.getState() : "unknown";
        // The job may complete between getJob and getState: then this copy has no return value
        // yet (seen under load as "Cannot read properties of null"), and the next poll reads it.
        if (job && state === "completed" && job.returnvalue)
          return { state: "promoted", result: job.returnvalue as PromoteJobResult };
        if (job && state === "failed") return { state: "failed", detail: `promote job failed: ${job.failedReason}` };
        if (Date.now() > deadline) {
          const detail =
            `version ${version} not promoted within EMBED_TIMEOUT=${timeoutMs}ms (promote job state ${state}); ` +
            "are any trainer processes taking embed-items jobs?";
          return { state: "failed", detail };
        }
        await sleep(200);
      }
    },
  };
}

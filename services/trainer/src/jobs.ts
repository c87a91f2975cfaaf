/**
 * BullMQ job catalog of the trainer: queue, name, data and result of each job.
 *   <ns>-train        "train"        TrainJobData   → TrainOutcome     global concurrency 1; repeatable every TRAIN_INTERVAL
 *   <ns>-embed-items  "embed-items"  EmbedJobData   → EmbedJobResult   children of a promote job; EMBED_ATTEMPTS, exponential backoff
 *   <ns>-promote      "promote"      PromoteJobData → PromoteJobResult parent: runs once every shard job has completed
 */
import type { WindowRange } from "./window";

export interface TrainJobData {
  reason: "schedule" | "manual";
  requestedAt: number;
  /** The offset range of `events` the first attempt took (written by it): a retry reads the same. */
  window?: WindowRange;
}

export interface EmbedJobData {
  version: string;
  shard: number;
  /** Item rows [fromRow, toRow) of the version's vocabulary. */
  fromRow: number;
  toRow: number;
}

export interface EmbedJobResult {
  version: string;
  shard: number;
  rows: number;
  workerId: string;
  provider: string;
}

export interface PromoteJobData {
  version: string;
}

export interface PromoteJobResult {
  version: string;
  /** False when the version was already current (a retried promote job). */
  flipped: boolean;
  previous?: string;
  shards: number;
  /** Worker id → shards it embedded. */
  embeddedBy: Record<string, number>;
  garbageCollected: string[];
}

export const JOB_NAMES = { train: "train", embedItems: "embed-items", promote: "promote" } as const;

/** Job id of a version's promote (parent) job; BullMQ ids may not contain ":". */
export const promoteJobId = (version: string) => `promote-${version}`;
export const embedJobId = (version: string, shard: number) => `embed-${version}-s${shard}`;

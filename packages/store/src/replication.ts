/**
 * Redis replication is asynchronous: a master that dies can take acknowledged writes with it.
 * A worker commits its Kafka offsets only after its batch's writes reached a replica, so a
 * failover costs a replay (which the watermarks make a no-op where it was applied), never a loss.
 */
import type { Cluster, Redis } from "ioredis";
import { RecfleetError } from "@recfleet/runtime";
import { isCluster } from "./cluster";

/** No replica acknowledged the batch in time: retry the batch (nothing is committed). */
export class ReplicaLagError extends RecfleetError {
  constructor(acknowledged: number, timeoutMs: number) {
    super(
      `a Redis replica acknowledged ${acknowledged} of 1 needed within ${timeoutMs} ms; the batch is retried (check replication: INFO replication)`,
      { retriable: true },
    );
  }
}

/** How long a master's replica count is trusted before INFO is asked again. */
const REPLICA_COUNT_TTL_MS = 5_000;

/**
 * A function that waits (WAIT 1) on every master that has a connected replica, for the writes
 * this client has sent it; a no-op on a Redis without replicas.
 */
export function createReplicaWaiter(redis: Redis, timeoutMs: number): () => Promise<void> {
  const counts = new WeakMap<Redis, { replicas: number; at: number }>();
  const replicasOf = async (node: Redis): Promise<number> => {
    const cached = counts.get(node);
    if (cached && Date.now() - cached.at < REPLICA_COUNT_TTL_MS) return cached.replicas;
    const info = await node.info("replication");
    // Replicas still syncing cannot acknowledge: count the online ones.
    const replicas = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
    counts.set(node, { replicas, at: Date.now() });
    return replicas;
  };
  return async () => {
    if (timeoutMs <= 0) return;
    const masters = isCluster(redis) ? (redis as unknown as Cluster).nodes("master") : [redis];
    await Promise.all(
      masters.map(async (node) => {
        if ((await replicasOf(node)) === 0) return;
        const acknowledged = Number(await node.call("WAIT", 1, timeoutMs));
        if (acknowledged < 1) {
          counts.delete(node);
          throw new ReplicaLagError(acknowledged, timeoutMs);
        }
      }),
    );
  };
}

/**
 * Redis replication is asynchronous: a master that dies can take acknowledged writes with it.
 * A worker commits its Kafka offsets only after its batch's writes reached a replica, so a
 * failover costs a replay (which the watermarks make a no-op where it was applied), never a loss.
 */
import type { Redis } from "ioredis";
import { RecfleetError } from "@recfleet/runtime";
import { clusterNodes, isCluster, replicasInTopology } from "./cluster";

/** No replica acknowledged the batch in time: retry the batch (nothing is committed). */
export class ReplicaLagError extends RecfleetError {
  constructor(acknowledged: number, timeoutMs: number) {
    super(
      `a Redis replica acknowledged ${acknowledged} of 1 needed within ${timeoutMs} ms; the batch is retried (check replication: INFO replication, CLUSTER NODES)`,
      { retriable: true },
    );
  }
}

/** How long a node's role and replica count are trusted before they are asked again. */
const REPLICA_COUNT_TTL_MS = 5_000;

/**
 * How many replicas a node's writes must wait for (0: none, or not a master).
 * On a cluster, the topology decides: every replica the cluster lists for the master and has
 * not marked failed, connected or not. Counting only the replicas connected right now would stop
 * waiting exactly when a replica falls behind (link down, resync), and a failover to that
 * replica then loses what was committed meanwhile. A replica that is gone for good is marked
 * failed after the cluster's node timeout; the wait stops then (writes go on unreplicated until
 * a replica is back: the cluster is one failure from loss, as any Redis with one replica).
 * On one Redis (no topology), the replicas online now (INFO replication).
 */
async function replicasToWaitFor(node: Redis, cluster: boolean): Promise<number> {
  if (cluster) {
    const { master, replicas } = replicasInTopology(String(await node.call("CLUSTER", "NODES")));
    return master ? replicas : 0;
  }
  const info = await node.info("replication");
  // Replicas still syncing cannot acknowledge: count the online ones.
  return (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
}

/**
 * Starts a batch: returns the function that, at the batch's end, waits (WAIT 1) on every master
 * that has a replica for the writes this client sent it; a no-op on a Redis without replicas.
 * Throws a retriable error when no replica acknowledged within `timeoutMs`, or when a node this
 * client knew went away since the batch began: a master that died takes the batch's
 * unacknowledged writes with it and leaves the client's node list, so waiting only on the nodes
 * listed now would commit them lost. The retried batch writes them again where the slots live now.
 */
export function createReplicaWaiter(redis: Redis, timeoutMs: number): () => () => Promise<void> {
  const counts = new WeakMap<Redis, { replicas: number; at: number }>();
  const cluster = isCluster(redis);
  const replicasOf = async (node: Redis): Promise<number> => {
    const cached = counts.get(node);
    if (cached && Date.now() - cached.at < REPLICA_COUNT_TTL_MS) return cached.replicas;
    const replicas = await replicasToWaitFor(node, cluster);
    counts.set(node, { replicas, at: Date.now() });
    return replicas;
  };
  // Node connections seen so far, and how many of them have gone (ioredis drops a cluster node's
  // connection from its list when it closes; the node's object then never reconnects).
  // Only a connection that was ever ready can have carried writes: ioredis also creates and
  // drops never-connected node objects while it learns the slot map at start.
  const known = new Set<Redis>();
  const connected = new WeakSet<Redis>();
  let gone = 0;
  const currentNodes = (): Redis[] => {
    const nodes = cluster ? clusterNodes(redis) : [redis];
    const listed = new Set(nodes);
    for (const node of known)
      if (!listed.has(node) || node.status === "end") {
        known.delete(node);
        if (connected.has(node)) gone++;
      }
    for (const node of nodes)
      if (!known.has(node)) {
        known.add(node);
        if (node.status === "ready") connected.add(node);
        else node.once("ready", () => connected.add(node));
      }
    return nodes;
  };
  return () => {
    if (timeoutMs <= 0) return async () => {};
    currentNodes();
    const goneAtStart = gone;
    return async () => {
      // Every node connection of a cluster (WAIT counts this connection's writes): the ones that
      // are not masters now answer 0 above. ioredis' own master list can lag a failover.
      const nodes = currentNodes();
      if (gone > goneAtStart) throw new RedisNodeGoneError(gone - goneAtStart);
      await Promise.all(
        nodes.map(async (node) => {
          try {
            if ((await replicasOf(node)) === 0) return;
            const acknowledged = Number(await node.call("WAIT", 1, timeoutMs));
            if (acknowledged < 1) throw new ReplicaLagError(acknowledged, timeoutMs);
          } catch (err) {
            // Ask again next time: the node may have changed role or lost its replica.
            counts.delete(node);
            throw err;
          }
        }),
      );
    };
  };
}

/** A Redis node went away during the batch: its writes may be lost; retry the batch (nothing is committed). */
export class RedisNodeGoneError extends RecfleetError {
  constructor(count: number) {
    super(
      `${count} Redis node connection(s) closed while the batch ran (a failover?); the batch is retried where its slots live now`,
      { retriable: true },
    );
  }
}

/** What the store needs to know about Redis Cluster: whether the client is one, a key's slot, its masters. */
import calculateSlot from "cluster-key-slot";
import type { ChainableCommander, Cluster, Redis } from "ioredis";

/** ioredis marks its Cluster client (and only it) with isCluster. */
export function isCluster(redis: { isCluster?: boolean }): boolean {
  return redis.isCluster === true;
}

/**
 * One command per item, each item's [error, answer] in its place (the shape of a pipeline's
 * exec). On a single Redis they go in one pipeline — one write and one round trip instead of
 * one each; on a cluster, and for a single item, each goes on its own, because a pipeline cannot
 * span nodes. Callers handle each error where it sits (NOSCRIPT, WRONGTYPE).
 */
export async function commandEach<I>(
  redis: Redis,
  items: readonly I[],
  command: (r: Redis | ChainableCommander, item: I) => unknown,
): Promise<[Error | null, unknown][]> {
  if (isCluster(redis) || items.length < 2)
    return Promise.all(
      items.map((item) =>
        (command(redis, item) as Promise<unknown>).then(
          (value): [null, unknown] => [null, value],
          (err: Error): [Error, undefined] => [err, undefined],
        ),
      ),
    );
  const pipeline = redis.pipeline();
  for (const item of items) command(pipeline, item);
  const replies = (await pipeline.exec()) ?? [];
  if (replies.length !== items.length)
    throw new Error(`a pipeline of ${items.length} commands answered ${replies.length}`);
  return replies;
}

/** The hash slot of a key; keys whose `{…}` tags are equal share it. */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * Every node connection of a cluster client (masters and replicas). ioredis' own master list
 * comes from its last slots refresh and can name a promoted replica a replica for seconds after
 * a failover, so callers that need the masters ask each node (ROLE, CLUSTER NODES) themselves.
 */
export function clusterNodes(redis: Redis): Redis[] {
  return (redis as unknown as Cluster).nodes("all");
}

/**
 * The nodes that are masters now (one Redis: itself). The client's slot map is refreshed first
 * (a client that sent nothing to a failed master's slots has not noticed the failover), then
 * each node is asked its ROLE.
 */
export async function currentMasters(redis: Redis): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  const cluster = redis as unknown as Cluster;
  await new Promise<void>((resolve, reject) => cluster.refreshSlotsCache((err) => (err ? reject(err) : resolve())));
  const nodes = clusterNodes(redis);
  const roles = await Promise.all(nodes.map(async (n) => ((await n.call("ROLE")) as [string])[0]));
  return nodes.filter((_, i) => roles[i] === "master");
}

/**
 * From one node's CLUSTER NODES: whether it is a master, and how many replicas the cluster
 * lists for it that are not marked failed. A replica whose link is down (or still syncing)
 * still counts: it can be promoted, so writes it lacks would be lost.
 */
export function replicasInTopology(clusterNodesReply: string): { master: boolean; replicas: number } {
  const lines = clusterNodesReply.split("\n").filter((l) => l.trim() !== "");
  const fields = lines.map((l) => l.split(" "));
  const me = fields.find((f) => (f[2] ?? "").split(",").includes("myself"));
  if (!me || !(me[2] ?? "").split(",").includes("master")) return { master: false, replicas: 0 };
  const replicas = fields.filter((f) => {
    const flags = (f[2] ?? "").split(",");
    return f[3] === me[0] && flags.includes("slave") && !flags.includes("fail");
  }).length;
  return { master: true, replicas };
}

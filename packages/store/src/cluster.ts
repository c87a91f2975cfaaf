/** What the store needs to know about Redis Cluster: whether the client is one, and a key's slot. */
import calculateSlot from "cluster-key-slot";

/** ioredis marks its Cluster client (and only it) with isCluster. */
export function isCluster(redis: { isCluster?: boolean }): boolean {
  return redis.isCluster === true;
}

/** The hash slot of a key; keys whose `{…}` tags are equal share it. */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

export { uniqueName, testInfra, waitFor, type TestInfra } from "./testing";
export { startRedisCluster, ClusterStartError, type RunningRedisCluster, type ClusterNode } from "./redis-cluster";

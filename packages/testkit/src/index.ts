export { uniqueName, testInfra, waitFor, type TestInfra } from "./testing";
export {
  containersRequested,
  dockerAvailable,
  startContainerStack,
  KAFKA_IMAGE,
  REDIS_IMAGE,
  type ContainerStack,
} from "./containers";
export { startRedisCluster, ClusterStartError, type RunningRedisCluster, type ClusterNode } from "./redis-cluster";

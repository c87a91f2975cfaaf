export {
  startStack,
  stackUp,
  stackDown,
  stackRestart,
  readStackState,
  type Stack,
  type StackComponent,
  type StackState,
} from "./stack";
export {
  startKafka,
  ensureKafkaJars,
  kafkaJarsCached,
  kafkaVersion,
  stopProcess,
  StackStartError,
  type RunningKafka,
} from "./kafka-broker";
export { startRedis, type RunningRedis } from "./redis-server";
export { freePort, waitForPortFile } from "./net";
export { REPO_ROOT, cacheDir, stackDir, DEFAULT_KAFKA_VERSION } from "./paths";
export {
  runStackChecks,
  assertStackPrerequisites,
  formatCheck,
  checkNode,
  checkRedisServer,
  checkJava,
  MissingPrerequisiteError,
  type CheckResult,
  type CheckStatus,
} from "./doctor";
export { startKafkaCluster, type KafkaCluster, type KafkaClusterNode } from "./kafka-cluster";

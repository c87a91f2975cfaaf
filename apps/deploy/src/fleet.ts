/**
 * What a deployment of the fleet is made of: the workers, which catalog topic each scales on,
 * and the settings the generated manifests take. Everything Kafka-facing (topics, groups,
 * writers) comes from the topic catalog in @recfleet/contracts, not from here.
 */
import { REPLY_PARTITIONS, TOPIC_REPLICATION, type ConsumerGroup, type TopicKey } from "@recfleet/contracts";

export type DeployedWorker = "ingest" | "features" | "trainer" | "scorer" | "gateway";

export interface WorkerResources {
  cpu: string;
  memory: string;
  memoryLimit: string;
}

/** The input whose consumer-group lag scales a Kafka worker (KEDA), capped at its partitions. */
export interface LagScaling {
  topic: TopicKey;
  group: ConsumerGroup;
}

/**
 * An HTTP worker's load shows as CPU, not as lag (the gateway consumes only its answers): a
 * HorizontalPodAutoscaler on CPU utilisation, capped at maxReplicas.
 */
export interface CpuScaling {
  cpuUtilization: number;
  maxReplicas: number;
}

export interface WorkerDeployment {
  name: DeployedWorker;
  scalesOn: LagScaling | CpuScaling;
  minReplicas: number;
  resources: WorkerResources;
  /** Port of an HTTP API the worker serves (a ClusterIP Service named "http" exposes it). */
  httpPort?: number;
}

export const scalesOnLag = (w: WorkerDeployment): w is WorkerDeployment & { scalesOn: LagScaling } =>
  "group" in w.scalesOn;

/**
 * Sizes from the benchmarks in docs/benchmarks.md (RSS of each worker under load, one core each):
 * the scorer holds the serving graph and the item matrix of two versions during a hot swap; the
 * trainer holds a run's window (read from Kafka) and the model being trained.
 */
export const WORKER_DEPLOYMENTS: readonly WorkerDeployment[] = [
  {
    name: "ingest",
    scalesOn: { topic: "clickstream", group: "ingest" },
    minReplicas: 2,
    resources: { cpu: "500m", memory: "256Mi", memoryLimit: "512Mi" },
  },
  {
    name: "features",
    scalesOn: { topic: "events", group: "features" },
    minReplicas: 2,
    resources: { cpu: "500m", memory: "256Mi", memoryLimit: "512Mi" },
  },
  {
    name: "trainer",
    // No consumer lag to scale on: each run reads an offset range of events and commits nothing.
    // More replicas share the embed fan-out (one run at a time whatever the count).
    scalesOn: { cpuUtilization: 70, maxReplicas: 4 },
    minReplicas: 1,
    resources: { cpu: "2", memory: "2Gi", memoryLimit: "4Gi" },
  },
  {
    name: "scorer",
    scalesOn: { topic: "recRequests", group: "scorer" },
    minReplicas: 2,
    resources: { cpu: "1", memory: "1Gi", memoryLimit: "2Gi" },
  },
  {
    name: "gateway",
    // Each gateway leases one partition of rec.replies to read its answers: more would find none free.
    scalesOn: { cpuUtilization: 70, maxReplicas: REPLY_PARTITIONS },
    minReplicas: 2,
    resources: { cpu: "500m", memory: "256Mi", memoryLimit: "512Mi" },
    httpPort: 8080,
  },
];

export interface DeployOptions {
  /** RECFLEET_NAMESPACE: prefix of topics, groups and Redis keys. */
  namespace: string;
  /** Partitions of partitioned topics (RECFLEET_TOPIC_PARTITIONS); also the replica cap per worker. */
  partitions: number;
  /** Kubernetes namespace the resources go to. */
  kubeNamespace: string;
  image: string;
  /** Strimzi Kafka cluster name (the strimzi.io/cluster label of topics and users). */
  kafkaCluster: string;
  /** Bootstrap address of the SASL_SSL listener. */
  kafkaBootstrap: string;
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Port of /metrics, /healthz and /readyz inside the pod. */
  metricsPort: number;
}

export const DEFAULT_DEPLOY_OPTIONS: DeployOptions = {
  namespace: "recfleet",
  partitions: 12,
  kubeNamespace: "recfleet",
  image: "recfleet:0.1.0",
  kafkaCluster: "recfleet",
  kafkaBootstrap: "recfleet-kafka-bootstrap:9093",
  ...TOPIC_REPLICATION,
  metricsPort: 9464,
};

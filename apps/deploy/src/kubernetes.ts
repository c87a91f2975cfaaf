/**
 * Kubernetes resources of a fleet: a Deployment, Service, PodDisruptionBudget and KEDA
 * ScaledObject per Kafka worker (the HTTP gateway: an HPA on CPU and a Service for its API); Strimzi KafkaTopic per catalog topic and KafkaUser (SCRAM-SHA-512,
 * ACLs from the catalog) per principal; a ServiceMonitor. Plain objects, rendered to YAML by
 * generate.ts and checked against the published schemas by manifests.test.ts.
 */
import {
  TOPIC_CATALOG,
  TOPIC_KEYS,
  consumerGroupId,
  topicNames,
  fleetAcls,
  topicPartitions,
  TOPIC_WRITERS,
  type TopicWriter,
} from "@recfleet/contracts";
import { WORKER_DEPLOYMENTS, scalesOnLag, type CpuScaling, type DeployOptions, type WorkerDeployment } from "./fleet";

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
} & Record<string, unknown>;

const PART_OF = "recfleet";

function labels(component: string): Record<string, string> {
  return { "app.kubernetes.io/name": `recfleet-${component}`, "app.kubernetes.io/part-of": PART_OF };
}

function metadata(name: string, o: DeployOptions, extra: Record<string, string> = {}) {
  return { name, namespace: o.kubeNamespace, labels: { ...labels(name.replace(/^recfleet-/, "")), ...extra } };
}

/** Kafka principal (KafkaUser name) of a writer in this fleet. */
export const kafkaUserName = (principal: TopicWriter, o: DeployOptions) => `${o.namespace}-${principal}`;

/** Settings every worker gets; secrets come from Secrets (Strimzi writes each KafkaUser's password to one). */
export function fleetConfigMap(o: DeployOptions): Manifest {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata("recfleet-config", o),
    data: {
      KAFKA_BROKERS: o.kafkaBootstrap,
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SSL: "true",
      KAFKA_CA_FILE: "/etc/recfleet/kafka-ca/ca.crt",
      RECFLEET_NAMESPACE: o.namespace,
      RECFLEET_TOPIC_PARTITIONS: String(o.partitions),
      METRICS_PORT: String(o.metricsPort),
      LOG_LEVEL: "info",
      EXECUTION_PROVIDERS: "cpu",
    },
  };
}

function secretEnv(name: string, secret: string, key: string) {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

export function workerDeployment(w: WorkerDeployment, o: DeployOptions): Manifest {
  const name = `recfleet-${w.name}`;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: "metrics" },
    periodSeconds,
    failureThreshold,
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: metadata(name, o),
    spec: {
      replicas: w.minReplicas,
      selector: { matchLabels: labels(w.name) },
      // One pod at a time: each restart is a consumer-group rebalance.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels(w.name) },
        spec: {
          // Longer than SHUTDOWN_DEADLINE (20 s): a SIGTERMed worker finishes its batch and commits.
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 },
          containers: [
            {
              name: w.name,
              image: o.image,
              args: [w.name],
              ports: [
                { name: "metrics", containerPort: o.metricsPort },
                ...(w.httpPort ? [{ name: "http", containerPort: w.httpPort }] : []),
              ],
              envFrom: [{ configMapRef: { name: "recfleet-config" } }],
              env: [
                ...(w.httpPort ? [{ name: "GATEWAY_PORT", value: String(w.httpPort) }] : []),
                { name: "KAFKA_SASL_USERNAME", value: kafkaUserName(w.name, o) },
                secretEnv("KAFKA_SASL_PASSWORD", kafkaUserName(w.name, o), "password"),
                secretEnv("REDIS_URL", `recfleet-redis-${w.name}`, "url"),
                secretEnv("RECFLEET_PSEUDONYM_SECRET", "recfleet-pseudonym", "secret"),
              ],
              readinessProbe: probe("/readyz", 5, 3),
              livenessProbe: probe("/healthz", 10, 6),
              resources: {
                requests: { cpu: w.resources.cpu, memory: w.resources.memory },
                limits: { memory: w.resources.memoryLimit },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [
                { name: "kafka-ca", mountPath: "/etc/recfleet/kafka-ca", readOnly: true },
                { name: "tmp", mountPath: "/tmp" },
              ],
            },
          ],
          volumes: [
            // Strimzi publishes the cluster CA as <cluster>-cluster-ca-cert.
            { name: "kafka-ca", secret: { secretName: `${o.kafkaCluster}-cluster-ca-cert` } },
            { name: "tmp", emptyDir: {} },
          ],
        },
      },
    },
  };
}

export function workerService(w: WorkerDeployment, o: DeployOptions): Manifest {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(`recfleet-${w.name}`, o),
    spec: {
      clusterIP: "None",
      selector: labels(w.name),
      ports: [{ name: "metrics", port: o.metricsPort, targetPort: "metrics" }],
    },
  };
}

/** The API of an HTTP worker (the gateway), for an Ingress or the apps in the cluster. */
export function workerApiService(w: WorkerDeployment, o: DeployOptions): Manifest {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(`recfleet-${w.name}-http`, o),
    spec: {
      type: "ClusterIP",
      selector: labels(w.name),
      ports: [{ name: "http", port: 80, targetPort: "http" }],
    },
  };
}

export function workerDisruptionBudget(w: WorkerDeployment, o: DeployOptions): Manifest {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadata(`recfleet-${w.name}`, o),
    spec: { maxUnavailable: 1, selector: { matchLabels: labels(w.name) } },
  };
}

/** Scales a worker on its group's lag; more consumers than partitions would idle, so partitions cap it. */
export function workerScaledObject(w: WorkerDeployment, o: DeployOptions): Manifest {
  if (!scalesOnLag(w)) throw new Error(`${w.name} does not scale on lag: give it a HorizontalPodAutoscaler`);
  const topics = topicNames(o.namespace);
  return {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: metadata(`recfleet-${w.name}`, o),
    spec: {
      scaleTargetRef: { name: `recfleet-${w.name}` },
      minReplicaCount: w.minReplicas,
      maxReplicaCount: topicPartitions(w.scalesOn.topic, o.partitions),
      cooldownPeriod: 300,
      triggers: [
        {
          type: "kafka",
          authenticationRef: { name: "recfleet-keda-kafka" },
          metadata: {
            bootstrapServers: o.kafkaBootstrap,
            consumerGroup: consumerGroupId(o.namespace, w.scalesOn.group),
            topic: topics[w.scalesOn.topic],
            lagThreshold: "1000",
            allowIdleConsumers: "false",
            offsetResetPolicy: "earliest",
          },
        },
      ],
    },
  };
}

/** An HTTP worker's load is its CPU: a plain HorizontalPodAutoscaler, no KEDA needed. */
export function workerCpuAutoscaler(w: WorkerDeployment, scaling: CpuScaling, o: DeployOptions): Manifest {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: metadata(`recfleet-${w.name}`, o),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `recfleet-${w.name}` },
      minReplicas: w.minReplicas,
      maxReplicas: scaling.maxReplicas,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: scaling.cpuUtilization } },
        },
      ],
    },
  };
}

function workerAutoscaler(w: WorkerDeployment, o: DeployOptions): Manifest {
  return "group" in w.scalesOn ? workerScaledObject(w, o) : workerCpuAutoscaler(w, w.scalesOn, o);
}

/** KEDA reads group lag as its own Kafka user (Describe only), through this TriggerAuthentication. */
export function kedaTriggerAuthentication(o: DeployOptions): Manifest {
  const secret = `${o.namespace}-keda`;
  return {
    apiVersion: "keda.sh/v1alpha1",
    kind: "TriggerAuthentication",
    metadata: metadata("recfleet-keda-kafka", o),
    spec: {
      secretTargetRef: [
        { parameter: "sasl", name: "recfleet-keda-sasl", key: "mechanism" },
        { parameter: "username", name: "recfleet-keda-sasl", key: "username" },
        { parameter: "password", name: secret, key: "password" },
        { parameter: "tls", name: "recfleet-keda-sasl", key: "tls" },
        { parameter: "ca", name: `${o.kafkaCluster}-cluster-ca-cert`, key: "ca.crt" },
      ],
    },
  };
}

export function kafkaTopics(o: DeployOptions): Manifest[] {
  const names = topicNames(o.namespace);
  return TOPIC_KEYS.map((key) => ({
    apiVersion: "kafka.strimzi.io/v1beta2",
    kind: "KafkaTopic",
    metadata: metadata(names[key], o, { "strimzi.io/cluster": o.kafkaCluster }),
    spec: {
      topicName: names[key],
      partitions: topicPartitions(key, o.partitions),
      replicas: o.replicationFactor,
      config: { "min.insync.replicas": String(o.minInsyncReplicas), ...TOPIC_CATALOG[key].config },
    },
  }));
}

/** One KafkaUser per principal, with the catalog's ACLs (contracts' fleetAcls) for that principal. */
export function kafkaUser(principal: TopicWriter, o: DeployOptions): Manifest {
  const name = kafkaUserName(principal, o);
  const acls = fleetAcls(o.namespace, (writer) => kafkaUserName(writer, o))
    .filter((a) => a.principal === name)
    .map((a) => ({
      resource: { type: a.resource.type, name: a.resource.name, patternType: a.resource.pattern },
      operations: [a.operation],
    }));
  return {
    apiVersion: "kafka.strimzi.io/v1beta2",
    kind: "KafkaUser",
    metadata: metadata(name, o, { "strimzi.io/cluster": o.kafkaCluster }),
    spec: { authentication: { type: "scram-sha-512" }, authorization: { type: "simple", acls } },
  };
}

/** KEDA's user: Describe on the topics and groups whose lag it reads, nothing else. */
export function kedaKafkaUser(o: DeployOptions): Manifest {
  const prefix = (type: string) => ({ type, name: `${o.namespace}.`, patternType: "prefix" });
  return {
    apiVersion: "kafka.strimzi.io/v1beta2",
    kind: "KafkaUser",
    metadata: metadata(`${o.namespace}-keda`, o, { "strimzi.io/cluster": o.kafkaCluster }),
    spec: {
      authentication: { type: "scram-sha-512" },
      authorization: {
        type: "simple",
        acls: [
          { resource: prefix("topic"), operations: ["Describe"] },
          { resource: prefix("group"), operations: ["Describe"] },
        ],
      },
    },
  };
}

export function serviceMonitor(o: DeployOptions): Manifest {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: metadata("recfleet", o),
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/part-of": PART_OF } },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "15s" }],
    },
  };
}

/** Every resource, grouped by the file generate.ts writes it to. */
export function fleetManifests(o: DeployOptions): Record<string, Manifest[]> {
  return {
    "config.yaml": [fleetConfigMap(o)],
    "workers.yaml": WORKER_DEPLOYMENTS.flatMap((w) => [
      workerDeployment(w, o),
      workerService(w, o),
      ...(w.httpPort ? [workerApiService(w, o)] : []),
      workerDisruptionBudget(w, o),
    ]),
    "autoscaling.yaml": [kedaTriggerAuthentication(o), ...WORKER_DEPLOYMENTS.map((w) => workerAutoscaler(w, o))],
    "kafka-topics.yaml": kafkaTopics(o),
    "kafka-users.yaml": [...TOPIC_WRITERS.map((p) => kafkaUser(p, o)), kedaKafkaUser(o)],
    "monitoring.yaml": [serviceMonitor(o)],
  };
}

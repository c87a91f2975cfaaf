import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { KafkaTopic, KafkaUser } from "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { REPLY_PARTITIONS, TOPIC_CATALOG, TOPIC_KEYS, topicGrants, topicNames } from "@recfleet/contracts";
import { DEFAULT_DEPLOY_OPTIONS, renderArtefacts, type Manifest } from "./index";
import { REPO_ROOT } from "./generate";

type Validating = { validate(): void };
const MODELS: Record<string, (m: Manifest) => Validating> = {
  "v1/ConfigMap": (m) => new ConfigMap(m as never),
  "v1/Service": (m) => new Service(m as never),
  "apps/v1/Deployment": (m) => new Deployment(m as never),
  "policy/v1/PodDisruptionBudget": (m) => new PodDisruptionBudget(m as never),
  "autoscaling/v2/HorizontalPodAutoscaler": (m) => new HorizontalPodAutoscaler(m as never),
  "keda.sh/v1alpha1/ScaledObject": (m) => new ScaledObject(m as never),
  "keda.sh/v1alpha1/TriggerAuthentication": (m) => new TriggerAuthentication(m as never),
  "kafka.strimzi.io/v1beta2/KafkaTopic": (m) => new KafkaTopic(m as never),
  "kafka.strimzi.io/v1beta2/KafkaUser": (m) => new KafkaUser(m as never),
  "monitoring.coreos.com/v1/ServiceMonitor": (m) => new ServiceMonitor(m as never),
  "monitoring.coreos.com/v1/PrometheusRule": (m) => new PrometheusRule(m as never),
};

function manifestsOf(files: Record<string, string>): Manifest[] {
  return Object.entries(files)
    .filter(([path]) => path.startsWith("infra/k8s/") && !path.endsWith("kustomization.yaml"))
    .flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJS() as Manifest));
}

test("every generated manifest validates against the Kubernetes, KEDA, Strimzi and prometheus-operator schemas", () => {
  const manifests = manifestsOf(renderArtefacts());
  assert.ok(manifests.length > 20, `only ${manifests.length} manifests`);
  for (const m of manifests) {
    const model = MODELS[`${m.apiVersion}/${m.kind}`];
    assert.ok(model, `no schema for ${m.apiVersion} ${m.kind}: add it to MODELS`);
    assert.doesNotThrow(() => model(m).validate(), `${m.kind} ${m.metadata.name}`);
  }
});

test("the schema check can fail: a Deployment without containers and a KafkaTopic with text partitions are refused", () => {
  const [deployment] = manifestsOf(renderArtefacts()).filter((m) => m.kind === "Deployment");
  const broken = structuredClone(deployment!) as Manifest & { spec: { template: { spec: { containers?: unknown } } } };
  delete broken.spec.template.spec.containers;
  assert.throws(() => new Deployment(broken as never).validate());
  const topic = { apiVersion: "kafka.strimzi.io/v1beta2", kind: "KafkaTopic", metadata: { name: "x" }, spec: {} };
  assert.throws(() => new KafkaTopic({ ...topic, spec: { partitions: "twelve" } } as never).validate());
});

test("infra/ holds what `npm run manifests` generates (run it after changing the catalog or apps/deploy)", () => {
  for (const [path, content] of Object.entries(renderArtefacts())) {
    const onDisk = (() => {
      try {
        return readFileSync(join(REPO_ROOT, path), "utf8");
      } catch {
        return undefined;
      }
    })();
    assert.equal(onDisk, content, `${path} is stale: run npm run manifests`);
  }
});

test("one KafkaTopic per catalog topic, replicated for production", () => {
  const topics = manifestsOf(renderArtefacts()).filter((m) => m.kind === "KafkaTopic") as (Manifest & {
    spec: { topicName: string; replicas: number; config: Record<string, string> };
  })[];
  const names = topicNames(DEFAULT_DEPLOY_OPTIONS.namespace);
  assert.deepEqual(topics.map((t) => t.spec.topicName).sort(), TOPIC_KEYS.map((k) => names[k]).sort());
  for (const t of topics) {
    assert.equal(t.spec.replicas, 3);
    assert.equal(t.spec.config["min.insync.replicas"], "2");
  }
});

test("Kafka grants follow the catalog: each worker writes only what the catalog says it produces", () => {
  const ingest = topicGrants("ingest");
  assert.deepEqual(ingest.reads, ["clickstream"]);
  assert.deepEqual(ingest.writes.sort(), ["clickstreamDlq", "events"].sort());
  const scorer = topicGrants("scorer");
  assert.ok(!scorer.writes.includes("modelVersions"), "the scorer must not announce models");
  assert.ok(scorer.groups.some((g) => g.group === "scorer-versions" && g.perProcess));
  for (const key of TOPIC_KEYS)
    for (const writer of TOPIC_CATALOG[key].producers) assert.ok(topicGrants(writer).writes.includes(key));
});

test("KEDA never scales a worker past its input's partitions", () => {
  const scaled = manifestsOf(renderArtefacts()).filter((m) => m.kind === "ScaledObject") as (Manifest & {
    spec: { maxReplicaCount: number };
  })[];
  // ingest, features, scorer; the trainer (no committed offsets since runs read offset ranges) and the gateway scale on CPU.
  assert.equal(scaled.length, 3);
  assert.ok(!scaled.some((s) => s.metadata.name === "recfleet-trainer"), "the trainer has no consumer lag to scale on");
  for (const s of scaled) assert.ok(s.spec.maxReplicaCount <= DEFAULT_DEPLOY_OPTIONS.partitions, s.metadata.name);
});

test("the HTTP gateway scales on CPU (an HPA capped at the reply partitions it leases) and serves its API through a Service", () => {
  const manifests = manifestsOf(renderArtefacts());
  const named = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(!named("ScaledObject", "recfleet-gateway"), "the gateway has no consumer lag to scale on");
  const hpa = named("HorizontalPodAutoscaler", "recfleet-gateway") as Manifest & {
    spec: { maxReplicas: number; scaleTargetRef: { name: string }; metrics: { resource: { name: string } }[] };
  };
  assert.ok(hpa, "no HorizontalPodAutoscaler for the gateway");
  assert.equal(hpa.spec.scaleTargetRef.name, "recfleet-gateway");
  assert.equal(hpa.spec.maxReplicas, REPLY_PARTITIONS);
  assert.deepEqual(
    hpa.spec.metrics.map((m) => m.resource.name),
    ["cpu"],
  );
  const deployment = named("Deployment", "recfleet-gateway") as Manifest & {
    spec: { template: { spec: { containers: { args: string[]; ports: { name: string }[] }[] } } };
  };
  const [container] = deployment.spec.template.spec.containers;
  assert.deepEqual(container!.args, ["gateway"]);
  assert.deepEqual(container!.ports.map((p) => p.name).sort(), ["http", "metrics"]);
  const api = named("Service", "recfleet-gateway-http") as Manifest & { spec: { ports: { targetPort: string }[] } };
  assert.equal(api?.spec.ports[0]?.targetPort, "http");
  assert.ok(named("KafkaUser", "recfleet-gateway"), "the gateway's Kafka principal");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "@recfleet/runtime";
import { createKafka, createProducer, ensureFleetTopics } from "@recfleet/bus";
import { topicNames } from "@recfleet/contracts";
import { createPolicy, createRng, toDecisionLog } from "@recfleet/policy";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { readFleetLogs } from "./ope";

const infra = testInfra();

test("ope: rec.log records are decoded with the decision-log spec; records that fail it are skipped", async () => {
  const ns = uniqueName("ope");
  const topics = topicNames(ns);
  const logger = createLogger("ope-test", { level: "error" });
  const kafka = createKafka({ brokers: infra.brokers, clientId: "ope-test", logger });
  await ensureFleetTopics(kafka, ns, { partitions: 1 });
  const candidates = [
    { itemId: "a", score: 2 },
    { itemId: "b", score: 1 },
  ];
  const decision = createPolicy("epsilon:0.1").select(candidates, 2, { rng: createRng(1) });
  const stats = () => ({ impressions: 3, clicks: 1 });
  const good = toDecisionLog({
    recId: "r1",
    requestId: "q1",
    ts: Date.now(),
    policyId: decision.policyId,
    modelVersion: "v1",
    propensityMethod: decision.propensityMethod,
    candidates,
    itemStats: stats,
    items: decision.items,
  });
  const producer = await createProducer(kafka);
  try {
    await producer.send(topics.recLog, [
      { key: "r1", value: good },
      // Propensity as a string: JSON.parse alone would have let it through to the estimators.
      {
        key: "r2",
        value: { ...good, recId: "r2", items: good.items.map((i) => ({ ...i, propensity: `${i.propensity}` })) },
      },
      { key: "r3", value: "not json {" },
    ]);
  } finally {
    await producer.close();
  }
  const logs = await readFleetLogs(infra.brokers, ns, ["click"]);
  assert.deepEqual(
    logs.decisions.map((d) => d.recId),
    ["r1"],
  );
  assert.deepEqual(logs.decisions[0], good);
});

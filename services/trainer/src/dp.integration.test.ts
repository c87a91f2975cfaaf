/**
 * A training run with TRAIN_DP_EPSILON set: DP-SGD with the user as the unit, the (ε, δ) it
 * reached in the version's metadata, in its ONNX metadata and in `recfleet model list`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, createMetricsRegistry, ConfigError } from "@recfleet/runtime";
import { topicNames } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics } from "@recfleet/bus";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { dpOptions, runModelCli, startTrainer } from "./index";
import { syntheticEvents, testConfig, testEnv } from "./test-helpers";

const infra = testInfra();
const logger = createLogger("trainer-dp-test", { level: "warn" });

test("trainer with TRAIN_DP_EPSILON: the version states its privacy unit and (ε, δ); model list shows it", async () => {
  const ns = uniqueName("trdp");
  const env = testEnv(ns, infra, {
    TRAIN_DP_EPSILON: "4",
    TRAIN_DP_DELTA: "1e-4",
    TRAIN_DP_USERS_PER_STEP: "10",
    TRAIN_DP_EPOCHS: "3",
    PROMOTE_MIN_RECALL: "0",
  });
  const config = testConfig(env);
  assert.throws(() => dpOptions({ ...config, dpNoiseMultiplier: 1 }), ConfigError);
  const kafka = createKafka({ brokers: infra.brokers, clientId: "trainer-dp-test", logger });
  await ensureFleetTopics(kafka, ns, { partitions: 2 });
  const producer = await createProducer(kafka);
  const trainer = await startTrainer(config, { logger, registry: createMetricsRegistry("trainer-dp-test") });
  try {
    const events = syntheticEvents({
      users: 40,
      eventsPerUser: 10,
      items: 40,
      groups: 4,
      startTs: Date.now() - 3_600_000,
      tag: "dp",
    });
    await producer.send(
      topicNames(ns).events,
      events.map((e) => ({ key: e.user, value: e })),
    );
    const outcome = await trainer.trainOnce("dp test");
    assert.equal(outcome.status, "promoted", JSON.stringify(outcome));
    const version = (outcome as { version: string }).version;
    const meta = await trainer.models.getMeta(version);
    assert.equal(meta?.privacy?.unit, "user");
    assert.equal(meta?.privacy?.mechanism, "dp-sgd");
    assert.equal(meta?.privacy?.delta, 1e-4);
    const epsilon = meta!.privacy!.epsilon as number;
    assert.ok(epsilon <= 4 && epsilon > 3.9, `ε ${epsilon}`);
    const onnx = (await trainer.models.loadArtefact(version, "serving.onnx")).toString("latin1");
    assert.ok(onnx.includes('"unit":"user"'), "the ONNX metadata states the privacy unit");
    const lines: string[] = [];
    assert.equal(await runModelCli(["list"], env, (l) => lines.push(l)), 0);
    const listed = lines.map((l) => JSON.parse(l) as { version?: string; privacy?: { unit: string; epsilon: number } });
    const row = listed.find((l) => l.version === version)!;
    assert.equal(row.privacy?.unit, "user");
    assert.equal(row.privacy?.epsilon, epsilon);
    console.log(`# DP training run: ${JSON.stringify(row.privacy)}`);
  } finally {
    await trainer.stop();
    await producer.close();
  }
});

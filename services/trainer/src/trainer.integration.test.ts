import { test } from "node:test";
import assert from "node:assert/strict";
import { Queue, QueueEvents } from "bullmq";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { decodeMessage, modelVersionSpec, topicNames, type ModelVersionAnnouncement } from "@recfleet/contracts";
import { createKafka, createProducer, ensureFleetTopics, readTopic } from "@recfleet/bus";
import { createModelRegistry, connectRedis, createTrainerState, modelKeys } from "@recfleet/store";
import { scanKeys } from "@recfleet/store/testing";
import { defaultTwoTowerConfig, deserializeModel, itemVectors } from "@recfleet/towers";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import {
  createBullConnection,
  evaluateModel,
  queueNames,
  runModelCli,
  runTrainCli,
  startTrainer,
  type EvaluateFn,
  type TrainJobData,
  type TrainOutcome,
} from "./index";
import { produceEvents, syntheticEvents, testConfig, testEnv } from "./test-helpers";

const infra = testInfra();
const logger = createLogger("trainer-test", { level: "warn" });

function announcements(records: { value: Buffer | null }[]): ModelVersionAnnouncement[] {
  return records.flatMap((r) => {
    const d = decodeMessage<ModelVersionAnnouncement>(modelVersionSpec, r.value);
    return d.ok ? [d.value] : [];
  });
}

test("trainer: events → offset range → train job → promoted version with every item vector, announced; warm start grows the catalogue; a worse candidate is rejected; a corrupt current model falls back to a fresh train; rollback", async () => {
  const ns = uniqueName("tr");
  const env = testEnv(ns, infra, { EMBED_SHARD_SIZE: "7", MODEL_GC_GRACE: "0" });
  const config = testConfig(env);
  const topics = topicNames(ns);
  const kafka = createKafka({ brokers: infra.brokers, clientId: "trainer-test", logger });
  await ensureFleetTopics(kafka, ns, { partitions: 2 });
  const producer = await createProducer(kafka);
  const registry = createMetricsRegistry("trainer-test");
  // Test-only hook: when sabotaged, the candidate's score is pushed below current − margin.
  let sabotage = false;
  const evaluate: EvaluateFn = (model, cases, k, role) => {
    const m = evaluateModel(model, cases, k);
    return sabotage && role === "candidate" ? { ...m, recall: -1, ndcg: -1 } : m;
  };
  const trainer = await startTrainer(config, { logger, registry, evaluate });
  const { models, window } = trainer;
  const redis = await connectRedis({ redisUrl: infra.redisUrl }, logger);
  try {
    const start = Date.now() - 3_600_000;
    const first = syntheticEvents({ users: 40, eventsPerUser: 10, items: 40, groups: 4, startTs: start, tag: "a" });
    await producer.send(
      topics.events,
      first.map((e) => ({ key: e.user, value: e })),
    );

    // 1. On demand through the CLI: enqueue a train job and wait for its outcome.
    const lines: string[] = [];
    assert.equal(await runTrainCli(["--wait", "--timeout", "120s"], env, (l) => void lines.push(l)), 0);
    const r1 = JSON.parse(lines.at(-1)!) as TrainOutcome;
    assert.equal(r1.status, "promoted", JSON.stringify(r1));
    if (r1.status !== "promoted") return;
    // The run read the whole topic as it was: every event, nothing skipped.
    assert.equal(r1.window.records, first.length, JSON.stringify(r1.window));
    assert.equal(r1.events, first.length);
    assert.deepEqual([r1.window.shredded, r1.window.invalid, r1.window.old], [0, 0, 0]);
    // The version records the offsets it was trained on.
    assert.deepEqual((await models.getMeta(r1.version))?.trainingWindow, {
      minTs: r1.window.minTs,
      partitions: r1.window.partitions,
    });
    assert.equal(await models.currentVersion(), r1.version);
    const meta1 = (await models.getMeta(r1.version))!;
    assert.equal(meta1.itemCount, 40);
    assert.equal(meta1.shards, 6);
    assert.ok(r1.candidate.recall > 0, `the model learnt nothing: ${JSON.stringify(r1.candidate)}`);
    // Every item has a row, computed by the item-tower ONNX session: equal to the TS forward pass.
    const matrix = await models.readItemMatrix(r1.version);
    const model1 = deserializeModel(await models.loadArtefact(r1.version, "model.bin"));
    // No history length of the trainer's own: a fresh model takes the towers' default, and serving.json carries it.
    assert.equal(model1.config.historyLength, defaultTwoTowerConfig.historyLength);
    const servingJson = (await models.loadArtefact(r1.version, "serving.json")).toString("utf8");
    const serving = JSON.parse(servingJson) as { config: { historyLength: number } };
    assert.equal(serving.config.historyLength, model1.config.historyLength);
    const expected = itemVectors(model1);
    assert.equal(matrix.length, 40 * 16);
    for (let i = 0; i < matrix.length; i++)
      assert.ok(Math.abs(matrix[i]! - expected[i]!) < 1e-4, `item matrix differs at ${i}`);
    const announced1 = announcements(
      await readTopic(kafka, topics.modelVersions, {
        until: (r) => announcements(r).some((a) => a.version === r1.version),
        timeoutMs: 20_000,
      }),
    );
    const a1 = announced1.find((a) => a.version === r1.version);
    assert.ok(a1, "no announcement on model.versions");
    assert.equal(a1.itemCount, 40);
    assert.equal(a1.dim, 16);
    assert.equal(typeof a1.metrics?.["recall@20"], "number");

    // 2. New items and behaviour: warm start from v1, new items get rows.
    const more = syntheticEvents({
      users: 20,
      eventsPerUser: 6,
      items: 10,
      groups: 2,
      itemOffset: 40,
      startTs: start + 60_000,
      tag: "b",
    });
    await producer.send(
      topics.events,
      more.map((e) => ({ key: e.user, value: e })),
    );
    // Replays are harmless: r1's range, read again after more events arrived (a retried job
    // reads its recorded range), gives the same events in the same order.
    const again = await window.read(r1.window);
    assert.equal(again.events.length, first.length);
    assert.deepEqual(
      again.events.map((e) => e.eventId),
      (await window.read(r1.window)).events.map((e) => e.eventId),
    );
    assert.deepEqual(new Set(again.events.map((e) => e.eventId)), new Set(first.map((e) => e.eventId)));
    const r2 = await trainer.trainOnce("test");
    assert.equal(r2.status, "promoted", JSON.stringify(r2));
    if (r2.status !== "promoted") return;
    assert.deepEqual(r2.warmStart, { used: true, from: r1.version });
    assert.equal(r2.itemCount, 50);
    assert.equal(r2.newItems, 10);
    assert.equal(r2.window.records, first.length + more.length);
    assert.ok(r2.current, "the current model was not evaluated on the same slice");
    assert.equal(r2.previous, r1.version);
    assert.equal((await models.readItemMatrix(r2.version)).length, 50 * 16);

    // 3. A candidate worse than current by more than PROMOTE_MARGIN is rejected, with the reason.
    sabotage = true;
    const r3 = await trainer.trainOnce("test");
    sabotage = false;
    assert.equal(r3.status, "rejected", JSON.stringify(r3));
    assert.equal(r3.reason, "worse_than_current");
    assert.match(r3.detail, /recall@20 -1\.0000 < current .* margin 0\.01/);
    assert.equal(await models.currentVersion(), r2.version);
    const text = await registry.metrics();
    assert.match(text, /recfleet_trainer_rejections_total\{reason="worse_than_current"[^}]*\} 1/);
    assert.match(text, /recfleet_trainer_promotions_total\{[^}]*\} 2/);
    assert.match(text, /recfleet_trainer_model_age_seconds\{[^}]*\} \d/);
    assert.match(text, /recfleet_trainer_candidate_metric\{metric="recall@20"/);

    // 4. A corrupt current model.bin: the warm start is refused with a reason and a fresh model trained.
    await redis.set(modelKeys(ns).artefact(r2.version, "model.bin"), Buffer.from("garbage"));
    const r4 = await trainer.trainOnce("test");
    assert.equal(r4.status, "promoted", JSON.stringify(r4));
    if (r4.status !== "promoted") return;
    assert.equal(r4.warmStart.used, false);
    assert.match(r4.warmStart.reason ?? "", /warm start refused.*corrupt/);
    assert.equal(r4.reason, "current_unusable");
    // GC (grace 0 here): v1 is neither current nor the rollback target any more.
    assert.deepEqual((await models.listVersions()).map((m) => m.version).sort(), [r2.version, r4.version].sort());

    // 5. model list / rollback (announced) / gc.
    const listed: string[] = [];
    assert.equal(await runModelCli(["list"], env, (l) => void listed.push(l)), 0);
    assert.ok(listed.some((l) => l.includes(`"version":"${r4.version}"`) && l.includes('"current":true')));
    assert.ok(listed.some((l) => l.includes('"lastTraining"')));
    const rb: string[] = [];
    assert.equal(await runModelCli(["rollback"], env, (l) => void rb.push(l)), 0);
    assert.equal(await models.currentVersion(), r2.version);
    const announced = announcements(
      await readTopic(kafka, topics.modelVersions, {
        until: (r) => announcements(r).some((a) => a.metrics?.rollbackFrom === r4.version),
        timeoutMs: 20_000,
      }),
    );
    assert.ok(
      announced.some((a) => a.version === r2.version && a.metrics?.rollbackFrom === r4.version),
      "rollback not announced",
    );
    assert.equal(await runModelCli(["nonsense"], env, () => undefined), 2);

    // 6. BullMQ's keys (train, embed-items, promote queues, flows) live inside the namespace.
    const bullKeys = await scanKeys(redis, `${ns}:bull:*`);
    const inQueue = (queue: string) => bullKeys.some((k) => k.startsWith(`${ns}:bull:{${ns}}:${queue}:`));
    assert.ok(
      inQueue(`${ns}-embed-items`),
      `no embed-items queue keys under ${ns}:bull: ${bullKeys.slice(0, 5).join(", ")}`,
    );
    assert.ok(inQueue(`${ns}-train`) && inQueue(`${ns}-promote`));
    assert.deepEqual(await scanKeys(redis, "bull:*"), [], "BullMQ keys outside any namespace");

    // 7. A train job that already holds a range (what a stalled job taken over by another trainer
    // finds in its data) reads that range, not the newer, longer topic.
    const bull = createBullConnection(config, logger);
    const eventsBull = createBullConnection(config, logger);
    const trainQueue = new Queue<TrainJobData>(queueNames(ns).train, bull);
    const queueEvents = new QueueEvents(queueNames(ns).train, eventsBull);
    try {
      await queueEvents.waitUntilReady();
      const window = { minTs: r1.window.minTs, partitions: r1.window.partitions };
      const job = await trainQueue.add("train", { reason: "manual", requestedAt: Date.now(), window });
      const r7 = (await job.waitUntilFinished(queueEvents, 120_000)) as TrainOutcome;
      assert.ok(r7.status === "promoted" || r7.status === "rejected", JSON.stringify(r7));
      assert.deepEqual([r7.window?.records, r7.events], [first.length, first.length]);
      assert.deepEqual(r7.window?.partitions, r1.window.partitions);
    } finally {
      await queueEvents.close();
      await trainQueue.close();
      await Promise.all([bull.connection.quit(), eventsBull.connection.quit()]);
    }
  } finally {
    await trainer.stop();
    await producer.close();
    await redis.quit();
  }
});

test("trainer: stopped mid-training, it returns within the shutdown deadline; the run is recorded as aborted, \
the job is not retried", async () => {
  const ns = uniqueName("tra");
  // 1000 epochs of ~140 steps: minutes of training unless the stop aborts it.
  const env = testEnv(ns, infra, { TRAIN_EPOCHS: "1000", TRAIN_BATCH_SIZE: "8", SHUTDOWN_DEADLINE: "5s" });
  const config = testConfig(env);
  const lines: string[] = [];
  const infoLogger = createLogger("trainer-abort-test", { level: "info", write: (l) => void lines.push(l) });
  const registry = createMetricsRegistry("trainer-abort-test");
  const trainer = await startTrainer(config, { logger: infoLogger, registry });
  const redis = await connectRedis({ redisUrl: infra.redisUrl }, logger);
  const bull = createBullConnection(config, logger);
  const trainQueue = new Queue<TrainJobData>(queueNames(ns).train, bull);
  let stopped = false;
  try {
    const events = syntheticEvents({
      users: 60,
      eventsPerUser: 20,
      items: 60,
      groups: 4,
      startTs: Date.now() - 3_600_000,
      tag: "x",
    });
    await produceEvents(config, events, logger);
    // Through BullMQ, as the schedule and `recfleet train` run it.
    assert.equal(await runTrainCli([], env, () => undefined), 0);
    const progressed = () => lines.some((l) => l.includes('"msg":"training progress"'));
    await waitFor("training to report progress", progressed, 60_000);
    const t0 = performance.now();
    await trainer.stop();
    stopped = true;
    const elapsed = performance.now() - t0;
    const deadline = config.shutdownDeadlineMs;
    assert.ok(elapsed < deadline, `stop() took ${Math.round(elapsed)} ms, past SHUTDOWN_DEADLINE=${deadline} ms`);

    const last = (await createTrainerState(redis, ns).lastOutcome()) as TrainOutcome | undefined;
    assert.equal(last?.status, "aborted", JSON.stringify(last));
    assert.equal(last?.reason, "shutdown");
    assert.match(last?.detail ?? "", /TrainingAbortedError/);
    // The job completed with that outcome: nothing waits to be retried; the next schedule trains again.
    const completed = await trainQueue.getJobs(["completed"]);
    assert.deepEqual(
      completed.map((j) => (j.returnvalue as TrainOutcome).status),
      ["aborted"],
    );
    assert.equal(await trainQueue.getJobCountByTypes("waiting", "delayed", "active", "failed"), 0);
    assert.deepEqual(await createModelRegistry(redis, ns).listVersions(), [], "an aborted run registered a version");
    // The fleet-wide lock was released, so the next run need not wait out its TTL.
    const lock = await createTrainerState(redis, ns).tryAcquireTrainingLock(config.trainLockTtlMs, logger);
    assert.ok(lock, "the training lock is still held");
    await lock.release();
  } finally {
    if (!stopped) await trainer.stop();
    await trainQueue.close();
    await bull.connection.quit();
    await redis.quit();
  }
});

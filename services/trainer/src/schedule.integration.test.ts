import { test } from "node:test";
import assert from "node:assert/strict";
import { Queue } from "bullmq";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { connectRedis, trainerKeys } from "@recfleet/store";
import { scanKeys } from "@recfleet/store/testing";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { createBullConnection, queueNames, startTrainer } from "./index";
import { testConfig, testEnv } from "./test-helpers";

const infra = testInfra();
const logger = createLogger("schedule-test", { level: "error" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("trainer: after Redis loses the BullMQ keys (a restart without persistence), the schedule and the concurrency limit come back and scheduled runs go on", async () => {
  const namespace = uniqueName("sched");
  const config = testConfig(testEnv(namespace, infra, { TRAIN_INTERVAL: "1s", TRAIN_SCHEDULE_REFRESH: "500ms" }));
  const redis = await connectRedis({ redisUrl: infra.redisUrl }, logger);
  const bull = createBullConnection(config, logger);
  const trainQueue = new Queue(queueNames(namespace).train, bull);
  const trainer = await startTrainer(config, { logger, registry: createMetricsRegistry("schedule-test") });
  const lastRunAt = async () => ((await trainer.state.lastOutcome()) as { at?: number } | undefined)?.at ?? 0;
  const dropBullKeys = async () => {
    const keys = await scanKeys(redis, `${trainerKeys(namespace).bullPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    return keys.length;
  };
  try {
    // With no events every run ends "skipped: not_enough_events" at once, and records when.
    await waitFor("a first scheduled run", async () => (await lastRunAt()) > 0, 15_000);
    assert.ok((await dropBullKeys()) > 0, "no BullMQ keys under the namespace's prefix");
    // A run already under way when the keys went may still finish and record its outcome.
    await sleep(300);
    await dropBullKeys();
    // A run taken before the keys went can still record its outcome after this point: wait for
    // the limit and the schedule to be back, then for a run that started after that.
    await waitFor(
      "the concurrency limit and the schedule to come back",
      async () =>
        (await trainQueue.getGlobalConcurrency()) === 1 &&
        (await trainQueue.getJobScheduler("train-schedule"))?.every === 1000,
      15_000,
    );
    const backAt = Date.now();
    await waitFor("a scheduled run after they came back", async () => (await lastRunAt()) > backAt, 15_000);
    assert.equal(await trainQueue.getGlobalConcurrency(), 1);
  } finally {
    await trainer.stop();
    await trainQueue.close();
    await bull.connection.quit();
    await redis.quit();
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createLogger } from "@recfleet/runtime";
import { decodeMessage, modelVersionSpec, topicNames, type ModelVersionAnnouncement } from "@recfleet/contracts";
import { createKafka, readTopic } from "@recfleet/bus";
import { modelKeys } from "@recfleet/store";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { trainOnce } from "./index";
import { openRunLeader, produceEvents, syntheticEvents, testConfig, testEnv } from "./test-helpers";

const infra = testInfra();
const logger = createLogger("trainer-scaling-test", { level: "warn" });

test("scaling: two trainer processes share embed-items jobs; one is SIGKILLed mid-embedding; every shard completes and the version is promoted once", async () => {
  const ns = uniqueName("trs");
  // 120 items in 24 shards of 5; each embed job takes ≥ 250 ms; a dead worker's job is re-queued within ~1-2 s.
  const env = testEnv(ns, infra, {
    EMBED_SHARD_SIZE: "5",
    EMBED_THROTTLE: "250ms",
    TRAINER_JOB_LOCK_DURATION: "1s",
    TRAINER_STALLED_INTERVAL: "1s",
    TRAIN_EPOCHS: "1",
    TRAINER_ROLE: "embed-only",
  });
  const config = testConfig(env);
  const child = (id: string): ChildProcess =>
    spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./main.ts", import.meta.url))], {
      env: { ...process.env, ...env, TRAINER_ID: id, LOG_LEVEL: "warn", METRICS_PORT: "0" },
      stdio: ["ignore", "ignore", "inherit"],
    });
  const a = child("worker-a");
  const b = child("worker-b");
  const exited = (p: ChildProcess) =>
    new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)));
  // This process leads the run (events' offset range → train → register → fan-out) but takes no embed jobs itself.
  const leader = await openRunLeader(config, logger);
  const { models, state } = leader.deps;
  try {
    const events = syntheticEvents({
      users: 60,
      eventsPerUser: 8,
      items: 120,
      groups: 6,
      startTs: Date.now() - 3_600_000,
      tag: "s",
    });
    await produceEvents(config, events, logger);
    const run = trainOnce(leader.deps, { reason: "test" });
    // Kill A once it has completed some shards (it is then inside its next job, mid-embedding).
    const version = await waitFor(
      "a version to be registered",
      async () => (await models.listVersions())[0]?.version,
      60_000,
    );
    const doneByA = async () => (await state.embeddedBy(version))["worker-a"] ?? 0;
    await waitFor("worker-a to complete two shards", async () => (await doneByA()) >= 2, 60_000);
    a.kill("SIGKILL");
    await exited(a);
    const startedByA = await state.shardStarters(version);
    const doneAtKill = await models.shardsDone(version);
    const outcome = await run;
    assert.equal(outcome.status, "promoted", JSON.stringify(outcome));
    if (outcome.status !== "promoted") return;
    assert.equal(outcome.version, version);
    const meta = (await models.getMeta(version))!;
    assert.equal(meta.shards, 24);
    assert.ok(doneAtKill < meta.shards, `the kill came after all shards were done (${doneAtKill})`);
    assert.equal(await models.shardsDone(version), 24);
    assert.equal((await models.readItemMatrix(version)).length, 120 * 16);
    // Both processes took work; the shard A held when it died was finished by B (stalled-job recovery).
    const by = outcome.embeddedBy;
    assert.ok((by["worker-a"] ?? 0) >= 2 && (by["worker-b"] ?? 0) >= 1, JSON.stringify(by));
    const startedNow = await state.shardStarters(version);
    const recovered = Object.entries(startedByA).filter(
      ([shard, w]) => w === "worker-a" && startedNow[shard] === "worker-b",
    );
    console.log(
      `# embedded by ${JSON.stringify(by)}; ${doneAtKill}/24 shards done at the kill; shards A held and B finished: ${recovered.map(([s]) => s).join(",") || "none"}`,
    );
    // Promoted exactly once: one entry in the promotion history, one announcement.
    const history = await leader.redis.lrange(modelKeys(ns).history, 0, -1);
    assert.deepEqual(history, [version]);
    const kafka = createKafka({ brokers: infra.brokers, clientId: "scaling-test", logger });
    const records = await readTopic(kafka, topicNames(ns).modelVersions, { idleMs: 2000, timeoutMs: 20_000 });
    const announced = records.flatMap((r) => {
      const d = decodeMessage<ModelVersionAnnouncement>(modelVersionSpec, r.value);
      return d.ok ? [d.value.version] : [];
    });
    assert.deepEqual(announced, [version]);
  } finally {
    a.kill("SIGKILL");
    b.kill("SIGTERM");
    await Promise.all([exited(a), exited(b)]);
    await leader.close();
  }
});

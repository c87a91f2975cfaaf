/**
 * Kafka secured as production runs it: a SASL_SSL broker (SCRAM-SHA-512, certificates made for
 * this test with openssl) with the StandardAuthorizer and the ACLs the topic catalog implies
 * (applyFleetAcls), one principal per worker. The ingest worker — its own main.ts — runs with
 * its credentials; a wrong password stops it at start with one line naming the variable; a
 * principal writing outside its grants is refused; no secret reaches a log.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { topicNames, TOPIC_WRITERS, type ClickstreamEvent } from "@recfleet/contracts";
import { createLogger } from "@recfleet/runtime";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { startKafka, type RunningKafka } from "@recfleet/stack";
import {
  applyFleetAcls,
  createKafka,
  createProducer,
  ensureFleetTopics,
  kafkaSecurity,
  readTopic,
  type Kafka,
} from "@recfleet/bus";
import { startWorker, stopWorkers, type RunningWorker } from "@recfleet/cli";

const infra = testInfra();
const logger = createLogger("security-test", { level: "error", write: () => {} });
const passwords: Record<string, string> = Object.fromEntries(
  ["admin", ...TOPIC_WRITERS].map((user) => [user, randomBytes(12).toString("hex")]),
);

function clientAs(broker: RunningKafka, user: string, password = passwords[user]!): Kafka {
  const security = kafkaSecurity({
    kafkaSsl: true,
    kafkaCaFile: broker.caFile,
    kafkaSaslMechanism: "scram-sha-512",
    kafkaSaslUsername: user,
    kafkaSaslPassword: password,
  });
  return createKafka({ brokers: [broker.brokers], clientId: `security-${user}`, logger, security });
}

function workerEnv(broker: RunningKafka, namespace: string, user: string, password: string): Record<string, string> {
  return {
    KAFKA_BROKERS: broker.brokers,
    KAFKA_SSL: "true",
    KAFKA_CA_FILE: broker.caFile!,
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD: password,
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: namespace,
    RECFLEET_PSEUDONYM_SECRET: randomBytes(24).toString("hex"),
    RECFLEET_TOPIC_PARTITIONS: "2",
    SHUTDOWN_DEADLINE: "5s",
  };
}

test("a SASL_SSL broker with catalog ACLs: ingest works with its credentials, a wrong password stops it, writes outside its grants are refused, no secret is logged", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-security-"));
  const broker = await startKafka({ dir, heapMb: 384, security: { users: passwords as { admin: string } } });
  const workers: RunningWorker[] = [];
  let failed = true;
  try {
    const namespace = uniqueName("sec");
    const topics = topicNames(namespace);
    const admin = clientAs(broker, "admin");
    await ensureFleetTopics(admin, namespace, { partitions: 2 });
    const created = await applyFleetAcls(admin, namespace, (writer) => writer);
    assert.ok(created > 10, `only ${created} ACLs`);

    // Ingest with its own principal: clickstream (written by the app principal) → events.
    const env = workerEnv(broker, namespace, "ingest", passwords.ingest!);
    const ingest = await startWorker("ingest", env, join(dir, "logs"));
    workers.push(ingest);
    await waitFor(
      "ingest to be ready over SASL_SSL",
      async () => (await fetch(`http://127.0.0.1:${ingest.metricsPort}/readyz`).catch(() => undefined))?.status === 200,
      90_000,
      250,
    );
    const app = await createProducer(clientAs(broker, "app"));
    const now = Date.now();
    const events: ClickstreamEvent[] = Array.from({ length: 20 }, (_, i) => ({
      eventId: `sec-${i}`,
      userId: `user-${i % 4}`,
      itemId: `item-${i}`,
      type: "click",
      ts: now - 1000 + i,
    }));
    await app.send(
      topics.clickstream,
      events.map((e) => ({ key: e.userId, value: e })),
    );
    const out = await readTopic(admin, topics.events, { until: (r) => r.length >= 20, timeoutMs: 60_000 });
    assert.equal(out.length, 20, "every event reached `events` through the secured broker");

    // The app principal may write clickstream but not events; ingest may not answer requests.
    await assert.rejects(
      app.send(topics.events, [{ key: "x", value: { forged: true } }]),
      /authoriz/i,
      "the app principal must not write the events topic",
    );
    await app.close();
    const asIngest = await createProducer(clientAs(broker, "ingest"));
    await assert.rejects(
      asIngest.send(topics.recommendations, [{ key: "x", value: { forged: true } }]),
      /authoriz/i,
      "ingest must not write recommendations",
    );
    await asIngest.close();

    // A wrong password: the worker stops at start (exit 2) with one error line naming the variable.
    const wrongEnv = workerEnv(broker, namespace, "ingest", "not-the-password");
    const wrong = await startWorker("ingest", wrongEnv, join(dir, "logs"), 1);
    workers.push(wrong);
    const code = await new Promise<number | null>((resolve) => {
      if (wrong.process.exitCode !== null) resolve(wrong.process.exitCode);
      else wrong.process.once("exit", (c) => resolve(c));
    });
    assert.equal(code, 2, `a refused password exits 2; see ${wrong.logPath}`);
    const errors = readFileSync(wrong.logPath, "utf8")
      .split("\n")
      .filter((line) => line.includes('"level":"error"'));
    assert.equal(errors.length, 1, `one error line, got:\n${errors.join("\n")}`);
    assert.match(errors[0]!, /KAFKA_SASL_PASSWORD/);
    assert.match(errors[0]!, /KAFKA_SASL_USERNAME \\"ingest\\"/);

    await stopWorkers(workers);
    // No password and no pseudonym secret in any line any worker wrote.
    for (const w of workers) {
      const log = readFileSync(w.logPath, "utf8");
      for (const [user, password] of Object.entries(passwords))
        assert.ok(!log.includes(password), `${user}'s password in ${w.logPath}`);
      assert.ok(!log.includes(env.RECFLEET_PSEUDONYM_SECRET!), `pseudonym secret in ${w.logPath}`);
    }
    failed = false;
  } finally {
    await stopWorkers(workers);
    await broker.stop();
    if (failed) console.error(`# security test files (broker log, worker logs) kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
});

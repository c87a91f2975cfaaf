/**
 * Erasure on the running fleet, with crypto-shredding on (RECFLEET_MASTER_KEY set):
 *
 *   user U's events flow through ingest → events (sealed with U's data key) → features (Redis),
 *   and training runs read them from `events`; U gets recommendations, so the decision log holds U's
 *   decisions (sealed). Then `recfleet erase-user --user U` runs while every worker is up.
 *
 * Afterwards: a scan of the whole Redis finds neither U's raw id nor U's pseudonym, and U's data
 * key is gone; reading `events` and `rec.log` from the beginning with the workers' own decoder
 * (decodeSealedOr + openSealed) yields no readable record of U — each is counted as shredded —
 * while every other record still opens; a training run's offset range, read again, yields nothing of U; a retrain
 * after the erasure does not fail. Erasing again is a no-op with a receipt.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  canonicalEventSpec,
  decisionLogSpec,
  type CanonicalEvent,
  type ClickstreamEvent,
  type DecisionLogRecord,
  type EventType,
  type MessageSpec,
} from "@recfleet/contracts";
import { readTopic, type Kafka } from "@recfleet/bus";
import {
  asSealed,
  createUserKeyring,
  decodeSealedOr,
  openSealed,
  pseudonymise,
  storeKeys,
  type UserKeyring,
} from "@recfleet/store";
import { findInSnapshot, snapshotRedis } from "@recfleet/store/testing";
import { runEraseUserCli } from "@recfleet/features";
import { createKafkaTrainingWindow, runTrainCli } from "@recfleet/trainer";
import { testInfra, uniqueName } from "@recfleet/testkit";
import {
  prng,
  produceClickstream,
  requestRecommendations,
  startFleet,
  trainAndPromote,
  waitForEvents,
} from "./fleet-helpers";

const infra = testInfra();

/** Reads a topic from the beginning and opens every record as the workers do; tallies by key id. */
async function readSealed<T>(kafka: Kafka, topic: string, spec: MessageSpec, keyring: UserKeyring, expected: number) {
  const records = await readTopic(kafka, topic, {
    until: (r) => r.length >= expected,
    idleMs: 2000,
    timeoutMs: 60_000,
  });
  const decoded = records.map((r) => decodeSealedOr<T>(spec, r.value, Number.MAX_SAFE_INTEGER / 2));
  assert.ok(
    decoded.every((d) => d.ok && asSealed(d.value)),
    `every record on ${topic} is sealed`,
  );
  const values = decoded.flatMap((d) => (d.ok ? [d.value] : []));
  const opened = await openSealed<T>(keyring, values, spec, { fresh: true, now: Number.MAX_SAFE_INTEGER / 2 });
  return values.map((v, i) => ({ kid: asSealed(v)!.k, key: records[i]!.key, outcome: opened[i]! }));
}

test("erasure: crypto-shredding reaches events, the training window and the decision log on a running fleet", async () => {
  const masterKey = randomBytes(32);
  const fleet = await startFleet(infra, "erase", {
    // Our own key (startFleet sets a random one), so this test can open what the workers sealed.
    RECFLEET_MASTER_KEY: masterKey.toString("hex"),
    TRAIN_MIN_EVENTS: "300",
    DECISION_LOG: "true",
  });
  let failed = true;
  try {
    // 60 users × 12 events over 60 items in 6 clusters; the victim is user 0 with 20 events.
    const rand = prng(11);
    const run = uniqueName("er");
    const users = Array.from({ length: 60 }, (_, u) => `${run}-person${u}@example.com`);
    const victim = users[0]!;
    const items = Array.from({ length: 60 }, (_, i) => `er-item-${i}`);
    const types: EventType[] = ["view", "view", "click", "purchase"];
    const now = Date.now();
    const events: ClickstreamEvent[] = [];
    users.forEach((userId, u) => {
      const n = u === 0 ? 20 : 12;
      for (let j = 0; j < n; j++) {
        const item = rand() < 0.85 ? (u % 6) * 10 + Math.floor(rand() * 10) : Math.floor(rand() * 60);
        events.push({
          eventId: `${run}-u${u}-e${j}`,
          userId,
          itemId: items[item]!,
          type: types[Math.floor(rand() * types.length)]!,
          ts: now - 30 * 60_000 + u * 1000 + j * 10,
        });
      }
    });
    const victimEvents = events.filter((e) => e.userId === victim).length;
    await produceClickstream(fleet, events);
    await waitForEvents(fleet, events.length);
    await trainAndPromote(fleet);
    // Recommendations for the victim and a few others: the decision log gets the victim's decisions.
    const asked = users.slice(0, 6);
    const answers = await requestRecommendations(
      fleet,
      asked.map((userId, i) => ({ requestId: `${run}-q${i}`, userId, ts: Date.now(), k: 5 })),
    );
    assert.equal(answers.size, asked.length);

    const secret = fleet.env.RECFLEET_PSEUDONYM_SECRET!;
    const pseudonym = pseudonymise(secret, victim);
    const { redis, namespace, topics, kafka } = fleet;
    const victimKid = ((await redis.get(storeKeys(namespace).userDataKey(pseudonym))) ?? "").split(".")[0]!;
    assert.match(victimKid, /^[0-9a-f]{32}$/, "the victim has a data key");
    const keyring = createUserKeyring(redis, namespace, masterKey, { cacheSize: 0, cacheTtlMs: 0 });
    // The training window as a run reads it: an offset range of `events`, opened with fresh keys.
    const window = createKafkaTrainingWindow({
      kafka,
      namespace,
      topic: topics.events,
      maxEvents: 1e6,
      maxAgeMs: 86_400_000,
      keyring,
    });
    const range = await window.plan(Date.now());

    // Before: everything of the victim is there and readable.
    const eventsBefore = await readSealed<CanonicalEvent>(
      kafka,
      topics.events,
      canonicalEventSpec,
      keyring,
      events.length,
    );
    const victimBefore = eventsBefore.filter((r) => r.outcome.ok && r.outcome.value.user === pseudonym);
    assert.equal(victimBefore.length, victimEvents);
    assert.ok(
      victimBefore.every((r) => r.kid === victimKid && r.key === victimKid),
      "keyed and sealed by key id",
    );
    const decisionsBefore = await readSealed<DecisionLogRecord>(kafka, topics.recLog, decisionLogSpec, keyring, 1);
    const victimDecisions = decisionsBefore.filter((r) => r.kid === victimKid).length;
    assert.ok(victimDecisions >= 1, "the decision log holds the victim's decisions");
    assert.ok(decisionsBefore.every((r) => r.outcome.ok));
    const windowBefore = await window.read(range);
    assert.equal(windowBefore.events.filter((e) => e.user === pseudonym).length, victimEvents);
    assert.equal(windowBefore.shredded, 0);

    // Erase while every worker runs.
    const lines: string[] = [];
    assert.equal(await runEraseUserCli(["--user", victim], fleet.env, (l) => lines.push(l)), 0);
    const receipt = JSON.parse(lines[0]!) as { receiptId: string; keysDeleted: number; dataKeyDeleted: boolean };
    assert.equal(receipt.dataKeyDeleted, true);
    // The data key and its by-id copy, and the user's state hash (history, seen items, watermarks).
    assert.ok(receipt.keysDeleted >= 3, `keys deleted: ${receipt.keysDeleted}`);
    assert.ok(
      !lines.join("").includes(victim) && !lines.join("").includes(pseudonym) && !lines.join("").includes(victimKid),
    );
    // Idempotent: again → exit 0, nothing left to delete, a second receipt.
    const again: string[] = [];
    assert.equal(await runEraseUserCli(["--user", victim], fleet.env, (l) => again.push(l)), 0);
    assert.deepEqual(
      [(JSON.parse(again[0]!) as { keysDeleted: number }).keysDeleted, JSON.parse(again[0]!).dataKeyDeleted],
      [0, false],
    );

    // Redis: nothing of the victim, anywhere in the database; the data key is gone.
    const everything = await snapshotRedis(redis, "*");
    assert.deepEqual(findInSnapshot(everything, pseudonym), [], "pseudonym in Redis after erasure");
    assert.deepEqual(findInSnapshot(everything, victim), [], "raw id in Redis after erasure");
    assert.equal(await redis.exists(storeKeys(namespace).dataKey(victimKid)), 0);

    // Kafka, re-read from the beginning with the workers' decoder: the victim's copies are noise.
    const eventsAfter = await readSealed<CanonicalEvent>(
      kafka,
      topics.events,
      canonicalEventSpec,
      keyring,
      events.length,
    );
    const shredded = eventsAfter.filter((r) => !r.outcome.ok && r.outcome.shredded);
    assert.equal(shredded.length, victimEvents, "every event of the victim is shredded");
    assert.ok(shredded.every((r) => r.kid === victimKid));
    assert.equal(eventsAfter.filter((r) => r.outcome.ok && r.outcome.value.user === pseudonym).length, 0);
    assert.equal(
      eventsAfter.filter((r) => r.outcome.ok).length,
      eventsAfter.length - victimEvents,
      "others still open",
    );
    const decisionsAfter = await readSealed<DecisionLogRecord>(kafka, topics.recLog, decisionLogSpec, keyring, 1);
    assert.equal(decisionsAfter.filter((r) => !r.outcome.ok).length, victimDecisions);
    assert.equal(decisionsAfter.filter((r) => r.outcome.ok).length, decisionsAfter.length - victimDecisions);
    // The same offset range read again (a replayed run): the victim's events no longer open.
    const windowAfter = await window.read(range);
    assert.equal(windowAfter.events.filter((e) => e.user === pseudonym).length, 0);
    assert.equal(windowAfter.shredded, victimEvents, "the victim's events are unreadable to a training run");
    assert.equal(windowAfter.events.length, windowBefore.events.length - victimEvents);

    // A retrain after the erasure trains on the others and does not fail.
    const trainLines: string[] = [];
    const code = await runTrainCli(["--wait", "--timeout", "4m"], fleet.env, (l) => trainLines.push(l));
    const outcome = JSON.parse(trainLines.at(-1) ?? "{}") as { status?: string; reason?: string };
    assert.equal(code, 0, trainLines.join("\n"));
    assert.ok(outcome.status === "promoted" || outcome.status === "rejected", JSON.stringify(outcome));
    console.log(
      `# erasure: victim ${victimEvents} events + ${victimDecisions} decisions shredded; ` +
        `${eventsAfter.length - victimEvents} other events and ${decisionsAfter.length - victimDecisions} other decisions open; ` +
        `window ${windowBefore.events.length} → ${windowAfter.events.length} (+${windowAfter.shredded} shredded); receipt keys ${receipt.keysDeleted}; retrain ${outcome.status}`,
    );
    failed = false;
  } catch (err) {
    console.error(`# erasure failed; ${fleet.describeLogs()}`);
    throw err;
  } finally {
    await fleet.stop({ keepLogs: failed });
  }
});

/**
 * The whole fleet with one Redis ACL user per worker (store's redisAclRules): events in,
 * training and promotion, recommendations out — and no worker ever refused by Redis. If a worker
 * touches a key family its role does not grant, this fails with NOPERM in that worker's log.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import type { ClickstreamEvent, RecRequest } from "@recfleet/contracts";
import { redisAclRules, type RedisRole } from "@recfleet/store";
import { testInfra } from "@recfleet/testkit";
import {
  prng,
  produceClickstream,
  requestRecommendations,
  startFleet,
  trainAndPromote,
  waitForEvents,
  WORKERS,
} from "../e2e/fleet-helpers";

const infra = testInfra();

test("the fleet runs with one Redis ACL user per worker: events in, a promoted model, every request answered, no NOPERM", async () => {
  const admin = new Redis(infra.redisUrl);
  const users: string[] = [];
  const secrets: string[] = [];
  const fleet = await startFleet(
    infra,
    "redisacl",
    {},
    {
      async workerEnv(worker, namespace) {
        const user = `${namespace}-${worker}`;
        const password = randomBytes(12).toString("hex");
        await admin.call("ACL", "SETUSER", user, ...redisAclRules(namespace, worker as RedisRole, password));
        users.push(user);
        secrets.push(password);
        const url = new URL(infra.redisUrl);
        url.username = user;
        url.password = password;
        return { REDIS_URL: url.toString() };
      },
    },
  );
  let failed = true;
  try {
    const rand = prng(7);
    const now = Date.now();
    const events: ClickstreamEvent[] = [];
    for (let u = 0; u < 40; u++)
      for (let j = 0; j < 12; j++) {
        const item = (u % 4) * 10 + Math.floor(rand() * 10);
        events.push({
          eventId: `acl-${u}-${j}`,
          userId: `u${u}`,
          itemId: `i${item}`,
          type: "click",
          ts: now - 60_000 + j,
        });
      }
    await produceClickstream(fleet, events);
    await waitForEvents(fleet, events.length);
    const { version } = await trainAndPromote(fleet);
    const requests: RecRequest[] = Array.from({ length: 10 }, (_, i) => ({
      requestId: `acl-q${i}`,
      userId: `u${i}`,
      ts: Date.now(),
      k: 5,
    }));
    const answers = await requestRecommendations(fleet, requests);
    assert.equal(answers.size, requests.length, "every request answered");
    for (const rec of answers.values()) {
      assert.equal(rec.modelVersion, version);
      assert.equal(rec.items.length, 5);
    }
    for (const worker of WORKERS) {
      const log = readFileSync(fleet.worker(worker).logPath, "utf8");
      const refused = log.split("\n").filter((line) => /NOPERM|WRONGPASS/.test(line));
      assert.deepEqual(refused, [], `${worker} was refused by Redis`);
      for (const secret of secrets) assert.ok(!log.includes(secret), `a Redis password in ${worker}'s log`);
    }
    failed = false;
  } finally {
    await fleet.stop({ keepLogs: failed });
    if (failed) console.error(`# ${fleet.describeLogs()}`);
    for (const user of users) await admin.call("ACL", "DELUSER", user);
    admin.disconnect();
  }
});

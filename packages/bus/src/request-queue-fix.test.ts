import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { fixIdleRequestQueueLoop, kafkajsRequestQueue } from "./request-queue-fix";

const logger = { debug() {}, info() {}, warn() {}, error() {} };

function idleQueue() {
  const RequestQueue = kafkajsRequestQueue();
  const queue = new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    clientId: "t",
    broker: "b",
    logger,
  });
  let checks = 0;
  const check = queue.checkPendingRequests.bind(queue);
  queue.checkPendingRequests = () => {
    checks++;
    check();
  };
  return { queue, checks: () => checks };
}

test("kafkajs request queue: idle, it no longer checks every millisecond; a waiting request is still checked", async () => {
  fixIdleRequestQueueLoop();
  const idle = idleQueue();
  idle.queue.scheduleCheckPendingRequests(); // what kafkajs does after every response
  await sleep(100);
  assert.equal(idle.checks(), 0, "an idle queue schedules nothing (kafkajs 2.2.4 checked ~every ms)");

  // A request held back (here: throttled for 30 ms) is sent once the throttle ends.
  const held = idleQueue();
  const sent: string[] = [];
  held.queue.throttledUntil = Date.now() + 30;
  held.queue.pending.push({ send: () => sent.push("r1") });
  (held.queue as unknown as { sendSocketRequest(r: { send(): void }): void }).sendSocketRequest = (r) => r.send();
  held.queue.scheduleCheckPendingRequests();
  await sleep(100);
  assert.deepEqual(sent, ["r1"]);
  assert.ok(held.checks() >= 1);
  assert.equal(held.queue.throttleCheckTimeoutId, null, "and after that nothing is scheduled");
});

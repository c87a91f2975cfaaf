import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "./log";
import { createShutdown } from "./shutdown";

const logger = createLogger("shutdown-test", { write: () => undefined });

test("shutdown: steps run once, in reverse order of registration, even when one fails", async () => {
  const exits: number[] = [];
  const shutdown = createShutdown({ logger, deadlineMs: 5000, exit: (c) => void exits.push(c), installSignals: false });
  const ran: string[] = [];
  shutdown.onShutdown("http", () => void ran.push("http"));
  shutdown.onShutdown("consumer", async () => {
    await sleep(20);
    ran.push("consumer");
  });
  shutdown.onShutdown("broken", () => {
    ran.push("broken");
    throw new Error("close failed");
  });
  assert.equal(shutdown.stopping, false);
  const first = shutdown.shutdown("test");
  assert.equal(shutdown.stopping, true);
  assert.equal(shutdown.shutdown("again"), first, "a second call joins the running shutdown");
  await first;
  await shutdown.shutdown("after");
  assert.deepEqual(ran, ["broken", "consumer", "http"]);
  assert.equal(await shutdown.started, "test");
  assert.deepEqual(exits, [], "shutdown() itself never exits the process");
});

test("shutdown: a step that outlives the deadline makes the process exit with 1 at the deadline", async () => {
  const exits: { code: number; at: number }[] = [];
  const t0 = performance.now();
  const shutdown = createShutdown({
    logger,
    deadlineMs: 100,
    exit: (code) => void exits.push({ code, at: performance.now() - t0 }),
    installSignals: false,
  });
  shutdown.onShutdown("stuck", () => new Promise<void>(() => undefined));
  void shutdown.shutdown("test");
  await sleep(300);
  assert.equal(exits.length, 1);
  assert.equal(exits[0]!.code, 1);
  assert.ok(exits[0]!.at >= 90 && exits[0]!.at < 250, `exited after ${exits[0]!.at} ms`);
});

test("shutdown: steps that finish in time clear the deadline", async () => {
  const exits: number[] = [];
  const shutdown = createShutdown({ logger, deadlineMs: 50, exit: (c) => void exits.push(c), installSignals: false });
  shutdown.onShutdown("quick", async () => void (await sleep(5)));
  await shutdown.shutdown("test");
  await sleep(100);
  assert.deepEqual(exits, []);
});

test("shutdown: SIGTERM shuts down then exits 0; a second signal exits 1 at once", async () => {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const shutdown = createShutdown({ logger, deadlineMs: 5000, exit: (c) => void exits.push(c), signals });
  let release: () => void = () => undefined;
  shutdown.onShutdown("slow", () => new Promise<void>((r) => (release = r)));
  signals.emit("SIGTERM");
  assert.equal(shutdown.stopping, true);
  assert.equal(await shutdown.started, "SIGTERM");
  assert.deepEqual(exits, []);
  signals.emit("SIGINT");
  assert.deepEqual(exits, [1], "the second signal did not force the exit");
  release();
  await sleep(10);
  assert.deepEqual(exits, [1, 0]);
});

test("shutdown: one SIGINT completes the steps and exits 0", async () => {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const shutdown = createShutdown({ logger, deadlineMs: 5000, exit: (c) => void exits.push(c), signals });
  const ran: string[] = [];
  shutdown.onShutdown("a", () => void ran.push("a"));
  signals.emit("SIGINT");
  await sleep(10);
  assert.deepEqual(ran, ["a"]);
  assert.deepEqual(exits, [0]);
});

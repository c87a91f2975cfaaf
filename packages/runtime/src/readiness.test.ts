import { test } from "node:test";
import assert from "node:assert/strict";
import { createMetricsRegistry } from "./metrics";
import { createReadiness } from "./readiness";
import { startHttpServer } from "./http";

test("readiness: ready only while every probe passes; failing, throwing and hanging probes are listed", async () => {
  const readiness = createReadiness({ timeoutMs: 50 });
  assert.deepEqual(await readiness.evaluate(), { ready: false, failing: ["no readiness checks registered"] });
  let member = true;
  readiness.addReadinessCheck("consumer", () => member);
  readiness.addReadinessCheck("redis", async () => true);
  assert.deepEqual(await readiness.evaluate(), { ready: true, failing: [] });
  member = false;
  readiness.addReadinessCheck("throws", () => {
    throw new Error("connection refused");
  });
  readiness.addReadinessCheck("hangs", () => new Promise<boolean>(() => {}));
  assert.deepEqual(await readiness.evaluate(), { ready: false, failing: ["consumer", "throws", "hangs"] });
  assert.throws(() => readiness.addReadinessCheck("redis", () => true), /registered twice/);
});

test("/readyz answers from the probes at request time and names the failing ones", async () => {
  const readiness = createReadiness();
  let fetching = true;
  readiness.addReadinessCheck("consumer:g", () => fetching);
  const http = await startHttpServer({
    port: 0,
    host: "127.0.0.1",
    registry: createMetricsRegistry("t"),
    readiness: () => readiness.evaluate(),
  });
  try {
    const get = async () => {
      const res = await fetch(`http://127.0.0.1:${http.port}/readyz`);
      return [res.status, await res.text()];
    };
    assert.deepEqual(await get(), [200, "ready\n"]);
    fetching = false;
    assert.deepEqual(await get(), [503, "not ready: consumer:g\n"]);
  } finally {
    await http.close();
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, createMetricsRegistry } from "@recfleet/runtime";
import { startStreamWorker } from "./stream-worker";

test("stream worker: a consumer group the catalog does not list on the input topic is refused before connecting", async () => {
  await assert.rejects(
    startStreamWorker({
      service: "features",
      // Unreachable on purpose: the check must come before any connection attempt.
      config: { kafkaBrokers: ["127.0.0.1:1"], namespace: "t", partitions: 1 },
      logger: createLogger("t", { level: "error" }),
      registry: createMetricsRegistry("t"),
      input: "clickstream",
      group: "features",
      decode: (value) => ({ ok: true, value }),
      createHandler: () => async () => {},
    }),
    (err: Error) => err instanceof TypeError && /no consumer group "features" on clickstream/.test(err.message),
  );
});

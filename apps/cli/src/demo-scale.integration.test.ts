/**
 * The demo's scale mode end to end at a small size, against the test run's Kafka and Redis: the
 * four workers as child processes, the synthetic clickstream through ingest and features, one
 * training run, and timed requests. It must promote a model, answer every request, and end with
 * the DEMO-SCALE JSON line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testInfra } from "@recfleet/testkit";
import { runDemoScale } from "./demo-scale";

const infra = testInfra();

test("demo --scale: 20k events through the fleet, a model promoted, every request answered", async () => {
  const out = mkdtempSync(join(tmpdir(), "recfleet-demo-scale-"));
  const lines: string[] = [];
  const args = ["--scale", "20000", "--users", "2000", "--items", "1000", "--requests", "200", "--out", out];
  let code: number | undefined;
  try {
    code = await runDemoScale(args, {
      print: (line) => void lines.push(line),
      stack: { brokers: infra.brokers.join(","), redisUrl: infra.redisUrl, env: infra.env },
      // Quick and quiet: CPU only (no CUDA fallback warnings), two epochs.
      env: { EXECUTION_PROVIDERS: "cpu", TRAIN_EPOCHS: "2", LOG_LEVEL: "warn" },
      progressSeconds: 5,
    });
  } catch (err) {
    console.error(lines.join("\n"));
    throw err;
  }
  if (code !== 0) console.error(lines.join("\n"));
  // The JSON line ends the summary (only the fleet-stop note follows it).
  const jsonLine = lines.find((l) => l.startsWith('{"bench":"DEMO-SCALE"'));
  assert.ok(jsonLine, `no DEMO-SCALE line in:\n${lines.join("\n")}`);
  const json = JSON.parse(jsonLine) as Record<string, unknown>;
  assert.equal(code, 0);
  assert.equal(json.bench, "DEMO-SCALE");
  assert.equal(json.events, 20000);
  assert.equal(json.promoted, true);
  assert.equal(json.unanswered, 0);
  assert.equal(json.served, 200);
  assert.ok(Number(json.pipeline_events_per_s) > 0);
  rmSync(out, { recursive: true, force: true });
});

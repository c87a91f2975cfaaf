/**
 * The alerts and the Grafana dashboard (apps/deploy, infra/k8s, infra/grafana) read metrics by
 * name. This starts the real fleet, scrapes every worker's /metrics, and fails when an alert or
 * panel names a metric that no worker exports (a renamed metric would otherwise leave an alert
 * that can never fire).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { monitoredMetricNames } from "@recfleet/deploy";
import { testInfra } from "@recfleet/testkit";
import { startFleet, WORKERS } from "./fleet-helpers";

/** Metric names a /metrics page declares (its `# TYPE` lines), present even before a first observation. */
async function declaredMetrics(port: number): Promise<Set<string>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const names = (await res.text()).split("\n").flatMap((line) => /^# TYPE (\S+) /.exec(line)?.[1] ?? []);
  return new Set(names);
}

test("every metric the alerts and the dashboard read is exported by a running worker", async () => {
  const fleet = await startFleet(testInfra(), "metricnames");
  let failed = true;
  try {
    const exported = new Set<string>();
    for (const name of WORKERS)
      for (const metric of await declaredMetrics(fleet.worker(name).metricsPort)) exported.add(metric);
    assert.ok(exported.size > 30, `only ${exported.size} metrics scraped`);
    const missing = monitoredMetricNames().filter((name) => !exported.has(name));
    assert.deepEqual(missing, [], `alerts or dashboard panels read metrics no worker exports: ${missing.join(", ")}`);
    failed = false;
  } finally {
    await fleet.stop({ keepLogs: failed });
  }
});

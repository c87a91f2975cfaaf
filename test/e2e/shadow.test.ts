/**
 * Shadow policies on the whole fleet (real Kafka, Redis and the four workers): an exploring
 * policy serves with greedy in shadow (SHADOW_POLICIES), and greedy also runs alone on its own
 * fleet on the same simulated world (same seed, same users). The shadow estimate — IPS from the
 * probabilities the scorer logged, with its anytime-valid bound — must cover greedy's on-policy
 * CTR from its own fleet; `recfleet policy promote` must refuse while the bound is too wide
 * (here: fewer records than asked for) and leave the serving policy alone.
 *
 * Direction: the serving policy explores and the shadow is the exploiting one. The other way
 * round (greedy serving, an exploring shadow) cannot work by importance weighting: greedy never
 * shows the slates the shadow explores, so any such estimate misses that mass (shown in process
 * in packages/policy/src/shadow.test.ts, and by the mean slate weight printed by `ope --shadow`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createKeyringFromConfig, createStore, shredConfigSchema } from "@recfleet/store";
import { loadConfig } from "@recfleet/runtime";
import { testInfra } from "@recfleet/testkit";
import {
  allowPoliciesEnv,
  attributedRecords,
  onPolicyCtr,
  promotionFor,
  readFleetLogs,
  runPolicyCli,
  shadowReport,
  simulateOnFleet,
  type LocalFleet,
} from "@recfleet/cli";
import { startFleet, WORKERS, type Fleet } from "./fleet-helpers";

const infra = testInfra();
const SEED = 3;
const STEPS = 60;
const WINDOW_MS = 30 * 60_000;

function asLocalFleet(fleet: Fleet): LocalFleet {
  return {
    brokers: infra.brokers.join(","),
    redisUrl: infra.redisUrl,
    namespace: fleet.namespace,
    env: fleet.env,
    workers: WORKERS.map((name) => fleet.worker(name)),
    stop: () => fleet.stop(),
  };
}

async function runAlone(label: string, serving: string, env: Record<string, string>): Promise<Fleet> {
  const fleet = await startFleet(infra, label, {
    POLICY_SPLIT: `${serving}:1`,
    ...allowPoliciesEnv([serving]),
    POLICY_SEED: "11",
    ...env,
  });
  try {
    await simulateOnFleet(asLocalFleet(fleet), {
      seed: SEED,
      steps: STEPS,
      requestsPerStep: 24,
      split: [{ policy: serving, weight: 1 }],
      stepMs: 0,
      retrainEvery: 20,
      outDir: join(tmpdir(), `recfleet-${fleet.namespace}`),
      onProgress: () => {},
      progressEvery: STEPS,
    });
  } catch (err) {
    console.error(`# ${label} failed; ${fleet.describeLogs()}`);
    await fleet.stop({ keepLogs: true });
    throw err;
  }
  return fleet;
}

test("shadow: greedy beside epsilon:0.3 — the shadow's bound covers greedy's CTR on its own fleet; promote refuses a wide bound", async () => {
  const shadowed = await runAlone("shadow", "epsilon:0.3", { SHADOW_POLICIES: "greedy" });
  const alone = await runAlone("greedy-alone", "greedy", {});
  try {
    // The fleets run with crypto-shredding on: open the sealed logs with each fleet's master key.
    const keyringOf = (fleet: Fleet) =>
      createKeyringFromConfig(fleet.redis, fleet.namespace, loadConfig(shredConfigSchema, fleet.env));
    const truthLogs = await readFleetLogs(infra.brokers, alone.namespace, ["click"], keyringOf(alone));
    const truth = onPolicyCtr(attributedRecords(truthLogs, WINDOW_MS).filter((r) => r.policyId === "greedy"));
    const logs = await readFleetLogs(infra.brokers, shadowed.namespace, ["click"], keyringOf(shadowed));
    const rows = shadowReport(logs, WINDOW_MS);
    const row = rows.find((r) => r.shadow.shadowId === "greedy");
    const withShadow = logs.decisions.filter((d) => d.shadow !== undefined).length;
    assert.ok(
      row,
      `no shadow estimate in ${shadowed.namespace}: ${logs.decisions.length} decisions (${withShadow} with shadow), policies ${JSON.stringify([...new Set(logs.decisions.map((d) => d.policyId))])}`,
    );
    const model = logs.decisions.filter((d) => d.policyId === "epsilon:0.3");
    assert.ok(model.length > 0 && model.every((d) => d.shadow?.["greedy"]?.length === d.items.length));
    const bound = row.shadow.sequence!;
    const slack = 1.96 * truth.stdError; // greedy's own CTR is measured too
    console.log(
      `# shadow greedy: IPS ${row.shadow.ips.estimate.toFixed(4)}, anytime-valid [${bound.low.toFixed(4)}, ${bound.high.toFixed(4)}] from ${row.shadow.n} slates; ` +
        `greedy on its own fleet ${truth.ctr.toFixed(4)} ± ${slack.toFixed(4)} (${truth.n} slates); serving epsilon:0.3 ${row.servingCtr.ctr.toFixed(4)}`,
    );
    assert.ok(
      bound.low - slack <= truth.ctr && truth.ctr <= bound.high + slack,
      `greedy's CTR ${truth.ctr} outside the shadow bound [${bound.low}, ${bound.high}]`,
    );

    // Promotion refuses while the bound is too wide: the CLI against the fleet's Redis and Kafka.
    // As an operator runs it: with the fleet's master key, so the sealed decision logs open.
    const env = {
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.brokers.join(","),
      RECFLEET_MASTER_KEY: shadowed.env.RECFLEET_MASTER_KEY!,
    };
    const code = await runPolicyCli(
      ["promote", "--candidate", "greedy", "--namespace", shadowed.namespace, "--min-records", "1000000"],
      env,
    );
    assert.equal(code, 1);
    assert.equal(promotionFor(rows, "greedy", 1_000_000).promote, false);
    assert.equal(await createStore(shadowed.redis, shadowed.namespace).readServingPolicy(), undefined);
  } catch (err) {
    console.error(`# shadow test failed; ${shadowed.describeLogs()}\n${alone.describeLogs()}`);
    await shadowed.stop({ keepLogs: true });
    await alone.stop({ keepLogs: true });
    throw err;
  }
  await shadowed.stop();
  await alone.stop();
});

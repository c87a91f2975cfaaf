/**
 * Shadow policies on the whole fleet (real Kafka, Redis and the four workers), in the issue's
 * direction: greedy serves with epsilon:0.3 in shadow (SHADOW_POLICIES), and epsilon:0.3 also
 * runs alone on its own fleet on the same simulated world (same seed, same users) for the truth.
 *
 * Greedy never shows the slates the explorer would, so IPS from the logged probabilities misses
 * that mass (its mean slate weight says how much). The doubly robust estimate covers it with a
 * reward model fitted on greedy's own slots (σ(per-rank intercept + β·model score)) and corrects
 * that model with the logged probabilities where greedy's slate is the shadow's: per slot the
 * shadow's conditional probability of greedy's item is (1−ε)+ε/n. Greedy's slots cannot tell how
 * the items it never shows would be clicked, so DR stays above the truth by about what exploring
 * costs; the support bound (IPS's lower end, which needs no model, to DR's upper end with unshown
 * items rated like greedy's at the same rank) must hold epsilon:0.3's on-policy CTR from its own
 * fleet, within the truth's own sampling error. `recfleet policy promote` gates on that bound's
 * lower end: it must refuse on too few records and on a bound that does not clear greedy's CTR,
 * and leave the serving policy alone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createKeyringFromConfig, createStore, shredConfigSchema } from "@recfleet/store";
import { loadConfig } from "@recfleet/runtime";
import { testInfra } from "@recfleet/testkit";
import { createPolicy, estimateShadowDr } from "@recfleet/policy";
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

test("shadow: epsilon:0.3 beside greedy — its CTR on its own fleet is inside the support bound, DR is far nearer it than IPS; promote refuses a wide bound", async () => {
  // Both fleets at once (the file has a 10-minute budget on a shared machine); if one fails, the other stops too.
  const [first, second] = await Promise.allSettled([
    runAlone("shadow", "greedy", { SHADOW_POLICIES: "epsilon:0.3" }),
    runAlone("eps-alone", "epsilon:0.3", {}),
  ]);
  if (first.status === "rejected" || second.status === "rejected") {
    for (const r of [first, second]) if (r.status === "fulfilled") await r.value.stop();
    throw first.status === "rejected" ? first.reason : (second as PromiseRejectedResult).reason;
  }
  const shadowed = first.value;
  const alone = second.value;
  try {
    // The fleets run with crypto-shredding on: open the sealed logs with each fleet's master key.
    const keyringOf = (fleet: Fleet) =>
      createKeyringFromConfig(fleet.redis, fleet.namespace, loadConfig(shredConfigSchema, fleet.env));
    const truthLogs = await readFleetLogs(infra.brokers, alone.namespace, ["click"], keyringOf(alone));
    const truth = onPolicyCtr(attributedRecords(truthLogs, WINDOW_MS).filter((r) => r.policyId === "epsilon:0.3"));
    const logs = await readFleetLogs(infra.brokers, shadowed.namespace, ["click"], keyringOf(shadowed));
    const rows = shadowReport(logs, WINDOW_MS);
    const row = rows.find((r) => r.shadow.shadowId === "epsilon:0.3");
    const withShadow = logs.decisions.filter((d) => d.shadow !== undefined).length;
    assert.ok(
      row,
      `no shadow estimate in ${shadowed.namespace}: ${logs.decisions.length} decisions (${withShadow} with shadow), policies ${JSON.stringify([...new Set(logs.decisions.map((d) => d.policyId))])}`,
    );
    const served = logs.decisions.filter((d) => d.policyId === "greedy");
    assert.ok(served.length > 0 && served.every((d) => d.shadow?.["epsilon:0.3"]?.length === d.items.length));
    const bound = row.dr.sequence!;
    const slack = 1.96 * truth.stdError; // epsilon:0.3's own CTR is measured too
    // Convergence: the bound from the first half of the records, then from all of them.
    const half = estimateShadowDr(
      attributedRecords(logs, WINDOW_MS)
        .filter((r) => r.policyId === "greedy")
        .slice(0, Math.floor(row.dr.n / 2)),
      createPolicy("epsilon:0.3"),
    ).sequence!;
    console.log(
      `# shadow epsilon:0.3 beside greedy: DR ${row.dr.dr.estimate.toFixed(4)}, anytime-valid [${bound.low.toFixed(4)}, ${bound.high.toFixed(4)}] from ${row.dr.n} slates ` +
        `(half of them: [${half.low.toFixed(4)}, ${half.high.toFixed(4)}]); direct method ${row.dr.direct.toFixed(4)}, ` +
        `${(row.dr.unsupportedMass * 100).toFixed(1)}% of the shadow's slot mass unseen by greedy; IPS ${row.shadow.ips.estimate.toFixed(4)} ` +
        `(mean slate weight ${row.shadow.meanSlateWeight.toFixed(3)}); epsilon:0.3 on its own fleet ${truth.ctr.toFixed(4)} ± ${slack.toFixed(4)} (${truth.n} slates); ` +
        `serving greedy ${row.servingCtr.ctr.toFixed(4)}`,
    );
    assert.ok(
      row.dr.unsupportedMass > 0.2,
      `greedy should leave much of the explorer's mass unseen: ${row.dr.unsupportedMass}`,
    );
    // The DR bound does not reliably cover the truth here. Greedy shows about 20 of the ~135
    // candidate items, always its top-scored ones, so the slots cannot tell how the rest would be
    // clicked: the reward model's slope fits at 0 (fitScoreRankRewardModel keeps it ≥ 0) and the
    // explorer's draws are rated like greedy's own picks, an estimate above the truth by about what
    // exploring costs (DR 0.1118–0.1165 vs 0.1011–0.1101 in four runs). What holds run to run, and
    // is asserted: DR is much nearer the truth than weighting alone, which cannot see those slates.
    const covered = bound.low - slack <= truth.ctr && truth.ctr <= bound.high + slack;
    console.log(`# epsilon:0.3's CTR ${covered ? "inside" : "outside"} the DR bound widened by its own error`);
    assert.ok(
      Math.abs(row.dr.dr.estimate - truth.ctr) < Math.abs(row.shadow.ips.estimate - truth.ctr) / 2,
      `DR ${row.dr.dr.estimate} is not nearer epsilon:0.3's CTR ${truth.ctr} than IPS ${row.shadow.ips.estimate}`,
    );
    assert.ok(bound.high - bound.low < half.high - half.low, "the bound narrows as records arrive");
    // The support bound (IPS's lower end, DR's upper end with a rank-only model) holds what the
    // point estimates cannot: epsilon:0.3's CTR on its own fleet is inside it.
    const support = row.dr.bound!;
    console.log(`# support bound [${support.low.toFixed(4)}, ${support.high.toFixed(4)}]`);
    assert.ok(
      support.low - slack <= truth.ctr && truth.ctr <= support.high + slack,
      `epsilon:0.3's CTR ${truth.ctr} outside the support bound [${support.low}, ${support.high}] widened by ${slack}`,
    );

    // Promotion refuses while the bound is too wide: the CLI against the fleet's Redis and Kafka.
    // As an operator runs it: with the fleet's master key, so the sealed decision logs open.
    const env = {
      REDIS_URL: infra.redisUrl,
      KAFKA_BROKERS: infra.brokers.join(","),
      RECFLEET_MASTER_KEY: shadowed.env.RECFLEET_MASTER_KEY!,
    };
    const code = await runPolicyCli(
      ["promote", "--candidate", "epsilon:0.3", "--namespace", shadowed.namespace, "--min-records", "1000000"],
      env,
    );
    assert.equal(code, 1);
    assert.equal(promotionFor(rows, "epsilon:0.3", 1_000_000).promote, false);
    // With enough records it still refuses: the bound's lower end (what greedy's slates alone show)
    // is far below greedy's CTR.
    const gate = promotionFor(rows, "epsilon:0.3", 200);
    assert.equal(gate.promote, false, gate.reason);
    assert.ok(support.low < row.servingCtr.ctr);
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

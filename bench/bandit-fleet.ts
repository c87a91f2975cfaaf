/**
 * BANDIT-SIM with the whole fleet in the loop (BENCHMARKS.md): for each seed a fresh fleet
 * (ingest, features, trainer, scorer) serves the simulated world, greedy and an exploring
 * policy side by side; prints clicks per request, CTR, regret, coverage and Gini per policy per
 * seed, the mean and spread of the lift, then (with --ope) each of --ope-policies on its own fleet
 * with the first seed's world, and the off-policy estimates of every (logger, target) pair whose
 * true CTRs differ clearly: per estimator bias, RMSE and CI coverage, beside the naive logged CTR.
 * Skipped pairs are printed with the reason.
 *
 *   node --import tsx bench/bandit-fleet.ts [--seeds 1,2,3,4,5] [--steps 150] [--policy thompson:16,lift=1] [--side-by-side] [--ope | --ope-only]
 *
 * By default each policy runs on its own fleet per seed (its own model, bandit statistics and
 * training data), on the same simulated world: side by side, the explorer's clicks also train
 * the model greedy uses, which hides part of exploration's value.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readStackState, stackDown, REPO_ROOT } from "@recfleet/stack";
import { uniqueName } from "@recfleet/testkit";
import type { FleetSimulationReport } from "@recfleet/simulator";
import { createPolicy, meanAndSpread, type OffPolicyEstimate } from "@recfleet/policy";
import {
  allowPoliciesEnv,
  startLocalFleet,
  readFleetLogsWithKeys,
  offPolicyReport,
  simulateOnFleet,
  type Logs,
} from "@recfleet/cli";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1,2,3,4,5" },
    steps: { type: "string", default: "200" },
    requests: { type: "string", default: "24" },
    "step-ms": { type: "string", default: "0" },
    "retrain-every": { type: "string", default: "15" },
    policy: { type: "string", default: "thompson:16,lift=1,prior=3" },
    ope: { type: "boolean", default: false },
    "ope-only": { type: "boolean", default: false },
    /** side-by-side: both policies share one fleet (and its model); default: each policy gets its own fleet. */
    "side-by-side": { type: "boolean", default: false },
    "ope-steps": { type: "string", default: "200" },
    /** Policies whose truth is measured on their own fleet (";" between specs). */
    // epsilon:1 (uniform over the candidates) is the strongly exploring target whose CTR is
    // clearly below the others'; greedy, epsilon:0.3 and epsilon:0.8 are within ~0.01 of each other.
    "ope-policies": { type: "string", default: "greedy;epsilon:0.3;epsilon:0.8;epsilon:1" },
    /** Policies whose logs are used for estimates (they must explore: greedy's logs support only greedy). */
    "ope-loggers": { type: "string", default: "epsilon:0.3;epsilon:0.8" },
    out: { type: "string", default: join(REPO_ROOT, "out", "bench-bandit") },
  },
});
const hadStack = readStackState() !== undefined;
const started = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${line}`);

async function runFleet(
  seed: number,
  split: { policy: string; weight: number }[],
  steps: number,
  tag: string,
): Promise<{ report: FleetSimulationReport; namespace: string; brokers: string; env: Record<string, string> }> {
  const namespace = uniqueName(`bandit-${tag}-s${seed}`);
  // Training at fixed steps (not on a wall-clock schedule) keeps runs comparable across policies.
  // The simulator names each request's policy; the scorer answers only the policies it allows.
  const env = { TRAIN_INTERVAL: "0", ...allowPoliciesEnv(split.map((share) => share.policy)) };
  const logDir = join(values.out!, "logs", namespace);
  const fleet = await startLocalFleet({ namespace, logDir, keepStack: true, log: () => {}, env });
  try {
    const report = await simulateOnFleet(fleet, {
      seed,
      steps,
      requestsPerStep: Number(values.requests),
      split,
      stepMs: Number(values["step-ms"]),
      retrainEvery: Number(values["retrain-every"]),
      outDir: join(values.out!, namespace),
      onProgress: (line) => say(`  seed ${seed}: ${line}`),
      progressEvery: 50,
    });
    return { report, namespace, brokers: fleet.brokers, env: fleet.env };
  } finally {
    await fleet.stop();
  }
}

const perRequest = (p: { clicks: number; answered: number }) => p.clicks / Math.max(1, p.answered);
const seeds = values.seeds!.split(",").map(Number);
const rows: {
  seed: number;
  greedy: FleetSimulationReport["policies"][number];
  explorer: FleetSimulationReport["policies"][number];
}[] = [];
// --ope-only: skip the lift runs (the OPE runs still use the first seed's world).
for (const seed of values["ope-only"] ? [] : seeds) {
  let greedy: FleetSimulationReport["policies"][number];
  let explorer: FleetSimulationReport["policies"][number];
  let unanswered = 0;
  if (values["side-by-side"]) {
    say(`seed ${seed}: greedy vs ${values.policy} side by side on one fresh fleet …`);
    const { report } = await runFleet(
      seed,
      [
        { policy: "greedy", weight: 1 },
        { policy: values.policy!, weight: 1 },
      ],
      Number(values.steps),
      "split",
    );
    greedy = report.policies.find((p) => p.policy === "greedy")!;
    explorer = report.policies.find((p) => p.policy !== "greedy")!;
    unanswered = report.unanswered;
  } else {
    // Each policy closes its own loop (its own model, statistics and training data) on the same world.
    say(`seed ${seed}: greedy on its own fresh fleet …`);
    const g = await runFleet(seed, [{ policy: "greedy", weight: 1 }], Number(values.steps), "greedy");
    say(`seed ${seed}: ${values.policy} on its own fresh fleet …`);
    const e = await runFleet(seed, [{ policy: values.policy!, weight: 1 }], Number(values.steps), "explorer");
    greedy = g.report.policies[0]!;
    explorer = e.report.policies[0]!;
    unanswered = g.report.unanswered + e.report.unanswered;
  }
  rows.push({ seed, greedy, explorer });
  say(
    `seed ${seed}: clicks/request greedy ${perRequest(greedy).toFixed(3)} vs ${explorer.policy} ${perRequest(explorer).toFixed(3)} (lift ${((perRequest(explorer) / perRequest(greedy) - 1) * 100).toFixed(1)}%), coverage ${greedy.coverage.toFixed(3)} vs ${explorer.coverage.toFixed(3)}, unanswered ${unanswered}`,
  );
}
console.log(
  `\nseed  greedy clicks/req  ${values.policy} clicks/req  lift     greedy cov  explorer cov  greedy regret/req  explorer regret/req`,
);
for (const r of rows) {
  console.log(
    `${String(r.seed).padEnd(5)} ${perRequest(r.greedy).toFixed(4).padStart(17)}  ${perRequest(r.explorer)
      .toFixed(4)
      .padStart(
        17 + values.policy!.length - 8,
      )}  ${((perRequest(r.explorer) / perRequest(r.greedy) - 1) * 100).toFixed(1).padStart(5)}%   ${r.greedy.coverage.toFixed(3).padStart(9)}  ${r.explorer.coverage.toFixed(3).padStart(12)}  ${(r.greedy.regret / r.greedy.answered).toFixed(4).padStart(17)}  ${(r.explorer.regret / r.explorer.answered).toFixed(4).padStart(19)}`,
  );
}
const lifts = rows.map((r) => perRequest(r.explorer) / perRequest(r.greedy) - 1);
const lift = meanAndSpread(lifts);
const greedyCoverage = meanAndSpread(rows.map((r) => r.greedy.coverage));
const explorerCoverage = meanAndSpread(rows.map((r) => r.explorer.coverage));
if (rows.length > 0)
  console.log(
    `lift of ${values.policy} over greedy: mean ${(lift.mean * 100).toFixed(1)}% sd ${(lift.sd * 100).toFixed(1)}% (min ${(lift.min * 100).toFixed(1)}%, max ${(lift.max * 100).toFixed(1)}%) over ${rows.length} seeds; coverage greedy ${greedyCoverage.mean.toFixed(3)} vs ${explorerCoverage.mean.toFixed(3)}`,
  );

// OPE that can tell good estimates from bad: every policy of --ope-policies closes its own loop
// on its own fleet with the same world seed (the same simulated users), so a target's truth is
// its on-policy CTR there; each exploring policy's logs then estimate every other policy, and
// only pairs whose true CTRs differ clearly are scored (else even the naive logged CTR "covers").
const ope: unknown[] = [];
if (values["ope-only"]) values.ope = true;
const opeSkipped: { logged: string; target: string; reason: string }[] = [];
const opeSummary: Record<string, { bias: number; rmse: number; coverage: number; pairs: number }> = {};
if (values.ope) {
  // Canonical ids throughout: the scorer logs createPolicy(spec).id, never the spec as typed.
  const policies = [...new Set(values["ope-policies"]!.split(";").map((spec) => createPolicy(spec).id))];
  const loggers = [...new Set(values["ope-loggers"]!.split(";").map((spec) => createPolicy(spec).id))];
  const seed = seeds[0]!;
  const records = new Map<string, Logs>();
  // A fleet that fails (e.g. a worker too slow to start on a loaded machine) costs its pairs, not
  // the whole run: each pair it was part of is printed as skipped with the failure.
  const failed = new Map<string, string>();
  for (const policy of new Set([...policies, ...loggers])) {
    say(`OPE: ${policy} on its own fresh fleet (seed ${seed}) …`);
    try {
      const fleet = await runFleet(seed, [{ policy, weight: 1 }], Number(values["ope-steps"]), "ope");
      // The fleet seals its logs (crypto-shredding): open them with its master key and data keys.
      records.set(policy, await readFleetLogsWithKeys([fleet.brokers], fleet.namespace, ["click"], fleet.env));
    } catch (err) {
      failed.set(policy, err instanceof Error ? err.message.split("\n")[0]! : String(err));
      say(`OPE: ${policy}'s fleet failed: ${failed.get(policy)}`);
    }
  }
  const truthOf = (policy: string) => {
    const r = offPolicyReport(records.get(policy)!, policy, policy, 30 * 60_000);
    return r?.loggedCtr;
  };
  type Row = {
    logged: string;
    target: string;
    truth: number;
    naive: number;
    estimates: Record<string, OffPolicyEstimate>;
  };
  const rowsOpe: Row[] = [];
  for (const logged of loggers) {
    for (const target of policies) {
      if (target === logged) continue;
      const failure = failed.get(logged) ?? failed.get(target);
      if (failure !== undefined) {
        opeSkipped.push({ logged, target, reason: `fleet failed: ${failure}` });
        continue;
      }
      const truth = truthOf(target);
      const report = offPolicyReport(records.get(logged)!, logged, target, 30 * 60_000);
      if (!report || !truth) {
        opeSkipped.push({
          logged,
          target,
          reason: !report ? `no decisions logged by ${logged}` : `no records of ${target}`,
        });
        continue;
      }
      // "Clearly different": the true CTRs differ by more than 3 standard errors of the difference.
      const se = Math.hypot(truth.stdError, report.loggedCtr.stdError);
      if (Math.abs(truth.ctr - report.loggedCtr.ctr) <= 3 * se) {
        opeSkipped.push({
          logged,
          target,
          reason: `on-policy CTRs not clearly different (${report.loggedCtr.ctr.toFixed(4)} vs ${truth.ctr.toFixed(4)}, 3·se ${(3 * se).toFixed(4)})`,
        });
        continue;
      }
      const naive: OffPolicyEstimate = {
        estimate: report.loggedCtr.ctr,
        stdError: report.loggedCtr.stdError,
        ciLow: report.loggedCtr.ctr - 1.96 * report.loggedCtr.stdError,
        ciHigh: report.loggedCtr.ctr + 1.96 * report.loggedCtr.stdError,
      };
      rowsOpe.push({
        logged,
        target,
        truth: truth.ctr,
        naive: naive.estimate,
        estimates: { naive, ips: report.result.ips, snips: report.result.snips, dr: report.result.dr },
      });
    }
  }
  for (const skip of opeSkipped) console.log(`OPE pair skipped: ${skip.logged} → ${skip.target}: ${skip.reason}`);
  const inside = (e: OffPolicyEstimate, truth: number) => truth >= e.ciLow && truth <= e.ciHigh;
  console.log(
    "\nlogged → target                       truth (own fleet)   naive (logged CTR)   IPS [95% CI]   SNIPS [95% CI]   DR [95% CI]",
  );
  for (const r of rowsOpe) {
    const cell = (e: OffPolicyEstimate) =>
      `${e.estimate.toFixed(4)} [${e.ciLow.toFixed(4)}, ${e.ciHigh.toFixed(4)}]${inside(e, r.truth) ? "" : " ✗"}`;
    console.log(
      `${`${r.logged} → ${r.target}`.padEnd(37)} ${r.truth.toFixed(4).padStart(8)}   ${r.naive.toFixed(4).padStart(10)}   ${cell(r.estimates["ips"]!)}   ${cell(r.estimates["snips"]!)}   ${cell(r.estimates["dr"]!)}`,
    );
    ope.push({ logged: r.logged, target: r.target, truth: r.truth, ...r.estimates });
  }
  for (const name of ["naive", "ips", "snips", "dr"]) {
    const errors = rowsOpe.map((r) => r.estimates[name]!.estimate - r.truth);
    if (errors.length === 0) continue;
    opeSummary[name] = {
      bias: errors.reduce((a, b) => a + b, 0) / errors.length,
      rmse: Math.sqrt(errors.reduce((a, b) => a + b * b, 0) / errors.length),
      coverage: rowsOpe.filter((r) => inside(r.estimates[name]!, r.truth)).length / rowsOpe.length,
      pairs: errors.length,
    };
    const m = opeSummary[name]!;
    console.log(
      `${name.padEnd(6)} bias ${m.bias.toFixed(4)}  RMSE ${m.rmse.toFixed(4)}  coverage ${m.coverage.toFixed(2)} over ${m.pairs} pairs`,
    );
  }
}
if (!hadStack) await stackDown(undefined, () => {});
console.log(
  JSON.stringify({
    bench: "BANDIT-SIM",
    fleet: true,
    mode: values["side-by-side"] ? "side-by-side" : "isolated",
    policy: values.policy,
    seeds,
    steps: Number(values.steps),
    lift_mean: lift.mean,
    lift_sd: lift.sd,
    lift_min: lift.min,
    greedy_coverage: greedyCoverage.mean,
    explorer_coverage: explorerCoverage.mean,
    per_seed: rows.map((r) => ({ seed: r.seed, greedy: perRequest(r.greedy), explorer: perRequest(r.explorer) })),
    ope,
    ope_skipped: opeSkipped,
    ope_summary: opeSummary,
  }),
);

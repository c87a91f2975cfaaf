/**
 * BANDIT-SIM with the whole fleet in the loop (BENCHMARKS.md): for each seed a fresh fleet
 * (ingest, features, trainer, scorer) serves the simulated world, greedy and an exploring
 * policy side by side; prints clicks per request, CTR, regret, coverage and Gini per policy per
 * seed, the mean and spread of the lift, then (with --ope) one run with four policies and the
 * off-policy estimates of several (logged, target) pairs next to the target's on-policy CTR.
 *
 *   node --import tsx bench/bandit-fleet.ts [--seeds 1,2,3,4,5] [--steps 150] [--policy thompson:16,lift=1] [--side-by-side] [--ope]
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
import { meanAndSpread } from "@recfleet/policy";
import { allowPoliciesEnv, startLocalFleet, readFleetLogs, offPolicyReport, simulateOnFleet } from "@recfleet/cli";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "1,2,3,4,5" },
    steps: { type: "string", default: "200" },
    requests: { type: "string", default: "24" },
    "step-ms": { type: "string", default: "0" },
    "retrain-every": { type: "string", default: "15" },
    policy: { type: "string", default: "thompson:16,lift=1,prior=3" },
    ope: { type: "boolean", default: false },
    /** side-by-side: both policies share one fleet (and its model); default: each policy gets its own fleet. */
    "side-by-side": { type: "boolean", default: false },
    "ope-steps": { type: "string", default: "200" },
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
): Promise<{ report: FleetSimulationReport; namespace: string; brokers: string }> {
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
    return { report, namespace, brokers: fleet.brokers };
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
for (const seed of seeds) {
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
console.log(
  `lift of ${values.policy} over greedy: mean ${(lift.mean * 100).toFixed(1)}% sd ${(lift.sd * 100).toFixed(1)}% (min ${(lift.min * 100).toFixed(1)}%, max ${(lift.max * 100).toFixed(1)}%) over ${rows.length} seeds; coverage greedy ${greedyCoverage.mean.toFixed(3)} vs ${explorerCoverage.mean.toFixed(3)}`,
);

const ope: unknown[] = [];
if (values.ope) {
  const policies = ["greedy", "epsilon:0.3", "softmax:1", values.policy!];
  say(`OPE run: ${policies.join(", ")} side by side …`);
  const { namespace, brokers } = await runFleet(
    seeds[0]!,
    policies.map((policy) => ({ policy, weight: 1 })),
    Number(values["ope-steps"]),
    "ope",
  );
  const logs = await readFleetLogs([brokers], namespace, ["click"]);
  const pairs: [string, string][] = [
    ["epsilon:0.3", "greedy"],
    ["softmax:1", "greedy"],
    ["epsilon:0.3", "softmax:1"],
    ["softmax:1", "epsilon:0.3"],
    [values.policy!, "greedy"],
  ];
  console.log(
    "\nlogged → target                      on-policy CTR (±1.96se)    SNIPS [95% CI]               DR [95% CI]                  within CI (SNIPS, DR)",
  );
  for (const [logged, target] of pairs) {
    const r = offPolicyReport(logs, logged, target, 30 * 60_000);
    if (!r || !r.targetOnPolicy) continue;
    const truth = r.targetOnPolicy.ctr;
    const inside = (e: { ciLow: number; ciHigh: number }) => truth >= e.ciLow && truth <= e.ciHigh;
    console.log(
      `${`${logged} → ${target}`.padEnd(36)} ${truth.toFixed(4)} (±${(1.96 * r.targetOnPolicy.stdError).toFixed(4)})      ${r.result.snips.estimate.toFixed(4)} [${r.result.snips.ciLow.toFixed(4)}, ${r.result.snips.ciHigh.toFixed(4)}]   ${r.result.dr.estimate.toFixed(4)} [${r.result.dr.ciLow.toFixed(4)}, ${r.result.dr.ciHigh.toFixed(4)}]   ${inside(r.result.snips) ? "yes" : "no"}, ${inside(r.result.dr) ? "yes" : "no"}`,
    );
    ope.push({
      logged,
      target,
      on_policy: truth,
      snips: r.result.snips,
      dr: r.result.dr,
      snips_within: inside(r.result.snips),
      dr_within: inside(r.result.dr),
    });
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
  }),
);

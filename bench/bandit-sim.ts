// BANDIT-SIM (in-process): exploring policies against greedy in a world with new items arriving,
// over several seeds. Prints a table and ends with one JSON line.
//
//   node --import tsx bench/bandit-sim.ts [--seeds 5] [--steps 300] [--out DIR]
//
// With --out, also writes DIR/bandit-sim-ctr.csv and DIR/bandit-sim-ctr.svg (CTR over time,
// seed 1) and DIR/bandit-sim-regret.svg.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { lineChart, writeChart } from "@recfleet/charts";
import {
  bucketRates,
  catalogCoverage,
  createPolicy,
  cumulativeRegret,
  exposureGini,
  meanAndSpread,
  simulateInProcess,
  toCsv,
  type PolicyRun,
  type WorldConfig,
} from "@recfleet/policy";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "5" },
    steps: { type: "string", default: "300" },
    k: { type: "string", default: "5" },
    requests: { type: "string", default: "20" },
    policies: {
      type: "string",
      default:
        "greedy,epsilon:0.05,softmax:0.3,ucb:2,ucb:2,lift=1,thompson:16,lift=1,thompson:16,lift=1+budget:2,linucb:1,lints:0.1,samples=16",
    },
    out: { type: "string" },
  },
});

const seeds = Number(values.seeds);
const steps = Number(values.steps);
const k = Number(values.k);
const requestsPerStep = Number(values.requests);
const specs = values.policies.split(",").map((s) => s.trim());
// A spec may contain "," inside its arguments; re-join pieces that start with a key=value.
const policySpecs: string[] = [];
for (const piece of specs) {
  if (/^[a-z]+=/.test(piece) && policySpecs.length > 0) policySpecs[policySpecs.length - 1] += `,${piece}`;
  else policySpecs.push(piece);
}

const started = performance.now();
const runsBySeed: PolicyRun[][] = [];
for (let seed = 1; seed <= seeds; seed++) {
  const policies = policySpecs.map((spec) => createPolicy(spec));
  // A different world per seed too, so the spread covers worlds as well as click noise.
  const world: WorldConfig = { seed: 2024 + seed };
  runsBySeed.push(simulateInProcess(world, policies, { steps, k, seed, requestsPerStep }));
}
const elapsedS = (performance.now() - started) / 1000;

interface Row {
  policy: string;
  clicks: ReturnType<typeof meanAndSpread>;
  liftPct: ReturnType<typeof meanAndSpread>;
  coverage: number;
  gini: number;
  regret: number;
  ctr: number;
  newShare: number;
}

const greedyIndex = policySpecs.indexOf("greedy");
const rows: Row[] = policySpecs.map((_, p) => {
  const runs = runsBySeed.map((seedRuns) => seedRuns[p] as PolicyRun);
  const clicks = runs.map((r) => r.totalClicks);
  const lifts = runsBySeed.map((seedRuns) => {
    const base = greedyIndex >= 0 ? (seedRuns[greedyIndex] as PolicyRun).totalClicks : NaN;
    return (100 * ((seedRuns[p] as PolicyRun).totalClicks - base)) / base;
  });
  const average = (f: (r: PolicyRun) => number): number => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    policy: (runs[0] as PolicyRun).policyId,
    clicks: meanAndSpread(clicks),
    liftPct: meanAndSpread(lifts),
    coverage: average((r) => catalogCoverage(r.exposure, r.catalogSize)),
    gini: average((r) => exposureGini(r.exposure, r.catalogSize)),
    regret: average((r) => cumulativeRegret(r.oracleExpectedClicksPerStep, r.expectedClicksPerStep).at(-1) ?? 0),
    ctr: average((r) => r.totalClicks / r.impressionsPerStep.reduce((a, b) => a + b, 0)),
    newShare: average((r) => r.newItemImpressions / r.impressionsPerStep.reduce((a, b) => a + b, 0)),
  };
});

const pad = (text: string, width: number): string => text.padEnd(width);
console.log(
  `BANDIT-SIM in-process: ${seeds} seeds × ${steps} steps × ${requestsPerStep} requests, k=${k} (${elapsedS.toFixed(1)} s)`,
);
console.log(
  pad("policy", 30) +
    pad("clicks mean ± sd [min,max]", 34) +
    pad("lift vs greedy", 20) +
    pad("CTR", 8) +
    pad("coverage", 10) +
    pad("gini", 7) +
    pad("regret", 9) +
    "new-item share",
);
for (const row of rows) {
  const { clicks, liftPct } = row;
  console.log(
    pad(row.policy, 30) +
      pad(`${clicks.mean.toFixed(0)} ± ${clicks.sd.toFixed(0)} [${clicks.min},${clicks.max}]`, 34) +
      pad(`${liftPct.mean >= 0 ? "+" : ""}${liftPct.mean.toFixed(1)}% ± ${liftPct.sd.toFixed(1)}`, 20) +
      pad(row.ctr.toFixed(4), 8) +
      pad(row.coverage.toFixed(3), 10) +
      pad(row.gini.toFixed(3), 7) +
      pad(row.regret.toFixed(0), 9) +
      row.newShare.toFixed(3),
  );
}

const exploring = rows.filter((_, p) => p !== greedyIndex);
const best = exploring.reduce((a, b) => (b.clicks.mean > a.clicks.mean ? b : a));
const greedy = greedyIndex >= 0 ? rows[greedyIndex] : undefined;

if (values.out !== undefined) {
  mkdirSync(values.out, { recursive: true });
  const firstSeed = runsBySeed[0] as PolicyRun[];
  const bucket = Math.max(1, Math.floor(steps / 30));
  const ctrSeries = firstSeed.map((run) => ({
    name: run.policyId,
    rates: bucketRates(run.clicksPerStep, run.impressionsPerStep, bucket),
  }));
  const csvRows = (ctrSeries[0]?.rates ?? []).map((_, b) => [
    b * bucket,
    ...ctrSeries.map((s) => Number((s.rates[b] ?? 0).toFixed(5))),
  ]);
  writeFileSync(join(values.out, "bandit-sim-ctr.csv"), toCsv(["step", ...ctrSeries.map((s) => s.name)], csvRows));
  writeChart(
    values.out,
    "bandit-sim-ctr",
    lineChart({
      title: `CTR per ${bucket}-step bucket (seed 1)`,
      xLabel: "step",
      yLabel: "CTR",
      yInclude: 0,
      series: ctrSeries.map((s) => ({ name: s.name, points: s.rates.map((r, b) => [b * bucket, r] as const) })),
    }),
  );
  writeChart(
    values.out,
    "bandit-sim-regret",
    lineChart({
      title: "Cumulative regret vs oracle (seed 1)",
      xLabel: "step",
      yLabel: "expected clicks lost",
      yInclude: 0,
      series: firstSeed.map((run) => ({
        name: run.policyId,
        points: cumulativeRegret(run.oracleExpectedClicksPerStep, run.expectedClicksPerStep).map(
          (r, i) => [i, r] as const,
        ),
      })),
    }),
  );
  console.log(`wrote ${values.out}/bandit-sim-ctr.csv, bandit-sim-ctr.svg/.png, bandit-sim-regret.svg/.png`);
}

console.log(
  JSON.stringify({
    bench: "BANDIT-SIM",
    mode: "in-process",
    seeds,
    steps,
    k,
    requests_per_step: requestsPerStep,
    best_policy: best.policy,
    best_clicks_mean: Number(best.clicks.mean.toFixed(1)),
    best_clicks_sd: Number(best.clicks.sd.toFixed(1)),
    baseline_policy: "greedy",
    baseline_clicks_mean: greedy === undefined ? null : Number(greedy.clicks.mean.toFixed(1)),
    baseline_clicks_sd: greedy === undefined ? null : Number(greedy.clicks.sd.toFixed(1)),
    lift_pct_mean: Number(best.liftPct.mean.toFixed(2)),
    lift_pct_sd: Number(best.liftPct.sd.toFixed(2)),
    ratio: greedy === undefined ? null : Number((best.clicks.mean / greedy.clicks.mean).toFixed(4)),
    best_coverage: Number(best.coverage.toFixed(4)),
    baseline_coverage: greedy === undefined ? null : Number(greedy.coverage.toFixed(4)),
    policies: rows.map((r) => ({
      policy: r.policy,
      clicks_mean: Number(r.clicks.mean.toFixed(1)),
      clicks_sd: Number(r.clicks.sd.toFixed(1)),
      lift_pct: Number(r.liftPct.mean.toFixed(2)),
      coverage: Number(r.coverage.toFixed(4)),
      gini: Number(r.gini.toFixed(4)),
      regret: Number(r.regret.toFixed(1)),
    })),
    elapsed_s: Number(elapsedS.toFixed(1)),
  }),
);

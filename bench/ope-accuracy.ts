/**
 * OPE-ACCURACY: how close each off-policy estimator gets to a known truth. In-process simulator
 * (packages/policy sim-world: position-based clicks, no learning, a stationary world), so the
 * target's expected clicks per slate is known from a long on-policy run. For every (logged,
 * target) pair and run, the logging policy serves `--steps`×20 requests (the model's top
 * `--candidates` items, slates of `--k`), and every estimator estimates the target's clicks per
 * slate from those logs: the per-slot estimators of ope.ts (IPS, SNIPS, DR; per-slot CTR × K) and
 * the slate estimators of slate-ope.ts (SIPS, RIPS, IIPS, pseudoinverse, cascade DR). Per
 * estimator: bias, RMSE and how often its 95% interval covered the truth; the naive estimate —
 * the logging policy's own clicks per slate — is the baseline to beat. Ends with one JSON line.
 *
 *   node --import tsx bench/ope-accuracy.ts [--runs 20] [--steps 25] [--k 3] [--candidates 8]
 */
import { parseArgs } from "node:util";
import {
  createPolicy,
  estimateOffPolicy,
  estimateSlateOffPolicy,
  modelScorer,
  simulateInProcess,
  SLATE_ESTIMATORS,
  type Scorer,
  type WorldConfig,
} from "@recfleet/policy";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "20" },
    steps: { type: "string", default: "25" },
    k: { type: "string", default: "3" },
    candidates: { type: "string", default: "8" },
    "truth-steps": { type: "string", default: "1000" },
  },
});
const runs = Number(values.runs);
const steps = Number(values.steps);
const k = Number(values.k);
const candidates = Number(values.candidates);
const truthSteps = Number(values["truth-steps"]);
const REQUESTS_PER_STEP = 20;

const world: WorldConfig = {
  seed: 2026,
  initialItems: 40,
  arrivalsPerStep: 0,
  itemLifetimeSteps: Infinity,
  driftRate: 0,
  noveltyBoost: 0,
};
const model = modelScorer();
const topCandidates: Scorer = (view) =>
  model(view)
    .sort((a, b) => b.score - a.score)
    .slice(0, candidates);

// Loggers explore; targets span exploiting and exploring, so true values differ across pairs.
const PAIRS: [string, string][] = [
  ["epsilon:0.3", "greedy"],
  ["softmax:1", "greedy"],
  ["softmax:1", "softmax:0.3"],
  ["epsilon:0.5", "epsilon:0.1"],
  ["epsilon:0.5", "softmax:0.5"],
  ["softmax:0.5", "epsilon:0.2"],
];

const started = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);

/** Expected clicks per slate of a policy run on-policy (true click probabilities, no click noise). */
const truthCache = new Map<string, number>();
function truthOf(spec: string): number {
  const known = truthCache.get(spec);
  if (known !== undefined) return known;
  const [run] = simulateInProcess(world, [createPolicy(spec)], {
    steps: truthSteps,
    k,
    seed: 999_001,
    learn: false,
    scorer: topCandidates,
  });
  const value = run!.expectedClicksPerStep.reduce((a, b) => a + b, 0) / (truthSteps * REQUESTS_PER_STEP);
  truthCache.set(spec, value);
  return value;
}

type Interval = { estimate: number; ciLow: number; ciHigh: number };
const NAMES = ["naive", "ips", "snips", "dr", ...SLATE_ESTIMATORS] as const;
type Name = (typeof NAMES)[number];
const errors = new Map<Name, number[]>(NAMES.map((n) => [n, []]));
const covered = new Map<Name, number>(NAMES.map((n) => [n, 0]));
const ess = new Map<Name, number[]>(NAMES.map((n) => [n, []]));
const maxWeights = new Map<Name, number>(NAMES.map((n) => [n, 0]));

say(
  `OPE-ACCURACY: ${PAIRS.length} pairs × ${runs} runs, ${steps * REQUESTS_PER_STEP} logged slates each, k=${k}, top ${candidates} candidates`,
);
for (const [logged, target] of PAIRS) {
  const truth = truthOf(target);
  const pairErrors = new Map<Name, number[]>(NAMES.map((n) => [n, []]));
  for (let run = 0; run < runs; run++) {
    const [loggedRun] = simulateInProcess(world, [createPolicy(logged)], {
      steps,
      k,
      seed: 10_000 + run,
      learn: false,
      recordLogs: true,
      scorer: topCandidates,
    });
    const logs = loggedRun!.logs!;
    const targetPolicy = createPolicy(target);
    const perSlot = estimateOffPolicy(logs, targetPolicy, { seed: run + 1 });
    const slate = estimateSlateOffPolicy(logs, targetPolicy, {
      seed: run + 1,
      loggingPolicy: () => createPolicy(logged),
    });
    const clicksPerSlate = logs.map((r) => r.slate.filter((s) => s.clicked).length);
    const naiveMean = clicksPerSlate.reduce((a, b) => a + b, 0) / logs.length;
    const naiveSe = Math.sqrt(
      clicksPerSlate.reduce((a, v) => a + (v - naiveMean) ** 2, 0) / (logs.length - 1) / logs.length,
    );
    // Per-slot estimates are clicks per slot; × K is clicks per slate (every slate has K slots here).
    const scaled = (e: Interval): Interval => ({ estimate: e.estimate * k, ciLow: e.ciLow * k, ciHigh: e.ciHigh * k });
    const intervals: Record<Name, Interval> = {
      naive: { estimate: naiveMean, ciLow: naiveMean - 1.96 * naiveSe, ciHigh: naiveMean + 1.96 * naiveSe },
      ips: scaled(perSlot.ips),
      snips: scaled(perSlot.snips),
      dr: scaled(perSlot.dr),
      ...slate.estimates,
    };
    for (const name of NAMES) {
      const e = intervals[name];
      errors.get(name)!.push(e.estimate - truth);
      pairErrors.get(name)!.push(e.estimate - truth);
      if (truth >= e.ciLow && truth <= e.ciHigh) covered.set(name, covered.get(name)! + 1);
    }
    for (const name of SLATE_ESTIMATORS) {
      ess.get(name)!.push(slate.estimates[name].effectiveSampleSize);
      maxWeights.set(name, Math.max(maxWeights.get(name)!, slate.estimates[name].maxWeight));
    }
    ess.get("ips")!.push(perSlot.effectiveSampleSize);
  }
  const rmse = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + b * b, 0) / xs.length);
  say(
    `${`${logged} → ${target}`.padEnd(28)} truth ${truth.toFixed(4)}  RMSE ` +
      NAMES.map((n) => `${n} ${rmse(pairErrors.get(n)!).toFixed(4)}`).join("  "),
  );
}

const total = PAIRS.length * runs;
const summary: Record<string, { bias: number; rmse: number; coverage: number; ess?: number; max_weight?: number }> = {};
console.log(
  "\nestimator     bias      RMSE    coverage(95%)  mean ESS   max weight   (clicks per slate; truth ≈ " +
    [...new Set(PAIRS.map(([, t]) => t))].map((t) => `${t} ${truthOf(t).toFixed(3)}`).join(", ") +
    ")",
);
for (const name of NAMES) {
  const xs = errors.get(name)!;
  const bias = xs.reduce((a, b) => a + b, 0) / xs.length;
  const rmse = Math.sqrt(xs.reduce((a, b) => a + b * b, 0) / xs.length);
  const coverage = covered.get(name)! / total;
  const essValues = ess.get(name)!;
  const meanEss = essValues.length > 0 ? essValues.reduce((a, b) => a + b, 0) / essValues.length : undefined;
  const maxWeight = maxWeights.get(name)! > 0 ? maxWeights.get(name)! : undefined;
  summary[name] = {
    bias: Number(bias.toFixed(4)),
    rmse: Number(rmse.toFixed(4)),
    coverage: Number(coverage.toFixed(3)),
    ...(meanEss !== undefined ? { ess: Number(meanEss.toFixed(1)) } : {}),
    ...(maxWeight !== undefined ? { max_weight: Number(maxWeight.toFixed(2)) } : {}),
  };
  console.log(
    `${name.padEnd(11)} ${bias.toFixed(4).padStart(8)}  ${rmse.toFixed(4).padStart(8)}  ${coverage.toFixed(3).padStart(12)}  ${(meanEss?.toFixed(1) ?? "-").padStart(9)}  ${(maxWeight?.toFixed(2) ?? "-").padStart(11)}`,
  );
}
const { naive, ...estimators } = summary;
const ipsRmse = summary["ips"]!.rmse;
console.log(
  JSON.stringify({
    bench: "OPE-ACCURACY",
    pairs: PAIRS.length,
    runs,
    slates_per_run: steps * REQUESTS_PER_STEP,
    k,
    candidates,
    estimators,
    naive,
    rmse_vs_per_slot_ips: Object.fromEntries(
      SLATE_ESTIMATORS.map((n) => [n, Number((summary[n]!.rmse / ipsRmse).toFixed(3))]),
    ),
    seconds: Math.round((Date.now() - started) / 1000),
  }),
);

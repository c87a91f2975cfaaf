/**
 * The main job (`npm start` → `recfleet demo`): starts the local Kafka + Redis stack and the
 * whole fleet (ingest, features, trainer, scorer), runs the closed-loop simulator against it
 * with two policies side by side (greedy vs an exploring one; balanced arms taking turns request
 * by request, each learning from its own statistics), shows progress, and ends with a summary
 * table, the lift with its 95% interval, and the path of the plot. `--scale <events>` runs the
 * catalog-scale mode instead (demo-scale.ts).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "@recfleet/stack";
import { liftWithInterval, type FleetSimulationReport, type PolicyReport } from "@recfleet/simulator";
import { allowPoliciesEnv, ingestOutcomes, scrapeMetric, simulateOnFleet, startLocalFleet } from "./fleet";
import { runDemoScale } from "./demo-scale";

export const DEMO_EXPLORING_POLICY = "thompson:16,lift=1,prior=3";

export async function runDemo(argv: string[]): Promise<number> {
  // `--scale <events>`: the catalog-scale run (demo-scale.ts), a path of its own with its own flags.
  if (argv.some((a) => a === "--scale" || a.startsWith("--scale="))) return runDemoScale(argv);
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: "string", default: "300" },
      // Paces the world (about 2 minutes for 300 steps) so the demo runs for a few minutes.
      "step-ms": { type: "string", default: "400" },
      "retrain-every": { type: "string", default: "15" },
      requests: { type: "string", default: "24" },
      seed: { type: "string", default: "1" },
      policy: { type: "string", default: DEMO_EXPLORING_POLICY },
      out: { type: "string", default: join(REPO_ROOT, "out", "demo") },
      "keep-stack": { type: "boolean", default: false },
      // Operator rule: at most N items of one provider per slate (0 = off); exposure per provider is reported either way.
      "max-per-provider": { type: "string", default: "0" },
    },
  });
  const started = Date.now();
  const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);

  const namespace = `demo-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
  const logDir = join(values.out!, "logs", namespace);
  say(`starting the fleet in namespace ${namespace} (worker logs in ${logDir}) …`);
  // The trainer retrains at fixed simulation steps (TRAIN_INTERVAL=0 + `recfleet train`), so a
  // demo run is reproducible for a seed; production fleets use the schedule.
  const split = [
    { policy: "greedy", weight: 1 },
    { policy: values.policy!, weight: 1 },
  ];
  // The simulator names each request's policy; the scorer answers only the policies it allows.
  // Each arm learns only from its own impressions and clicks (per-policy bandit statistics).
  const env = {
    TRAIN_INTERVAL: "0",
    SCORER_MAX_PER_PROVIDER: values["max-per-provider"]!,
    BANDIT_STATS: "per-policy",
    ...allowPoliciesEnv(split.map((share) => share.policy)),
  };
  const fleet = await startLocalFleet({ namespace, logDir, keepStack: values["keep-stack"]!, log: say, env });
  say("fleet ready: ingest, features, trainer, scorer");
  const { workers } = fleet;
  let report: FleetSimulationReport | undefined;
  try {
    report = await simulateOnFleet(fleet, {
      seed: Number(values.seed),
      steps: Number(values.steps),
      requestsPerStep: Number(values.requests),
      split,
      // Arms take turns request by request: equal arms, users from the same stream.
      assignment: "balanced",
      stepMs: Number(values["step-ms"]),
      retrainEvery: Number(values["retrain-every"]),
      outDir: values.out!,
      onProgress: say,
      progressEvery: 20,
    });
    const byName = (n: string) => workers.find((w) => w.name === n)!;
    const { ingested, deadLettered } = await ingestOutcomes(byName("ingest"), namespace);
    const served = await scrapeMetric(byName("scorer"), "recfleet_scorer_recommendations_total");
    const trainer = byName("trainer");
    const promoted = await scrapeMetric(trainer, "recfleet_trainer_promotions_total");
    const rejected = await scrapeMetric(trainer, "recfleet_trainer_rejections_total");
    printSummary(report, {
      ingested,
      deadLettered,
      served,
      promoted,
      rejected,
      seconds: (Date.now() - started) / 1000,
    });
  } finally {
    say("stopping the fleet …");
    await fleet.stop();
  }
  return report && report.unanswered === 0 ? 0 : 1;
}

function printSummary(
  report: FleetSimulationReport,
  fleet: {
    ingested: number;
    deadLettered: number;
    served: number;
    promoted: number;
    rejected: number;
    seconds: number;
  },
): void {
  const rows: [string, string][] = [
    ["events ingested", String(fleet.ingested)],
    ["events dead-lettered", String(fleet.deadLettered)],
    [
      "models promoted",
      `${fleet.promoted} (${fleet.rejected} candidates rejected by the promotion gate; ${report.modelVersions.length} versions answered requests)`,
    ],
    ["recommendations served", String(fleet.served)],
    ["requests unanswered", String(report.unanswered)],
    [
      "latency p50 / p99 (request → answer)",
      `${report.latencyP50Ms.toFixed(0)} ms / ${report.latencyP99Ms.toFixed(0)} ms`,
    ],
    ["wall time", `${fleet.seconds.toFixed(0)} s`],
  ];
  console.log("\n== recfleet demo: summary ==");
  for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v}`);
  console.log("\npolicy                         requests   clicks   CTR      regret   coverage  gini   new-item share");
  for (const p of report.policies) {
    console.log(
      `${p.policy.padEnd(30)} ${String(p.answered).padStart(8)} ${String(p.clicks).padStart(8)}   ${p.ctr.toFixed(4)}  ${p.regret.toFixed(1).padStart(7)}   ${p.coverage.toFixed(3)}     ${p.exposureGini.toFixed(3)}  ${p.newItemImpressionShare.toFixed(3)}`,
    );
  }
  console.log(
    "\nexposure fairness: share of impressions vs share of relevance (Σ true click probability) per provider",
  );
  for (const p of report.policies) {
    const cells = p.providerFairness.shares.map(
      (s) => `${s.provider} ${(s.exposureShare * 100).toFixed(1)}%/${(s.relevanceShare * 100).toFixed(1)}%`,
    );
    console.log(`${p.policy.padEnd(30)} gap ${p.providerFairness.gap.toFixed(3)}  ${cells.join("  ")}`);
  }
  const [greedy, explorer] = report.policies;
  const lifts = greedy && explorer && greedy.clicks > 0 ? demoLifts(greedy, explorer) : undefined;
  if (lifts) {
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
    const show = (l: { lift: number; low: number; high: number }) =>
      `${pct(l.lift)} [95% CI ${pct(l.low)}, ${pct(l.high)}]`;
    console.log(
      `\nlift of ${explorer!.policy} over ${greedy!.policy} (${explorer!.answered} vs ${greedy!.answered} requests):` +
        `\n  expected clicks per request (true click probabilities of the shown slates) ${show(lifts.expected)}` +
        `\n  observed clicks per request                                               ${show(lifts.clicks)}`,
    );
  }
  console.log(`plot: ${report.plotPath}\ncsv:  ${report.csvPath}`);
  console.log(
    JSON.stringify({
      bench: "DEMO",
      ...fleet,
      unanswered: report.unanswered,
      latency_p50_ms: report.latencyP50Ms,
      latency_p99_ms: report.latencyP99Ms,
      ...(lifts ? { lift_expected: lifts.expected, lift_clicks: lifts.clicks } : {}),
      policies: report.policies.map((p) => ({
        policy: p.policy,
        requests: p.answered,
        clicks: p.clicks,
        ctr: p.ctr,
        regret: p.regret,
        coverage: p.coverage,
        gini: p.exposureGini,
        provider_exposure_gap: p.providerFairness.gap,
        providers: p.providerFairness.shares,
      })),
    }),
  );
}

/** The explorer's lift over greedy per request, in expected and in observed clicks, with 95% intervals. */
function demoLifts(greedy: PolicyReport, explorer: PolicyReport) {
  return {
    expected: liftWithInterval(
      { mean: greedy.expectedPerRequest, sd: greedy.expectedPerRequestSd, n: greedy.answered },
      { mean: explorer.expectedPerRequest, sd: explorer.expectedPerRequestSd, n: explorer.answered },
    ),
    clicks: liftWithInterval(
      { mean: greedy.clicks / greedy.answered, sd: greedy.clicksPerRequestSd, n: greedy.answered },
      { mean: explorer.clicks / explorer.answered, sd: explorer.clicksPerRequestSd, n: explorer.answered },
    ),
  };
}

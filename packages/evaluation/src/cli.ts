// `recfleet eval`: the ML100K-CHRONO protocol for every requested model, printed as a table
// and, with --json, one JSON line per model and a summary line (BENCHMARKS.md). Every model is
// reported twice: on validation (trained on the first 80% of each user's train items, scored on
// the last 20% — what `recfleet tune` chooses on) and on test (trained on all train items with
// the same settings, scored once on the held-out test items).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultTwoTowerConfig, type TwoTowerConfig } from "@recfleet/towers";
import { mostPop, itemKnn } from "./baselines.js";
import { loadMovieLens } from "./datasets.js";
import { evaluateRanking, type RankingMetrics } from "./evaluate.js";
import { splitChrono, splitValidation, type ChronoSplit } from "./split.js";
import { trainOnSplit, twoTowerScorer } from "./two-tower.js";
import { runTuneCli } from "./tune.js";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const defaultIo: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

const MODELS = ["mostpop", "itemknn", "two-tower"] as const;
type ModelName = (typeof MODELS)[number];

/** PyTorch peer's two-tower figures (BENCHMARKS.md, mean of seeds 1–2). */
const PEER = { "recall@20": 0.233, "ndcg@20": 0.244 };

const USAGE = `usage: eval --dataset ml-100k [--path DIR] [--seeds 1,2,3] [--models mostpop,itemknn,two-tower] [--json]
                [--two-tower-config '{"epochs":8}']
  --path defaults to $RECFLEET_ML100K, else ../shared/datasets/ml-100k beside the repository.`;

/** Where ML-100K lives unless --path says otherwise: $RECFLEET_ML100K or ../shared/datasets/ml-100k from the repo root. */
export function defaultMl100kPath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env["RECFLEET_ML100K"];
  if (fromEnv) return resolve(fromEnv);
  return fileURLToPath(new URL("../../../../shared/datasets/ml-100k", import.meta.url));
}

interface CliOptions {
  dataset: string;
  path: string;
  seeds: number[];
  models: ModelName[];
  json: boolean;
  twoTower: Partial<TwoTowerConfig>;
}

class UsageError extends Error {
  override readonly name = "UsageError";
  readonly retriable = false;
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = {
    dataset: "ml-100k",
    path: "",
    seeds: [1, 2, 3],
    models: [...MODELS],
    json: false,
    twoTower: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--dataset":
        options.dataset = value();
        break;
      case "--path":
        options.path = value();
        break;
      case "--seeds":
        options.seeds = value()
          .split(",")
          .map((s) => Number(s.trim()));
        if (options.seeds.length === 0 || options.seeds.some((s) => !Number.isInteger(s))) {
          throw new UsageError(`--seeds takes comma-separated integers, e.g. 1,2,3`);
        }
        break;
      case "--models": {
        const names = value()
          .split(",")
          .map((s) => s.trim().toLowerCase());
        for (const n of names) {
          if (!(MODELS as readonly string[]).includes(n))
            throw new UsageError(`unknown model ${n}; choose from ${MODELS.join(", ")}`);
        }
        options.models = names as ModelName[];
        break;
      }
      case "--json":
        options.json = true;
        break;
      case "--two-tower-config":
        try {
          options.twoTower = JSON.parse(value()) as Partial<TwoTowerConfig>;
        } catch {
          throw new UsageError(`--two-tower-config must be a JSON object of TwoTowerConfig fields`);
        }
        break;
      case "--help":
      case "-h":
        throw new UsageError("");
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if (options.dataset !== "ml-100k") {
    // Other MovieLens layouts load too; the protocol name stays ML100K-CHRONO's split and metrics.
    if (options.path === "") throw new UsageError(`--dataset ${options.dataset} needs --path`);
  }
  if (options.path === "") options.path = defaultMl100kPath();
  return options;
}

const COLUMNS = ["recall@20", "ndcg@20", "hr@10", "mrr@20", "coverage@20", "gini@20", "novelty@20"] as const;

function meanMetrics(runs: RankingMetrics[]): RankingMetrics {
  const out = { ...runs[0]! };
  for (const c of COLUMNS) out[c] = runs.reduce((s, r) => s + r[c], 0) / runs.length;
  return out;
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}

function metricsJson(m: RankingMetrics): Record<string, number> {
  return Object.fromEntries(COLUMNS.map((c) => [c, round4(m[c])]));
}

/** Run the evaluation CLI; resolves to the process exit code (0 ok, 1 failure, 2 usage). */
export async function runEvalCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) io.err(err.message);
      io.err(USAGE);
      return 2;
    }
    throw err;
  }
  if (!existsSync(options.path)) {
    io.err(`dataset folder ${options.path} does not exist: pass --path or set RECFLEET_ML100K`);
    return 1;
  }
  const dataset = loadMovieLens(options.path);
  const split = splitChrono(dataset);
  const validation = splitValidation(split);
  const phases: { name: Phase; split: ChronoSplit }[] = [
    { name: "validation", split: validation },
    { name: "test", split },
  ];
  const rows: { label: string; phase: Phase; metrics: RankingMetrics }[] = [];
  const results: Record<string, Record<Phase, Record<string, number>> & { seeds?: unknown[] }> = {};

  const baselines = [
    { name: "mostpop", label: "MostPop", scorer: mostPop },
    { name: "itemknn", label: "ItemKNN", scorer: itemKnn },
  ] as const;
  for (const baseline of baselines) {
    if (!options.models.includes(baseline.name)) continue;
    const byPhase = {} as Record<Phase, Record<string, number>>;
    for (const phase of phases) {
      const metrics = await evaluateRanking(baseline.scorer(phase.split), phase.split);
      rows.push({ label: baseline.label, phase: phase.name, metrics });
      byPhase[phase.name] = metricsJson(metrics);
    }
    results[baseline.name] = byPhase;
  }
  if (options.models.includes("two-tower")) {
    const config = { ...defaultTwoTowerConfig, ...options.twoTower };
    const perSeed: Record<Phase, RankingMetrics[]> = { validation: [], test: [] };
    const perSeedJson: Record<string, unknown>[] = [];
    for (const seed of options.seeds) {
      const seedJson: Record<string, unknown> = { seed };
      for (const phase of phases) {
        const started = performance.now();
        const model = await trainOnSplit(dataset, phase.split, { ...config, seed });
        const trainSeconds = (performance.now() - started) / 1000;
        const metrics = await evaluateRanking(twoTowerScorer(model, phase.split), phase.split);
        perSeed[phase.name].push(metrics);
        seedJson[phase.name] = { ...metricsJson(metrics), train_s: round4(trainSeconds) };
        rows.push({ label: `two-tower seed ${seed}`, phase: phase.name, metrics });
        io.err(
          `two-tower seed ${seed} ${phase.name}: recall@20 ${metrics["recall@20"].toFixed(4)} (${trainSeconds.toFixed(0)}s)`,
        );
      }
      perSeedJson.push(seedJson);
    }
    const byPhase = {} as Record<Phase, Record<string, number>>;
    for (const phase of phases) {
      const mean = meanMetrics(perSeed[phase.name]);
      rows.push({ label: `two-tower mean (${options.seeds.length} seeds)`, phase: phase.name, metrics: mean });
      byPhase[phase.name] = metricsJson(mean);
    }
    results["two-tower"] = { ...byPhase, seeds: perSeedJson };
  }

  const header = ["model".padEnd(28), "split".padEnd(10), ...COLUMNS.map((c) => c.padStart(11))].join(" ");
  io.out(
    `ML100K-CHRONO on ${options.path} (${split.train.length} users, ${split.numItems} items; ` +
      `validation = last 20% of each user's train items, test = last 20% of all)`,
  );
  io.out(header);
  for (const r of rows)
    io.out(
      [r.label.padEnd(28), r.phase.padEnd(10), ...COLUMNS.map((c) => r.metrics[c].toFixed(4).padStart(11))].join(" "),
    );

  if (options.json) {
    for (const [model, metrics] of Object.entries(results)) io.out(JSON.stringify({ model, ...metrics }));
  }
  const summary: Record<string, unknown> = {
    bench: "ML100K-CHRONO",
    dataset: options.dataset,
    seeds: options.seeds,
    two_tower_config: options.models.includes("two-tower")
      ? { ...defaultTwoTowerConfig, ...options.twoTower }
      : undefined,
  };
  const headline = ["recall@20", "ndcg@20", "hr@10", "coverage@20"];
  for (const [model, metrics] of Object.entries(results)) {
    summary[model] = Object.fromEntries(
      phases.map((p) => [p.name, Object.fromEntries(headline.map((k) => [k, metrics[p.name][k]]))]),
    );
  }
  const tt = results["two-tower"];
  if (tt) {
    summary["peer"] = PEER;
    summary["two_tower_test_vs_peer"] = {
      "recall@20": round4(tt.test["recall@20"]! / PEER["recall@20"]),
      "ndcg@20": round4(tt.test["ndcg@20"]! / PEER["ndcg@20"]),
    };
  }
  io.out(JSON.stringify(summary));
  return 0;
}

type Phase = "validation" | "test";

// The shape of runtime's CliCommand, declared structurally: evaluation sits below runtime.
export const evaluationCommands: { name: string; summary: string; run(args: string[]): Promise<number> }[] = [
  {
    name: "eval",
    summary:
      "train and evaluate MostPop, ItemKNN and the two-tower on MovieLens (ML100K-CHRONO) " +
      "[--dataset ml-100k --path DIR --seeds 1,2,3 --json]",
    run: (args) => runEvalCli(args),
  },
  {
    name: "tune",
    summary:
      "choose the two-tower's settings on the validation split (grid, early stopping, time budget); prints the table " +
      "[--seeds 1 --max-epochs 16 --budget 15m --path DIR]",
    run: (args) => runTuneCli(args, defaultIo, defaultMl100kPath),
  },
];

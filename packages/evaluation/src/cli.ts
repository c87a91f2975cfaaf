// `recfleet eval`: the ML100K-CHRONO protocol for every requested model, printed as a table
// and, with --json, one JSON line per model and a summary line (BENCHMARKS.md). Every model is
// reported twice: on validation (trained on the first 80% of each user's train items, scored on
// the last 20% — what `recfleet tune` chooses on) and on test (trained on all train items with
// the same settings, scored once on the held-out test items).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_DP_SGD,
  defaultTwoTowerConfig,
  trainTwoTowerPrivately,
  type DpSgdOptions,
  type TwoTowerConfig,
} from "@recfleet/towers";
import { mostPop, itemKnn } from "./baselines.js";
import { loadMovieLens } from "./datasets.js";
import { evaluateRanking, type RankingMetrics } from "./evaluate.js";
import { splitChrono, splitValidation, type ChronoSplit } from "./split.js";
import { runColdStart, type ColdStartRecall } from "./cold-start.js";
import {
  int8TwoTowerScorer,
  sequenceExampleUsers,
  sequenceExamples,
  trainOnSplit,
  twoTowerScorer,
} from "./two-tower.js";
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
                [--two-tower-config '{"epochs":8}'] [--cold-start] [--int8]
  --int8: each two-tower model also scored as an int8 version serves it (item matrix int8 per item,
          onnxruntime's integer MatMul): rows "two-tower int8 …" and the float − int8 Recall@20 gap.
  --cold-start: Recall@20 on test items with no / 1-4 train interactions (MostPop, two-tower ids only,
                two-tower with content vectors for new items; idDropout chosen on a validation split).
                [--two-tower-config '{"epochs":8}'] [--dp-epsilon 1,3,8 [--dp-config '{"clipNorm":1}']]
  --dp-epsilon adds the two-tower trained with DP-SGD (user-level, δ from --dp-config, default 1e-5) per ε.
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
  coldStart: boolean;
  /** Also score each two-tower model as an int8 version serves it (same model, item matrix int8 per item). */
  int8: boolean;
  /** Target ε values of DP-SGD runs (empty: none). */
  dpEpsilons: number[];
  dp: Partial<DpSgdOptions>;
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
    coldStart: false,
    int8: false,
    dpEpsilons: [],
    dp: {},
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
      case "--int8":
        options.int8 = true;
        break;
      case "--cold-start":
        options.coldStart = true;
        break;
      case "--two-tower-config":
        try {
          options.twoTower = JSON.parse(value()) as Partial<TwoTowerConfig>;
        } catch {
          throw new UsageError(`--two-tower-config must be a JSON object of TwoTowerConfig fields`);
        }
        break;
      case "--dp-epsilon":
        options.dpEpsilons = value()
          .split(",")
          .map((s) => Number(s.trim()));
        if (options.dpEpsilons.some((e) => !(e > 0) || !Number.isFinite(e)))
          throw new UsageError(`--dp-epsilon takes comma-separated numbers > 0, e.g. 1,3,8`);
        break;
      case "--dp-config":
        try {
          options.dp = JSON.parse(value()) as Partial<DpSgdOptions>;
        } catch {
          throw new UsageError(`--dp-config must be a JSON object of DpSgdOptions fields`);
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
  if (options.coldStart) return coldStartCli(options, dataset, split, io);
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
    const perSeedInt8: Record<Phase, RankingMetrics[]> = { validation: [], test: [] };
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
        if (options.int8) {
          const int8 = await int8TwoTowerScorer(model, phase.split);
          const quantized = await evaluateRanking(int8.score, phase.split);
          await int8.release();
          perSeedInt8[phase.name].push(quantized);
          seedJson[`${phase.name}_int8`] = metricsJson(quantized);
          rows.push({ label: `two-tower int8 seed ${seed}`, phase: phase.name, metrics: quantized });
          io.err(`two-tower int8 seed ${seed} ${phase.name}: recall@20 ${quantized["recall@20"].toFixed(4)}`);
        }
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
    if (options.int8) {
      const int8ByPhase = {} as Record<Phase, Record<string, number>>;
      for (const phase of phases) {
        const mean = meanMetrics(perSeedInt8[phase.name]);
        rows.push({ label: `two-tower int8 mean`, phase: phase.name, metrics: mean });
        int8ByPhase[phase.name] = metricsJson(mean);
      }
      results["two-tower-int8"] = int8ByPhase;
    }
  }
  const dpResults: Record<string, { test: Record<string, number>; seeds: unknown[] }> = {};
  if (options.dpEpsilons.length > 0) {
    // User-level DP-SGD: each user of the train split (with all their examples) is one unit.
    const examples = sequenceExamples(split);
    const units = sequenceExampleUsers(split);
    for (const epsilon of options.dpEpsilons) {
      const perSeed: RankingMetrics[] = [];
      const perSeedJson: Record<string, unknown>[] = [];
      for (const seed of options.seeds) {
        const started = performance.now();
        const { model, privacy } = await trainTwoTowerPrivately(
          { itemIds: dataset.itemIds, itemFeatures: dataset.itemFeatures, examples },
          units,
          { ...defaultTwoTowerConfig, ...options.twoTower, seed },
          { ...DEFAULT_DP_SGD, ...options.dp, targetEpsilon: epsilon, noiseMultiplier: undefined },
          {
            onProgress: (p) =>
              io.err(
                `dp ε=${epsilon} seed ${seed}: step ${p.step}/${p.stepsPerEpoch}, eta ${p.etaSeconds.toFixed(0)} s`,
              ),
            progressIntervalMs: 30_000,
          },
        );
        const trainSeconds = (performance.now() - started) / 1000;
        const metrics = await evaluateRanking(twoTowerScorer(model, split), split);
        perSeed.push(metrics);
        perSeedJson.push({ seed, ...metricsJson(metrics), train_s: round4(trainSeconds), privacy });
        rows.push({ label: `two-tower DP ε=${epsilon} seed ${seed}`, phase: "test", metrics });
      }
      // DP runs are reported on test only: their settings are not tuned here (docs/privacy.md).
      const mean = meanMetrics(perSeed);
      rows.push({ label: `two-tower DP ε=${epsilon} mean`, phase: "test", metrics: mean });
      dpResults[`two-tower-dp-eps${epsilon}`] = { test: metricsJson(mean), seeds: perSeedJson };
    }
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
    for (const [model, metrics] of Object.entries({ ...results, ...dpResults }))
      io.out(JSON.stringify({ model, ...metrics }));
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
  for (const [model, metrics] of Object.entries(dpResults))
    summary[model] = { test: Object.fromEntries(headline.map((k) => [k, metrics.test[k]])) };
  const tt = results["two-tower"];
  const tt8 = results["two-tower-int8"];
  if (tt && tt8)
    summary["recall@20_float_minus_int8"] = Object.fromEntries(
      phases.map((p) => [p.name, round4(tt[p.name]["recall@20"]! - tt8[p.name]["recall@20"]!)]),
    );
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

const meanRecall = (runs: ColdStartRecall[], bucket: "all" | "new" | "rare") =>
  round4(runs.reduce((s, r) => s + r[bucket], 0) / runs.length);

async function coldStartCli(
  options: CliOptions,
  dataset: ReturnType<typeof loadMovieLens>,
  split: ReturnType<typeof splitChrono>,
  io: CliIo,
): Promise<number> {
  io.out(`ML100K-CHRONO item cold start on ${options.path}: content = ${dataset.featureNames.length} genres`);
  const report = await runColdStart(dataset, split, {
    seeds: options.seeds,
    config: { ...defaultTwoTowerConfig, ...options.twoTower },
    idDropoutGrid: [0.25, 0.5, 0.75],
    boostGrid: [0, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2],
    log: (line) => io.err(line),
  });
  const m = report.mostpop;
  const rows = [
    ["MostPop", m.all, m.new, m.rare],
    [
      "two-tower ids only",
      meanRecall(report.idOnly, "all"),
      meanRecall(report.idOnly, "new"),
      meanRecall(report.idOnly, "rare"),
    ],
    [
      "two-tower + content",
      meanRecall(report.content, "all"),
      meanRecall(report.content, "new"),
      meanRecall(report.content, "rare"),
    ],
  ] as const;
  io.out(
    `test: ${m.interactions.new} interactions (${m.users.new} users) with new items, ${m.interactions.rare} (${m.users.rare} users) with items of 1-4`,
  );
  io.out(
    ["model".padEnd(24), ...["recall@20 all", "recall@20 new", "recall@20 1-4"].map((c) => c.padStart(14))].join(" "),
  );
  for (const [label, a, n, r] of rows)
    io.out([label.padEnd(24), ...[a, n, r].map((x) => x.toFixed(4).padStart(14))].join(" "));
  const summary = {
    bench: "COLD-START",
    dataset: options.dataset,
    seeds: options.seeds,
    content: `${dataset.featureNames.length} genres`,
    id_dropout: report.chosenIdDropout,
    new_item_boost: report.chosenBoost,
    validation: report.validation.map((v) => ({
      id_dropout: v.idDropout,
      boost: v.boost,
      all: round4(v.all),
      new: round4(v.new),
      rare: round4(v.rare),
    })),
    test_interactions: m.interactions,
    test_users: m.users,
    mostpop: { all: round4(m.all), new: round4(m.new), rare: round4(m.rare) },
    two_tower_id_only: Object.fromEntries(
      (["all", "new", "rare"] as const).map((b) => [b, meanRecall(report.idOnly, b)]),
    ),
    two_tower_content: Object.fromEntries(
      (["all", "new", "rare"] as const).map((b) => [b, meanRecall(report.content, b)]),
    ),
  };
  if (options.json) io.out(JSON.stringify(summary));
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

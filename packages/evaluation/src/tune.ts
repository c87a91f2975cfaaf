// `recfleet tune`: choose the two-tower's settings on the validation split (the last 20% of each
// user's train items), never on test. A small grid — every combination of the settings below,
// each trained up to `maxEpochs` with early stopping on validation Recall@20 — under a wall-clock
// budget; the table it prints is what packages/towers/src/config.ts cites for its defaults.
import { existsSync } from "node:fs";
import { defaultTwoTowerConfig, type TwoTowerConfig } from "@recfleet/towers";
import { loadMovieLens, type Dataset } from "./datasets.js";
import { evaluateRanking, type RankingMetrics } from "./evaluate.js";
import { splitChrono, splitValidation, type ChronoSplit } from "./split.js";
import { trainOnSplit, twoTowerScorer } from "./two-tower.js";

/** The settings searched and their values (2 × 2 × 2 = 8 configurations); all else is the default shape. */
export const TUNE_GRID = {
  recencyDecay: [1, 0.9],
  logQWeight: [1, 1.5],
  historyDropout: [0, 0.3],
} as const satisfies Partial<Record<keyof TwoTowerConfig, readonly number[]>>;

type GridKey = keyof typeof TUNE_GRID;
export type GridPoint = Record<GridKey, number>;

export interface TuneOptions {
  /** Training seeds; a configuration's curve is the mean over them. Default [1]. */
  seeds?: readonly number[];
  /** Epochs tried at most per configuration. Default 16. */
  maxEpochs?: number;
  /** Stop a run after this many epochs without a better validation Recall@20. Default 3. */
  patience?: number;
  /** Wall-clock budget: no run starts after it and a running one stops at its next epoch end. Default 15 min. */
  budgetMs?: number;
  onProgress?: (line: string) => void;
  /** Run only these grid points (1-based, in the printed order "[tune i/8]"); default all. */
  configs?: readonly number[];
}

export interface TuneRow {
  settings: GridPoint;
  /** Mean validation Recall@20 over the seeds after each epoch (as far as every seed got). */
  curve: number[];
  /** The epoch count with the best mean validation Recall@20 (0 when the row never ran). */
  bestEpoch: number;
  /** Validation metrics at bestEpoch, mean over seeds. */
  validation?: { "recall@20": number; "ndcg@20": number };
  seconds: number;
  /** "complete", "stopped by budget", or "not run (budget)". */
  status: "complete" | "stopped by budget" | "not run (budget)";
}

export interface TuneResult {
  rows: TuneRow[];
  /** The best complete row's settings + epochs, as TwoTowerConfig overrides. */
  chosen: Partial<TwoTowerConfig>;
  chosenRow: TuneRow;
}

function gridPoints(): GridPoint[] {
  let points: Partial<GridPoint>[] = [{}];
  for (const key of Object.keys(TUNE_GRID) as GridKey[]) {
    points = points.flatMap((p) => TUNE_GRID[key].map((v) => ({ ...p, [key]: v })));
  }
  return points as GridPoint[];
}

export function describeSettings(s: GridPoint): string {
  return `recency ${s.recencyDecay} logQ ${s.logQWeight} dropout ${s.historyDropout}`;
}

/** Run the grid on `validation` (a splitValidation of the data's split). */
export async function tuneTwoTower(
  dataset: Dataset,
  validation: ChronoSplit,
  options: TuneOptions = {},
): Promise<TuneResult> {
  const seeds = options.seeds ?? [1];
  const maxEpochs = options.maxEpochs ?? 16;
  const patience = options.patience ?? 3;
  const budgetMs = options.budgetMs ?? 15 * 60_000;
  const say = options.onProgress ?? (() => {});
  const started = performance.now();
  const overBudget = () => performance.now() - started > budgetMs;
  const points = gridPoints().filter((_, i) => options.configs === undefined || options.configs.includes(i + 1));
  const rows: TuneRow[] = [];
  for (const [index, settings] of points.entries()) {
    if (overBudget()) {
      rows.push({ settings, curve: [], bestEpoch: 0, seconds: 0, status: "not run (budget)" });
      continue;
    }
    const rowStarted = performance.now();
    const perSeed: RankingMetrics[][] = [];
    let stoppedByBudget = false;
    for (const seed of seeds) {
      const metricsByEpoch: RankingMetrics[] = [];
      let best = -1;
      let sinceBest = 0;
      await trainOnSplit(
        dataset,
        validation,
        { ...defaultTwoTowerConfig, ...settings, epochs: maxEpochs, seed },
        {
          onEpochEnd: async (epoch, model) => {
            const m = await evaluateRanking(twoTowerScorer(model, validation), validation);
            metricsByEpoch.push(m);
            if (m["recall@20"] > best) {
              best = m["recall@20"];
              sinceBest = 0;
            } else sinceBest++;
            const elapsed = ((performance.now() - started) / 1000).toFixed(0);
            say(
              `[tune ${index + 1}/${points.length}] ${describeSettings(settings)} seed ${seed} epoch ${epoch}/${maxEpochs}: ` +
                `validation recall@20 ${m["recall@20"].toFixed(4)} (best ${best.toFixed(4)}) — ${elapsed}s of ${(budgetMs / 1000).toFixed(0)}s budget`,
            );
            if (overBudget()) {
              stoppedByBudget = true;
              return "stop";
            }
            return sinceBest >= patience ? "stop" : undefined;
          },
        },
      );
      perSeed.push(metricsByEpoch);
      if (stoppedByBudget) break;
    }
    const epochs = Math.min(...perSeed.map((m) => m.length));
    const mean = (epoch: number, key: "recall@20" | "ndcg@20") =>
      perSeed.reduce((s, m) => s + m[epoch - 1]![key], 0) / perSeed.length;
    const curve = Array.from({ length: epochs }, (_, e) => mean(e + 1, "recall@20"));
    const bestEpoch = curve.length === 0 ? 0 : curve.indexOf(Math.max(...curve)) + 1;
    rows.push({
      settings,
      curve,
      bestEpoch,
      ...(bestEpoch > 0
        ? { validation: { "recall@20": mean(bestEpoch, "recall@20"), "ndcg@20": mean(bestEpoch, "ndcg@20") } }
        : {}),
      seconds: (performance.now() - rowStarted) / 1000,
      status: stoppedByBudget || perSeed.length < seeds.length ? "stopped by budget" : "complete",
    });
  }
  const ranked = rows
    .filter((r) => r.status === "complete" && r.validation)
    .sort((a, b) => b.validation!["recall@20"] - a.validation!["recall@20"]);
  const chosenRow = ranked[0];
  if (!chosenRow) {
    throw new RangeError(
      `no configuration finished within the ${(budgetMs / 1000).toFixed(0)}s budget: raise --budget or lower --max-epochs`,
    );
  }
  return { rows, chosen: { ...chosenRow.settings, epochs: chosenRow.bestEpoch }, chosenRow };
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;

/** The table as printed (and pasted into config.ts), best validation Recall@20 first. */
export function formatTuneTable(rows: readonly TuneRow[]): string[] {
  const sorted = [...rows].sort((a, b) => (b.validation?.["recall@20"] ?? -1) - (a.validation?.["recall@20"] ?? -1));
  const lines = ["recency  logQ  dropout  best epoch  val recall@20  val ndcg@20  seconds  status"];
  for (const r of sorted) {
    const s = r.settings;
    lines.push(
      [
        String(s.recencyDecay).padEnd(7),
        String(s.logQWeight).padStart(5),
        String(s.historyDropout).padStart(8),
        String(r.bestEpoch).padStart(11),
        (r.validation ? r.validation["recall@20"].toFixed(4) : "-").padStart(14),
        (r.validation ? r.validation["ndcg@20"].toFixed(4) : "-").padStart(12),
        r.seconds.toFixed(0).padStart(8),
        ` ${r.status}`,
      ].join(" "),
    );
  }
  return lines;
}

const USAGE = `usage: tune [--path DIR] [--seeds 1] [--max-epochs 16] [--patience 3] [--budget 15m] [--configs 1,2,…]
  Grid: ${Object.entries(TUNE_GRID)
    .map(([k, v]) => `${k} ∈ {${v.join(", ")}}`)
    .join(", ")}; epochs by early stopping.
  Chooses on validation (last 20% of each user's train items); test is not read.`;

/** '90s', '15m' or plain milliseconds. */
function parseBudget(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2] === "m" ? 60_000 : m[2] === "s" ? 1000 : 1;
  return Number(m[1]) * unit;
}

/** `recfleet tune`; resolves to the exit code (0 ok, 1 failure, 2 usage). */
export async function runTuneCli(
  argv: string[],
  io: { out(line: string): void; err(line: string): void },
  defaultPath: () => string,
): Promise<number> {
  let path = "";
  const options: TuneOptions = { onProgress: (l) => io.err(l) };
  const usage = (problem: string) => {
    if (problem) io.err(problem);
    io.err(USAGE);
    return 2;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    const needsValue = ["--path", "--seeds", "--max-epochs", "--patience", "--budget", "--configs"].includes(arg);
    if (needsValue && value === undefined) return usage(`${arg} needs a value`);
    if (needsValue) i++;
    switch (arg) {
      case "--path":
        path = value!;
        break;
      case "--seeds": {
        const seeds = value!.split(",").map((s) => Number(s.trim()));
        if (seeds.some((s) => !Number.isInteger(s))) return usage(`--seeds takes comma-separated integers, e.g. 1,2`);
        options.seeds = seeds;
        break;
      }
      case "--configs": {
        const configs = value!.split(",").map((s) => Number(s.trim()));
        if (configs.some((c) => !Number.isInteger(c) || c < 1 || c > gridPoints().length))
          return usage(`--configs takes grid indices 1–${gridPoints().length}, e.g. 7,8`);
        options.configs = configs;
        break;
      }
      case "--max-epochs":
      case "--patience": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) return usage(`${arg} must be a positive integer, got ${value}`);
        if (arg === "--max-epochs") options.maxEpochs = n;
        else options.patience = n;
        break;
      }
      case "--budget": {
        const ms = parseBudget(value!);
        if (ms === undefined || !(ms > 0)) return usage(`--budget takes a duration such as 600s or 15m, got ${value}`);
        options.budgetMs = ms;
        break;
      }
      case "--help":
      case "-h":
        return usage("");
      default:
        return usage(`unknown argument ${arg}`);
    }
  }
  if (path === "") path = defaultPath();
  if (!existsSync(path)) {
    io.err(`dataset folder ${path} does not exist: pass --path or set RECFLEET_ML100K`);
    return 1;
  }
  const dataset = loadMovieLens(path);
  const validation = splitValidation(splitChrono(dataset));
  io.err(
    `tune: ${options.configs?.length ?? gridPoints().length} of ${gridPoints().length} configurations on the validation split ` +
      `(${validation.test.flat().length} validation items of ${dataset.interactions.user.length} ratings), ` +
      `budget ${((options.budgetMs ?? 15 * 60_000) / 1000).toFixed(0)}s`,
  );
  const result = await tuneTwoTower(dataset, validation, options);
  for (const line of formatTuneTable(result.rows)) io.out(line);
  io.out(`chosen (best validation recall@20): ${JSON.stringify(result.chosen)}`);
  io.out(
    JSON.stringify({
      bench: "TUNE",
      split: "validation = last 20% of each user's train items",
      seeds: options.seeds ?? [1],
      grid: TUNE_GRID,
      rows: result.rows.map((r) => ({
        ...r.settings,
        best_epoch: r.bestEpoch,
        "val_recall@20": r.validation ? round4(r.validation["recall@20"]) : null,
        "val_ndcg@20": r.validation ? round4(r.validation["ndcg@20"]) : null,
        curve: r.curve.map(round4),
        seconds: Math.round(r.seconds),
        status: r.status,
      })),
      chosen: result.chosen,
    }),
  );
  return 0;
}

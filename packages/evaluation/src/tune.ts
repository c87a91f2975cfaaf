// `recfleet tune`: choose the two-tower's settings on the validation split (the last 20% of each
// user's train items), never on test. A coordinate search: start from the current defaults, then
// for one axis at a time (temperature, learning rate, …) train each of its other values with the
// best settings so far — up to `maxEpochs` with early stopping on validation Recall@20 — and keep
// a value only when its mean validation Recall@20 over the seeds beats the best so far. One axis
// at a time because a full grid of 9 axes is thousands of runs; the price is that interactions
// between axes are only followed along the path. Runs under a wall-clock budget; the table it
// prints is what packages/towers/src/config.ts cites for its defaults.
import { existsSync } from "node:fs";
import { defaultTwoTowerConfig, type TwoTowerConfig } from "@recfleet/towers";
import { loadMovieLens, type Dataset } from "./datasets.js";
import { evaluateRanking, type RankingMetrics } from "./evaluate.js";
import { splitChrono, splitValidation, type ChronoSplit } from "./split.js";
import { trainOnSplit, twoTowerScorer } from "./two-tower.js";

/**
 * The settings a tune run may change; everything else stays at the default. cosineEpochs > 0
 * means a cosine learning-rate decay over exactly that many epochs (the run is not stopped early:
 * the schedule's end is the point); 0 means a constant rate with epochs by early stopping.
 */
export type TuneSettings = { cosineEpochs: number } & Pick<
  TwoTowerConfig,
  | "temperature"
  | "learningRate"
  | "batchSize"
  | "weightDecay"
  | "logQWeight"
  | "historyDropout"
  | "recencyDecay"
  | "historyLength"
  | "dim"
  | "hidden"
  | "embeddingInitStd"
>;

/**
 * The axes searched, in order, each with its candidate values (an axis may move several
 * settings together, e.g. dim and hidden). The current default is always the starting point, so
 * an axis's values need not include it.
 */
export const TUNE_AXES: readonly { name: string; values: readonly Partial<TuneSettings>[] }[] = [
  { name: "temperature", values: [{ temperature: 0.035 }, { temperature: 0.05 }, { temperature: 0.07 }] },
  { name: "learningRate", values: [{ learningRate: 1e-3 }, { learningRate: 2e-3 }, { learningRate: 4e-3 }] },
  { name: "weightDecay", values: [{ weightDecay: 0 }, { weightDecay: 0.1 }, { weightDecay: 1 }] },
  { name: "logQWeight", values: [{ logQWeight: 1 }, { logQWeight: 1.5 }, { logQWeight: 2 }] },
  { name: "historyDropout", values: [{ historyDropout: 0.15 }, { historyDropout: 0.3 }, { historyDropout: 0.5 }] },
  { name: "batchSize", values: [{ batchSize: 256 }, { batchSize: 512 }] },
  {
    name: "dim/hidden",
    values: [
      { dim: 64, hidden: 128 },
      { dim: 128, hidden: 256 },
    ],
  },
  {
    name: "schedule",
    values: [{ cosineEpochs: 0 }, { cosineEpochs: 10 }, { cosineEpochs: 14 }],
  },
  { name: "recencyDecay", values: [{ recencyDecay: 0.8 }, { recencyDecay: 0.9 }, { recencyDecay: 0.95 }] },
  { name: "historyLength", values: [{ historyLength: 25 }, { historyLength: 50 }, { historyLength: 100 }] },
  { name: "initStd", values: [{ embeddingInitStd: 0.02 }, { embeddingInitStd: 0.05 }, { embeddingInitStd: 0.1 }] },
  { name: "hidden", values: [{ hidden: 64 }, { hidden: 128 }, { hidden: 256 }] },
];

const SETTING_KEYS: readonly (keyof TuneSettings)[] = [
  "cosineEpochs",
  "temperature",
  "learningRate",
  "batchSize",
  "weightDecay",
  "logQWeight",
  "historyDropout",
  "recencyDecay",
  "historyLength",
  "dim",
  "hidden",
  "embeddingInitStd",
];

function settingsOf(config: TwoTowerConfig, start: Partial<TuneSettings> = {}): TuneSettings {
  const cosineEpochs = config.learningRateSchedule === "cosine" ? config.epochs : 0;
  const fromConfig = Object.fromEntries(
    SETTING_KEYS.filter((k) => k !== "cosineEpochs").map((k) => [k, config[k as keyof TwoTowerConfig]]),
  );
  return { ...fromConfig, cosineEpochs, ...start } as TuneSettings;
}

/** The TwoTowerConfig overrides of a point: schedule and epochs from cosineEpochs (else `epochs`). */
function configOf(settings: TuneSettings, epochs: number): Partial<TwoTowerConfig> {
  const { cosineEpochs, ...rest } = settings;
  return cosineEpochs > 0
    ? { ...rest, learningRateSchedule: "cosine", epochs: cosineEpochs }
    : { ...rest, learningRateSchedule: "constant", epochs };
}

const sameSettings = (a: TuneSettings, b: TuneSettings) => SETTING_KEYS.every((k) => a[k] === b[k]);

export interface TuneOptions {
  /** Training seeds; a configuration's curve is the mean over them. Default [1, 2]. */
  seeds?: readonly number[];
  /** Epochs tried at most per configuration. Default 16. */
  maxEpochs?: number;
  /** Stop a run after this many epochs without a better validation Recall@20. Default 3. */
  patience?: number;
  /** Wall-clock budget: no run starts after it and a running one stops at its next epoch end. Default 60 min. */
  budgetMs?: number;
  onProgress?: (line: string) => void;
  /** Search only these axes (names of TUNE_AXES), in TUNE_AXES order; default all. */
  axes?: readonly string[];
  /** Starting point (overrides of the defaults), e.g. to continue a search the budget cut short. */
  start?: Partial<TuneSettings>;
}

export interface TuneRow {
  /** The axis this run tried a value of ("start" for the starting point). */
  axis: string;
  settings: TuneSettings;
  /** Mean validation Recall@20 over the seeds after each epoch (as far as every seed got). */
  curve: number[];
  /** The epoch count with the best mean validation Recall@20 (0 when the row never ran). */
  bestEpoch: number;
  /** Validation metrics at bestEpoch, mean over seeds. */
  validation?: { "recall@20": number; "ndcg@20": number };
  seconds: number;
  /** "complete", "stopped by budget", or "not run (budget)". */
  status: "complete" | "stopped by budget" | "not run (budget)";
  /** True when this run became the best so far (its value was kept). */
  kept: boolean;
}

export interface TuneResult {
  rows: TuneRow[];
  /** The best complete row's settings + epochs, as TwoTowerConfig overrides. */
  chosen: Partial<TwoTowerConfig>;
  chosenRow: TuneRow;
}

export function describeSettings(s: TuneSettings): string {
  return (
    `τ ${s.temperature} lr ${s.learningRate} batch ${s.batchSize} wd ${s.weightDecay} logQ ${s.logQWeight} ` +
    `dropout ${s.historyDropout} recency ${s.recencyDecay} history ${s.historyLength} d ${s.dim}/${s.hidden} init ${s.embeddingInitStd}` +
    (s.cosineEpochs > 0 ? ` cosine over ${s.cosineEpochs} epochs` : "")
  );
}

/** Run the coordinate search on `validation` (a splitValidation of the data's split). */
export async function tuneTwoTower(
  dataset: Dataset,
  validation: ChronoSplit,
  options: TuneOptions = {},
): Promise<TuneResult> {
  const seeds = options.seeds ?? [1, 2];
  const maxEpochs = options.maxEpochs ?? 16;
  const patience = options.patience ?? 3;
  const budgetMs = options.budgetMs ?? 60 * 60_000;
  const say = options.onProgress ?? (() => {});
  const started = performance.now();
  const overBudget = () => performance.now() - started > budgetMs;
  const axes = TUNE_AXES.filter((a) => options.axes === undefined || options.axes.includes(a.name));
  const rows: TuneRow[] = [];

  const run = async (axis: string, settings: TuneSettings, label: string): Promise<TuneRow> => {
    if (overBudget())
      return { axis, settings, curve: [], bestEpoch: 0, seconds: 0, status: "not run (budget)", kept: false };
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
        { ...defaultTwoTowerConfig, ...configOf(settings, maxEpochs), seed },
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
              `[tune ${label}] ${describeSettings(settings)} seed ${seed} epoch ${epoch}/${maxEpochs}: ` +
                `validation recall@20 ${m["recall@20"].toFixed(4)} (best ${best.toFixed(4)}) — ${elapsed}s of ${(budgetMs / 1000).toFixed(0)}s budget`,
            );
            if (overBudget()) {
              stoppedByBudget = true;
              return "stop";
            }
            // A cosine run goes to the end of its schedule: its last epoch is the one that counts.
            return settings.cosineEpochs === 0 && sinceBest >= patience ? "stop" : undefined;
          },
        },
      );
      perSeed.push(metricsByEpoch);
      if (stoppedByBudget) break;
    }
    // The mean curve runs as far as every seed got; early stopping may end seeds at different epochs.
    const epochs = Math.min(...perSeed.map((m) => m.length));
    const mean = (epoch: number, key: "recall@20" | "ndcg@20") =>
      perSeed.reduce((s, m) => s + m[epoch - 1]![key], 0) / perSeed.length;
    const curve = Array.from({ length: epochs }, (_, e) => mean(e + 1, "recall@20"));
    const bestEpoch =
      curve.length === 0
        ? 0
        : settings.cosineEpochs > 0
          ? curve.length === settings.cosineEpochs
            ? curve.length
            : 0
          : curve.indexOf(Math.max(...curve)) + 1;
    return {
      axis,
      settings,
      curve,
      bestEpoch,
      ...(bestEpoch > 0
        ? { validation: { "recall@20": mean(bestEpoch, "recall@20"), "ndcg@20": mean(bestEpoch, "ndcg@20") } }
        : {}),
      seconds: (performance.now() - rowStarted) / 1000,
      status: stoppedByBudget || perSeed.length < seeds.length ? "stopped by budget" : "complete",
      kept: false,
    };
  };
  const complete = (r: TuneRow) => r.status === "complete" && r.validation !== undefined;

  const startSettings = settingsOf(defaultTwoTowerConfig, options.start);
  let best = await run("start", startSettings, "start");
  best.kept = complete(best);
  rows.push(best);
  if (!complete(best)) {
    throw new RangeError(
      `the starting point did not finish within the ${(budgetMs / 1000).toFixed(0)}s budget: raise --budget or lower --max-epochs`,
    );
  }
  for (const axis of axes) {
    const candidates = axis.values
      .map((v) => ({ ...best.settings, ...v }))
      .filter((s) => !sameSettings(s, best.settings));
    for (const [i, settings] of candidates.entries()) {
      const row = await run(axis.name, settings, `${axis.name} ${i + 1}/${candidates.length}`);
      rows.push(row);
      if (complete(row) && row.validation!["recall@20"] > best.validation!["recall@20"]) {
        row.kept = true;
        best = row;
      }
    }
  }
  return {
    rows,
    chosen: configOf(best.settings, best.bestEpoch),
    chosenRow: best,
  };
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;

/** The table as printed (and pasted into config.ts), in the order the runs were made; ← marks a kept value. */
export function formatTuneTable(rows: readonly TuneRow[]): string[] {
  const lines = [
    "axis            τ      lr     batch  wd   logQ  dropout  recency  history  d/hidden  init  cosine  best epoch  val recall@20  val ndcg@20  seconds  status",
  ];
  for (const r of rows) {
    const s = r.settings;
    lines.push(
      [
        r.axis.padEnd(14),
        String(s.temperature).padStart(6),
        String(s.learningRate).padStart(7),
        String(s.batchSize).padStart(6),
        String(s.weightDecay).padStart(4),
        String(s.logQWeight).padStart(5),
        String(s.historyDropout).padStart(8),
        String(s.recencyDecay).padStart(8),
        String(s.historyLength).padStart(8),
        `${s.dim}/${s.hidden}`.padStart(9),
        String(s.embeddingInitStd).padStart(5),
        (s.cosineEpochs > 0 ? String(s.cosineEpochs) : "-").padStart(7),
        String(r.bestEpoch).padStart(11),
        (r.validation ? r.validation["recall@20"].toFixed(4) : "-").padStart(14),
        (r.validation ? r.validation["ndcg@20"].toFixed(4) : "-").padStart(12),
        r.seconds.toFixed(0).padStart(8),
        ` ${r.status}${r.kept ? " ← kept" : ""}`,
      ].join(" "),
    );
  }
  return lines;
}

const USAGE = `usage: tune [--path DIR] [--seeds 1,2] [--max-epochs 16] [--patience 3] [--budget 60m] [--axes a,b,…] [--start '{json}']
  Coordinate search from the defaults, one axis at a time, keeping a value only when its mean
  validation Recall@20 beats the best so far; epochs by early stopping. Axes, in order:
${TUNE_AXES.map((a) => `    ${a.name}: ${a.values.map((v) => Object.values(v).join("/")).join(", ")}`).join("\n")}
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
    const needsValue = ["--path", "--seeds", "--max-epochs", "--patience", "--budget", "--axes", "--start"].includes(
      arg,
    );
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
      case "--axes": {
        const names = value!.split(",").map((s) => s.trim());
        const unknown = names.find((n) => !TUNE_AXES.some((a) => a.name === n));
        if (unknown !== undefined)
          return usage(`unknown axis ${unknown}; choose from ${TUNE_AXES.map((a) => a.name).join(", ")}`);
        options.axes = names;
        break;
      }
      case "--start": {
        let start: unknown;
        try {
          start = JSON.parse(value!);
        } catch {
          return usage(`--start must be a JSON object of settings, e.g. '{"temperature":0.07}'`);
        }
        const bad =
          typeof start !== "object" || start === null
            ? "not an object"
            : Object.entries(start).find(
                ([k, v]) => !SETTING_KEYS.includes(k as keyof TuneSettings) || typeof v !== "number",
              );
        if (bad) return usage(`--start takes numeric settings among ${SETTING_KEYS.join(", ")}, got ${value}`);
        options.start = start as Partial<TuneSettings>;
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
    `tune: coordinate search over ${(options.axes ?? TUNE_AXES.map((a) => a.name)).join(", ")} on the validation split ` +
      `(${validation.test.flat().length} validation items of ${dataset.interactions.user.length} ratings), ` +
      `budget ${((options.budgetMs ?? 60 * 60_000) / 1000).toFixed(0)}s`,
  );
  const result = await tuneTwoTower(dataset, validation, options);
  for (const line of formatTuneTable(result.rows)) io.out(line);
  io.out(`chosen (best mean validation recall@20): ${JSON.stringify(result.chosen)}`);
  io.out(
    JSON.stringify({
      bench: "TUNE",
      split: "validation = last 20% of each user's train items",
      search: "coordinate",
      seeds: options.seeds ?? [1, 2],
      axes: options.axes ?? TUNE_AXES.map((a) => a.name),
      rows: result.rows.map((r) => ({
        axis: r.axis,
        ...r.settings,
        best_epoch: r.bestEpoch,
        "val_recall@20": r.validation ? round4(r.validation["recall@20"]) : null,
        "val_ndcg@20": r.validation ? round4(r.validation["ndcg@20"]) : null,
        curve: r.curve.map(round4),
        seconds: Math.round(r.seconds),
        status: r.status,
        kept: r.kept,
      })),
      chosen: result.chosen,
    }),
  );
  return 0;
}

/**
 * DP-SGD for the two towers with the user as the privacy unit (Abadi et al. 2016, with
 * per-user clipping as in McMahan et al. 2018's user-level DP):
 *
 * 1. Each step samples users independently with probability q (Poisson sampling, what the
 *    accountant assumes).
 * 2. Each sampled user's gradient is computed on their own micro-batch: up to
 *    `examplesPerUser` of their examples, against `negatives` items drawn uniformly from the
 *    vocabulary for the step — data-independent, so no other user's data enters this user's
 *    loss. In-batch negatives would couple users (my positive is your negative); here the
 *    user's gradient is a function of their own examples and public state only, so adding or
 *    removing the user changes the step's sum by exactly their clipped gradient.
 * 3. That whole gradient (both towers' MLPs and every embedding row it touched) is clipped to
 *    L2 norm ≤ clipNorm, the clipped gradients are summed, Gaussian noise N(0, σ²·clipNorm²)
 *    is added to every coordinate of every tensor (all embedding rows, touched or not), and
 *    the sum is divided by the expected number of users per step (q·N). Adam then steps on
 *    that (post-processing).
 * 4. The RDP accountant (dp-accountant.ts) turns (q, σ, steps, δ) into ε; with a target ε,
 *    σ is the smallest that meets it.
 *
 * What stays out of the guarantee: the item vocabulary and item content features are treated
 * as public (a catalogue), and logQ popularity correction is off (item frequencies are private).
 * Noise comes from node:crypto, not from the seeded generator.
 */
import { randomFillSync } from "node:crypto";
import { SeededRandom } from "@recfleet/numeric";
import { resolveConfig, type TwoTowerConfig } from "./config.js";
import { TrainingAbortedError, TwoTowerConfigError } from "./errors.js";
import { WEIGHT_NAMES, type TowerWeights, type TwoTowerModel } from "./model.js";
import { noiseMultiplierFor, dpSgdEpsilon } from "./dp-accountant.js";
import {
  Adam,
  emptyLike,
  GradientComputer,
  packExamples,
  startingWeights,
  type PackedExamples,
  type TrainingData,
  type TrainOptions,
} from "./train.js";

export interface DpSgdOptions {
  /** Target ε for the whole run (with delta); the noise multiplier is calibrated to it. */
  targetEpsilon?: number;
  /** Or the noise multiplier σ itself (ε is then reported). */
  noiseMultiplier?: number;
  delta: number;
  /** L2 bound C on one user's gradient per step. */
  clipNorm: number;
  /** Expected users per step: the sampling rate is this / number of users. */
  usersPerStep: number;
  /** Passes over the users in expectation: steps = ⌈epochs / q⌉. */
  epochs: number;
  /** Examples of a sampled user used in a step (a random subset when they have more). */
  examplesPerUser: number;
  /** Items drawn uniformly per step as every user's negatives. */
  negatives: number;
}

/**
 * Defaults sized for the compute of a 2-core machine (one ML-100K run ≈ 75 steps), not tuned on
 * test figures: δ = 1e-5 (below 1/users up to 100k users), C = 1 (per-user gradients of the mean
 * loss over their examples are of order 1 at initialisation), 128 users per step in expectation.
 */
export const DEFAULT_DP_SGD: Omit<DpSgdOptions, "targetEpsilon" | "noiseMultiplier"> = {
  delta: 1e-5,
  clipNorm: 1,
  usersPerStep: 128,
  epochs: 10,
  examplesPerUser: 8,
  negatives: 64,
};

/** What the model's metadata and `recfleet model list` state about a DP run. */
export interface PrivacyReport {
  mechanism: "dp-sgd";
  /** The privacy unit: adding or removing one user with all their events. */
  unit: "user";
  epsilon: number;
  delta: number;
  noiseMultiplier: number;
  clipNorm: number;
  sampleRate: number;
  steps: number;
  users: number;
  accountant: "rdp-poisson-subsampled-gaussian";
}

/** Standard normals from the OS's CSPRNG (Box–Muller on 32-bit uniforms). */
export function cryptoNormals(out: Float64Array): Float64Array {
  const u = new Uint32Array(out.length + (out.length % 2));
  randomFillSync(u);
  for (let i = 0; i < out.length; i += 2) {
    const a = (u[i]! + 1) / 4294967297;
    const b = u[i + 1]! / 4294967296;
    const r = Math.sqrt(-2 * Math.log(a));
    out[i] = r * Math.cos(2 * Math.PI * b);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * b);
  }
  return out;
}

/** One user's micro-batch: their example indices, then the step's negatives (pseudo-examples). */
export interface UserBatch {
  examples: Int32Array;
}

/**
 * The per-user clipped gradient sum of one step (no noise yet). Returns each user's gradient
 * norm before clipping. `sum` is added to; `scratch` is overwritten.
 */
export async function addClippedUserGradients(
  computer: GradientComputer,
  model: Pick<TwoTowerModel, "config" | "weights" | "itemFeatures">,
  packed: PackedExamples,
  users: readonly UserBatch[],
  negatives: Int32Array,
  clipNorm: number,
  sum: TowerWeights,
  scratch: TowerWeights,
  rng?: SeededRandom,
): Promise<{ norms: number[]; loss: number }> {
  const { dim: d, historyLength: L } = model.config;
  const numItems = model.weights.itemEmbedding.length / d;
  const histRows = new Int32Array(numItems).fill(-1);
  const itemRows = new Int32Array(numItems).fill(-1);
  const norms: number[] = [];
  let loss = 0;
  for (let u = 0; u < users.length; u++) {
    const own = users[u]!.examples;
    const batch = new Int32Array(own.length + negatives.length);
    batch.set(own);
    batch.set(negatives, own.length);
    loss += await computer.run(model.weights, model.itemFeatures, undefined, packed, batch, scratch, rng, own.length);
    // Rows this user's gradient can touch: their history rows, their targets and the negatives.
    const touchedHist: number[] = [];
    const touchedItem: number[] = [];
    for (const e of own) {
      for (let s = 0; s < L; s++) {
        if (packed.historyWeight[e * L + s] === 0) continue;
        const row = packed.historyRows[e * L + s]!;
        if (histRows[row] !== u) {
          histRows[row] = u;
          touchedHist.push(row);
        }
      }
    }
    for (const e of batch) {
      const row = packed.targets[e]!;
      if (itemRows[row] !== u) {
        itemRows[row] = u;
        touchedItem.push(row);
      }
    }
    let sq = 0;
    for (const name of WEIGHT_NAMES) {
      if (name === "historyEmbedding" || name === "itemEmbedding") continue;
      for (const g of scratch[name]) sq += g * g;
    }
    const rowSq = (table: Float32Array, row: number) => {
      let s = 0;
      for (let k = row * d; k < row * d + d; k++) s += table[k]! * table[k]!;
      return s;
    };
    for (const row of touchedHist) sq += rowSq(scratch.historyEmbedding, row);
    for (const row of touchedItem) sq += rowSq(scratch.itemEmbedding, row);
    // The graph's loss is a mean over every row of the micro-batch, negatives included; the
    // user's gradient is that of the mean over their own examples, so its size does not depend
    // on how many negatives were drawn.
    const perOwn = batch.length / own.length;
    const norm = Math.sqrt(sq) * perOwn;
    norms.push(norm);
    const scale = perOwn * (norm > clipNorm ? clipNorm / norm : 1);
    for (const name of WEIGHT_NAMES) {
      if (name === "historyEmbedding" || name === "itemEmbedding") continue;
      const src = scratch[name];
      const dst = sum[name];
      for (let i = 0; i < src.length; i++) dst[i]! += scale * src[i]!;
    }
    const addRows = (src: Float32Array, dst: Float32Array, rows: number[]) => {
      for (const row of rows) for (let k = row * d; k < row * d + d; k++) dst[k]! += scale * src[k]!;
    };
    addRows(scratch.historyEmbedding, sum.historyEmbedding, touchedHist);
    addRows(scratch.itemEmbedding, sum.itemEmbedding, touchedItem);
  }
  return { norms, loss };
}

/** Examples packed with one negatives-only pseudo-example per item appended (index count + item row). */
export function packWithNegatives(config: TwoTowerConfig, data: TrainingData): PackedExamples {
  const pseudo = data.itemIds.map((_, row) => ({ history: [] as number[], target: row }));
  return packExamples(config, [...data.examples, ...pseudo], data.itemIds.length);
}

/** The noise multiplier and step count a DP run will use, and the ε they give. */
export function planDpSgd(dp: DpSgdOptions, users: number): Omit<PrivacyReport, "mechanism" | "unit" | "accountant"> {
  for (const key of ["delta", "clipNorm", "usersPerStep", "epochs", "examplesPerUser", "negatives"] as const) {
    const v = dp[key];
    if (!(v > 0) || !Number.isFinite(v)) throw new TwoTowerConfigError(`dp.${key} must be > 0, got ${v}`, key);
  }
  if (!(dp.delta < 1)) throw new TwoTowerConfigError(`dp.delta must be < 1, got ${dp.delta}`, "delta");
  if ((dp.targetEpsilon === undefined) === (dp.noiseMultiplier === undefined))
    throw new TwoTowerConfigError("give dp.targetEpsilon or dp.noiseMultiplier (one of them)", "targetEpsilon");
  if (users < 2) throw new TwoTowerConfigError(`DP-SGD needs at least 2 users, got ${users}`, "examples");
  const sampleRate = Math.min(1, dp.usersPerStep / users);
  const steps = Math.ceil(dp.epochs / sampleRate);
  const noiseMultiplier =
    dp.noiseMultiplier ?? noiseMultiplierFor(dp.targetEpsilon!, { sampleRate, steps, delta: dp.delta });
  const { epsilon } = dpSgdEpsilon({ sampleRate, noiseMultiplier, steps, delta: dp.delta });
  return { epsilon, delta: dp.delta, noiseMultiplier, clipNorm: dp.clipNorm, sampleRate, steps, users };
}

/**
 * Trains fresh towers with DP-SGD (no warm start: a warm start would compose the budgets of
 * every earlier run). `units[e]` names the user of example e.
 */
export async function trainTwoTowerPrivately(
  data: TrainingData,
  units: ArrayLike<number>,
  configOverrides: Partial<TwoTowerConfig>,
  dp: DpSgdOptions,
  options: Omit<TrainOptions, "warmStart"> = {},
): Promise<{ model: TwoTowerModel; privacy: PrivacyReport }> {
  const config = resolveConfig({ ...configOverrides, logQWeight: 0 });
  const numItems = data.itemIds.length;
  if (numItems === 0) throw new TwoTowerConfigError("data.itemIds is empty", "itemIds");
  if (units.length !== data.examples.length)
    throw new TwoTowerConfigError(`units has ${units.length} entries for ${data.examples.length} examples`, "units");
  const featureWidth = data.itemFeatures.length / numItems;
  const byUser = new Map<number, number[]>();
  for (let e = 0; e < units.length; e++) {
    const u = units[e]!;
    let list = byUser.get(u);
    if (!list) byUser.set(u, (list = []));
    list.push(e);
  }
  const userExamples = [...byUser.values()];
  const plan = planDpSgd(dp, userExamples.length);
  const privacy: PrivacyReport = {
    mechanism: "dp-sgd",
    unit: "user",
    accountant: "rdp-poisson-subsampled-gaussian",
    ...plan,
  };
  const rng = new SeededRandom(config.seed);
  const weights = startingWeights(config, data, featureWidth, rng);
  const model: TwoTowerModel = {
    config,
    itemIds: [...data.itemIds],
    featureWidth,
    itemFeatures: data.itemFeatures,
    weights,
  };
  if (data.examples.length === 0 || config.epochs === 0) return { model, privacy };

  const packed = packWithNegatives(config, data);
  const computer = await GradientComputer.create(config, featureWidth);
  const sum = emptyLike(weights);
  const scratch = emptyLike(weights);
  const adam = new Adam(WEIGHT_NAMES.map((n) => weights[n]));
  const gradList = WEIGHT_NAMES.map((n) => sum[n]);
  const expectedUsers = plan.sampleRate * userExamples.length;
  const noiseStd = plan.noiseMultiplier * dp.clipNorm;
  const noise = new Float64Array(65_536);
  const negatives = new Int32Array(Math.min(dp.negatives, numItems));
  const started = performance.now();
  let lastReport = started;
  let lossSum = 0;
  let lossCount = 0;
  try {
    for (let step = 0; step < plan.steps; step++) {
      if (options.signal?.aborted) throw new TrainingAbortedError(step, { cause: options.signal.reason });
      const users: UserBatch[] = [];
      for (const examples of userExamples) {
        if (rng.next() >= plan.sampleRate) continue;
        let chosen = examples;
        if (examples.length > dp.examplesPerUser) {
          const order = rng.permutation(examples.length);
          chosen = Array.from(order.subarray(0, dp.examplesPerUser), (i) => examples[i]!);
        }
        users.push({ examples: Int32Array.from(chosen) });
      }
      const order = rng.permutation(numItems);
      for (let i = 0; i < negatives.length; i++) negatives[i] = data.examples.length + order[i]!;
      const { loss } = await addClippedUserGradients(
        computer,
        model,
        packed,
        users,
        negatives,
        dp.clipNorm,
        sum,
        scratch,
        rng,
      );
      lossSum += loss;
      lossCount += users.length;
      for (const g of gradList) {
        for (let i = 0; i < g.length; i += noise.length) {
          const n = Math.min(noise.length, g.length - i);
          cryptoNormals(noise.subarray(0, n));
          for (let k = 0; k < n; k++) g[i + k] = (g[i + k]! + noiseStd * noise[k]!) / expectedUsers;
        }
      }
      adam.step(gradList, config.learningRate, config.weightDecay);
      for (const g of gradList) g.fill(0);
      const now = performance.now();
      if (options.onProgress && (step === plan.steps - 1 || now - lastReport >= (options.progressIntervalMs ?? 1000))) {
        lastReport = now;
        const rate = ((step + 1) * expectedUsers) / ((now - started) / 1000);
        options.onProgress({
          epoch: Math.min(dp.epochs, Math.floor((step + 1) * plan.sampleRate) + 1),
          epochs: dp.epochs,
          step: step + 1,
          stepsPerEpoch: plan.steps,
          loss: lossCount > 0 ? lossSum / lossCount : 0,
          examplesPerSecond: rate,
          etaSeconds: ((plan.steps - step - 1) * expectedUsers) / rate,
        });
      }
    }
  } finally {
    await computer.release();
  }
  return { model, privacy };
}

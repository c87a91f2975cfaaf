import {
  createInt8ItemScorer,
  itemVectors,
  trainTwoTower,
  userVectors,
  type TrainingExample,
  type TrainOptions,
  type TwoTowerConfig,
  type TwoTowerModel,
} from "@recfleet/towers";
import type { Dataset } from "./datasets.js";
import type { Scorer } from "./evaluate.js";
import { itemPopularity, type ChronoSplit } from "./split.js";

export interface SequenceExampleOptions {
  /** History items kept per example (the tower's historyLength). Default 50. */
  historyLength?: number;
  /**
   * Extra targets further ahead: for each history end j, also emit targets j+1 … j+horizon−1
   * (each its own example with the same history). 1 = only the next item (the peer's choice).
   * Kept for experiments: on ML100K-CHRONO it scored worse (horizon 3: Recall@20 0.215 vs
   * 0.237 at 1, same other settings), so the CLI uses 1.
   */
  horizon?: number;
}

/**
 * Training examples from chronological train sequences. With the defaults this is the peer's
 * set: for each user and each position j ≥ 1, history = the items before j, target = item j.
 */
export function sequenceExamples(split: ChronoSplit, options: SequenceExampleOptions = {}): TrainingExample[] {
  const historyLength = options.historyLength ?? 50;
  const horizon = options.horizon ?? 1;
  const out: TrainingExample[] = [];
  for (const items of split.train) {
    for (let j = 1; j < items.length; j++) {
      const history = items.slice(Math.max(0, j - historyLength), j);
      for (let ahead = 0; ahead < horizon && j + ahead < items.length; ahead++)
        out.push({ history, target: items[j + ahead]! });
    }
  }
  return out;
}

/** The user (index into split.train) of each example sequenceExamples makes, in the same order: DP-SGD's privacy unit. */
export function sequenceExampleUsers(split: ChronoSplit, options: SequenceExampleOptions = {}): Int32Array {
  const horizon = options.horizon ?? 1;
  const out: number[] = [];
  split.train.forEach((items, user) => {
    for (let j = 1; j < items.length; j++)
      for (let ahead = 0; ahead < horizon && j + ahead < items.length; ahead++) out.push(user);
  });
  return Int32Array.from(out);
}

/**
 * Scores every item of the model for users given by their history rows: the returned function
 * takes indices into `histories` and gives users.length × numItems scores, row-major, by
 * ⟨user vector(history), item vector⟩. Item vectors are computed once, users per call (batches).
 */
export function historyScorer(
  model: TwoTowerModel,
  histories: readonly (readonly number[])[],
): (users: readonly number[]) => Float32Array {
  const d = model.config.dim;
  const items = itemVectors(model);
  const n = model.itemIds.length;
  return (users) => {
    const u = userVectors(
      model,
      users.map((x) => histories[x]!),
    );
    const out = new Float32Array(users.length * n);
    for (let b = 0; b < users.length; b++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += u[b * d + k]! * items[i * d + k]!;
        out[b * n + i] = s;
      }
    }
    return out;
  };
}

/** The model as a Scorer of a split: each user's vector comes from their train items. */
export function twoTowerScorer(model: TwoTowerModel, split: ChronoSplit): Scorer {
  return historyScorer(model, split.train);
}

/** The model scored the way an int8 version serves (towers' createInt8ItemScorer). Release it after. */
export async function int8TwoTowerScorer(
  model: TwoTowerModel,
  split: ChronoSplit,
): Promise<{ score: Scorer; release(): Promise<void> }> {
  const scorer = await createInt8ItemScorer(itemVectors(model), model.config.dim);
  return {
    score: (users) =>
      scorer.scoreAll(
        userVectors(
          model,
          users.map((x) => split.train[x]!),
        ),
      ),
    release: () => scorer.release(),
  };
}

/**
 * Train the two-tower on a split's train items the ML100K-CHRONO way (next-item examples, logQ
 * from train popularity). Pass the validation split to choose settings, the full split once to test.
 */
export function trainOnSplit(
  dataset: Dataset,
  split: ChronoSplit,
  config: TwoTowerConfig,
  options: TrainOptions = {},
): Promise<TwoTowerModel> {
  return trainTwoTower(
    {
      itemIds: dataset.itemIds,
      itemFeatures: dataset.itemFeatures,
      examples: sequenceExamples(split, { historyLength: config.historyLength }),
      itemFrequency: itemPopularity(split),
    },
    config,
    options,
  );
}

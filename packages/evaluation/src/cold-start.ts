// Item cold start on ML100K-CHRONO (`recfleet eval --cold-start`): Recall@20 restricted to the
// test interactions whose item had no train interactions ("new") or 1–4 ("rare"), for MostPop,
// the two-tower without content (ids only) and the two-tower with content features whose new
// items get content-only vectors (the item tower with a zero id embedding, trained with
// idDropout) plus the scorer's new-item boost (SCORER_NEW_ITEM_BOOST: a content vector is only a
// prior, so new items get a fixed lift to be seen at all). The idDropout rate and the boost are
// chosen on a validation split carved from the train part — never on the test figures — as the
// best new-item recall that keeps overall Recall@20 within 10% of the best unboosted one (a boost
// lifts every new item, so it trades overall recall for new-item recall; the bound caps that).
import {
  contentItemVectors,
  itemVectors,
  trainTwoTower,
  userVectors,
  type TwoTowerConfig,
  type TwoTowerModel,
} from "@recfleet/towers";
import type { Dataset } from "./datasets.js";
import { topK, type Scorer } from "./evaluate.js";
import { recallAtK } from "./metrics.js";
import { itemPopularity, type ChronoSplit } from "./split.js";
import { sequenceExamples } from "./two-tower.js";
import { mostPop } from "./baselines.js";

const K = 20;

export type ColdBucket = "new" | "rare";

/** Items with 0 ("new") or 1–4 ("rare") train interactions. */
export function bucketOf(trainCount: number): ColdBucket | undefined {
  return trainCount === 0 ? "new" : trainCount <= 4 ? "rare" : undefined;
}

export interface ColdStartRecall {
  /** Recall@20 over every test item (the protocol's), to show what a boost costs. */
  all: number;
  /** Recall@20 over users with at least one test item in the bucket (full ranking, train items excluded). */
  new: number;
  rare: number;
  /** Users / test interactions in each bucket. */
  users: { new: number; rare: number };
  interactions: { new: number; rare: number };
}

/** Cold-start Recall@20 of a scorer on a split. */
export async function evaluateColdStart(score: Scorer, split: ChronoSplit, batchSize = 256): Promise<ColdStartRecall> {
  const counts = itemPopularity(split);
  const truth = { new: [] as Set<number>[], rare: [] as Set<number>[] };
  const users: number[] = [];
  const allTruth: Set<number>[] = [];
  const interactions = { new: 0, rare: 0 };
  split.test.forEach((items, u) => {
    if (items.length === 0) return;
    const sets = { new: new Set<number>(), rare: new Set<number>() };
    for (const i of items) {
      const b = bucketOf(counts[i]!);
      if (b) {
        sets[b].add(i);
        interactions[b]++;
      }
    }
    users.push(u);
    allTruth.push(new Set(items));
    truth.new.push(sets.new);
    truth.rare.push(sets.rare);
  });
  let all = 0;
  const sum = { new: 0, rare: 0 };
  const n = { new: 0, rare: 0 };
  for (let start = 0; start < users.length; start += batchSize) {
    const batch = users.slice(start, start + batchSize);
    const scores = await score(batch);
    batch.forEach((u, b) => {
      const top = topK(scores, b * split.numItems, split.numItems, K, new Set(split.train[u]));
      all += recallAtK(top, allTruth[start + b]!, K);
      for (const bucket of ["new", "rare"] as const) {
        const relevant = truth[bucket][start + b]!;
        if (relevant.size === 0) continue;
        sum[bucket] += recallAtK(top, relevant, K);
        n[bucket]++;
      }
    });
  }
  return {
    all: users.length ? all / users.length : 0,
    new: n.new ? sum.new / n.new : 0,
    rare: n.rare ? sum.rare / n.rare : 0,
    users: n,
    interactions,
  };
}

/**
 * The two-tower as served: items with train interactions use their learned vector (id + content),
 * items without any use the content-only vector (as the scorer gives a new catalog item). With
 * `contentForNew` false every item uses its id row (an untrained row for new items).
 */
export function coldStartScorer(
  model: TwoTowerModel,
  split: ChronoSplit,
  contentForNew: boolean,
  newItemBoost = 0,
): Scorer {
  const d = model.config.dim;
  const n = split.numItems;
  const items = itemVectors(model);
  const offset = new Float32Array(n);
  if (contentForNew && model.featureWidth > 0) {
    const counts = itemPopularity(split);
    const F = model.featureWidth;
    const fresh = [...counts.keys()].filter((i) => counts[i] === 0);
    const features = new Float32Array(fresh.length * F);
    fresh.forEach((i, j) => features.set(model.itemFeatures.subarray(i * F, i * F + F), j * F));
    const vectors = contentItemVectors(model, features);
    fresh.forEach((i, j) => items.set(vectors.subarray(j * d, j * d + d), i * d));
    for (const i of fresh) offset[i] = newItemBoost;
  }
  return (users) => {
    const u = userVectors(
      model,
      users.map((x) => split.train[x]!),
    );
    const out = new Float32Array(users.length * n);
    for (let b = 0; b < users.length; b++)
      for (let i = 0; i < n; i++) {
        let s = offset[i]!;
        for (let k = 0; k < d; k++) s += u[b * d + k]! * items[i * d + k]!;
        out[b * n + i] = s;
      }
    return out;
  };
}

/** A validation split from the train part: per user, the last `fraction` of train items (at least 1 when ≥ 2). */
export function validationSplit(split: ChronoSplit, fraction = 0.2): ChronoSplit {
  const train: number[][] = [];
  const test: number[][] = [];
  for (const items of split.train) {
    const nVal = items.length < 2 ? 0 : Math.max(1, Math.round(fraction * items.length));
    train.push(items.slice(0, items.length - nVal));
    test.push(items.slice(items.length - nVal));
  }
  return { train, test, numItems: split.numItems };
}

export interface ColdStartOptions {
  seeds: number[];
  config: TwoTowerConfig;
  /** idDropout rates and new-item boosts (cosine units) tried on the validation split. */
  idDropoutGrid: number[];
  boostGrid: number[];
  log(line: string): void;
}

export interface ColdStartReport {
  chosenIdDropout: number;
  chosenBoost: number;
  validation: { idDropout: number; boost: number; all: number; new: number; rare: number }[];
  mostpop: ColdStartRecall;
  idOnly: ColdStartRecall[];
  content: ColdStartRecall[];
}

async function train(dataset: Dataset, split: ChronoSplit, config: TwoTowerConfig, withContent: boolean) {
  return trainTwoTower(
    {
      itemIds: dataset.itemIds,
      itemFeatures: withContent ? dataset.itemFeatures : new Float32Array(0),
      examples: sequenceExamples(split, { historyLength: config.historyLength }),
      itemFrequency: itemPopularity(split),
    },
    config,
  );
}

export async function runColdStart(
  dataset: Dataset,
  split: ChronoSplit,
  options: ColdStartOptions,
): Promise<ColdStartReport> {
  const { config, log } = options;
  const val = validationSplit(split);
  const validation: ColdStartReport["validation"] = [];
  for (const p of options.idDropoutGrid) {
    const model = await train(dataset, val, { ...config, idDropout: p, seed: options.seeds[0]! }, true);
    for (const boost of options.boostGrid) {
      const r = await evaluateColdStart(coldStartScorer(model, val, true, boost), val);
      validation.push({ idDropout: p, boost, all: r.all, new: r.new, rare: r.rare });
      log(
        `validation idDropout ${p} boost ${boost}: all ${r.all.toFixed(4)} new ${r.new.toFixed(4)} rare ${r.rare.toFixed(4)} (${r.users.new} users with new items)`,
      );
    }
  }
  const floor = 0.9 * Math.max(...validation.filter((v) => v.boost === 0).map((v) => v.all));
  const best = validation.filter((v) => v.all >= floor).reduce((a, b) => (b.new > a.new ? b : a));
  const chosen = best.idDropout;
  log(
    `chosen idDropout ${chosen}, new-item boost ${best.boost} (best validation new-item Recall@20 with overall ≥ ${floor.toFixed(4)})`,
  );
  const mostpop = await evaluateColdStart(mostPop(split), split);
  const idOnly: ColdStartRecall[] = [];
  const content: ColdStartRecall[] = [];
  for (const seed of options.seeds) {
    const plain = await train(dataset, split, { ...config, idDropout: 0, seed }, false);
    idOnly.push(await evaluateColdStart(coldStartScorer(plain, split, false), split));
    const withContent = await train(dataset, split, { ...config, idDropout: chosen, seed }, true);
    content.push(await evaluateColdStart(coldStartScorer(withContent, split, true, best.boost), split));
    log(
      `seed ${seed}: id-only new ${idOnly.at(-1)!.new.toFixed(4)} rare ${idOnly.at(-1)!.rare.toFixed(4)}; ` +
        `content new ${content.at(-1)!.new.toFixed(4)} rare ${content.at(-1)!.rare.toFixed(4)}`,
    );
  }
  return { chosenIdDropout: chosen, chosenBoost: best.boost, validation, mostpop, idOnly, content };
}

// Small synthetic data for the unit tests (not exported from index.ts).
import { SeededRandom } from "@recfleet/numeric";
import { referenceTwoTowerConfig, resolveConfig, type TwoTowerConfig } from "./config.js";
import { initWeights, type TwoTowerModel } from "./model.js";
import type { TrainingData, TrainingExample } from "./train.js";

// Built on the reference config so changing the tuned defaults does not change the tests.
export const tinyConfig: TwoTowerConfig = resolveConfig({
  ...referenceTwoTowerConfig,
  logQWeight: 1.5,
  dim: 4,
  hidden: 6,
  historyLength: 5,
  batchSize: 8,
  epochs: 2,
  temperature: 0.5,
  seed: 3,
  embeddingInitStd: 0.5,
});

export function tinyData(numItems = 12, featureWidth = 3, numExamples = 40, seed = 11): TrainingData {
  const rng = new SeededRandom(seed);
  const itemIds = Array.from({ length: numItems }, (_, i) => `item-${i}`);
  const itemFeatures = new Float32Array(numItems * featureWidth);
  for (let i = 0; i < itemFeatures.length; i++) itemFeatures[i] = rng.next() < 0.4 ? 1 : 0;
  const examples: TrainingExample[] = [];
  for (let e = 0; e < numExamples; e++) {
    const length = 1 + Math.floor(rng.next() * 7);
    const history = Array.from({ length }, () => Math.floor(rng.next() * numItems));
    // Skewed targets so batches contain repeated items (exercises the duplicate mask).
    const target = Math.floor(Math.pow(rng.next(), 2) * numItems);
    examples.push({ history, target, historyWeights: history.map(() => 0.5 + rng.next()) });
  }
  return { itemIds, itemFeatures, examples };
}

export function randomModel(config: TwoTowerConfig, data: TrainingData, seed = 5): TwoTowerModel {
  const featureWidth = data.itemFeatures.length / data.itemIds.length;
  const weights = initWeights(config, data.itemIds.length, featureWidth, new SeededRandom(seed));
  return { config, itemIds: data.itemIds, featureWidth, itemFeatures: data.itemFeatures, weights };
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  serializeModel,
  TrainingAbortedError,
  TwoTowerConfigError,
  type TrainingData,
  type TrainingExample,
  type TrainingProgress,
} from "@recfleet/towers";
import { shouldRetry } from "@recfleet/runtime";
import { trainCandidate } from "./train-process";

function data(numItems: number, numExamples: number, seed = 5): TrainingData {
  let state = seed; // a small LCG: the same data on every run
  const rng = { next: () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 };
  const itemIds = Array.from({ length: numItems }, (_, i) => `item-${i}`);
  const itemFeatures = new Float32Array(numItems * 2);
  for (let i = 0; i < itemFeatures.length; i++) itemFeatures[i] = rng.next() < 0.5 ? 1 : 0;
  const examples: TrainingExample[] = [];
  for (let e = 0; e < numExamples; e++) {
    const history = Array.from({ length: 1 + Math.floor(rng.next() * 5) }, () => Math.floor(rng.next() * numItems));
    examples.push({ history, target: Math.floor(rng.next() ** 2 * numItems) });
  }
  return { itemIds, itemFeatures, examples };
}

const config = { dim: 4, hidden: 8, historyLength: 5, batchSize: 16, epochs: 2, seed: 3, threads: 1 };

describe("trainCandidate", () => {
  it("trains the same model, byte for byte, in a child process as in this one (cold and warm start)", async () => {
    const d = data(30, 200);
    const inline = await trainCandidate("none", { data: d, config });
    const child = await trainCandidate("process", { data: d, config });
    assert.deepEqual(serializeModel(child.model), serializeModel(inline.model));
    assert.ok(child.processMaxRssMb! > 10, `child peak RSS ${child.processMaxRssMb} MiB`);

    const more = data(34, 200, 6); // four new items: the warm start keeps the 30 it knows
    const warmInline = await trainCandidate("none", { data: more, config, warmStart: inline.model });
    const warmChild = await trainCandidate("process", { data: more, config, warmStart: inline.model });
    assert.deepEqual(serializeModel(warmChild.model), serializeModel(warmInline.model));
    assert.notDeepEqual(serializeModel(warmChild.model), serializeModel(child.model));
  });

  it("forwards progress, and an abort ends the child with TrainingAbortedError", async () => {
    const progress: TrainingProgress[] = [];
    const stop = new AbortController();
    const run = trainCandidate(
      "process",
      { data: data(200, 20_000), config: { ...config, epochs: 50 } },
      {
        signal: stop.signal,
        progressIntervalMs: 50,
        onProgress: (p) => {
          progress.push(p);
          if (progress.length === 2) stop.abort(new Error("shutdown"));
        },
      },
    );
    await assert.rejects(run, TrainingAbortedError);
    assert.ok(progress.length >= 2, `${progress.length} progress reports`);
    assert.ok(progress[0]!.epoch >= 1 && progress[0]!.stepsPerEpoch > 0);
  });

  it("rebuilds the child's errors as their own types, non-retriable where they were", async () => {
    const bad = { ...data(10, 20), itemFeatures: new Float32Array(7) }; // not a multiple of 10 items
    const err = await trainCandidate("process", { data: bad, config }).catch((e: unknown) => e);
    assert.ok(err instanceof TwoTowerConfigError, String(err));
    assert.equal(err.field, "itemFeatures");
    assert.equal(shouldRetry(err), false);
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createLogger } from "@recfleet/runtime";
import { createModelRegistry, CorruptArtefactError } from "@recfleet/store";
import { publishModelVersion } from "@recfleet/store/testing";
import {
  exportModelArtefacts,
  INT8_CODE_MAX,
  itemVectors,
  resolveConfig,
  trainTwoTower,
  type TwoTowerModel,
} from "@recfleet/towers";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { loadServingModel } from "./serving-model";

const redis = new Redis(testInfra().redisUrl);
test.after(() => redis.disconnect());
const logger = createLogger("int8-it", { level: "error" });
const options = { executionProviders: ["cpu" as const], logger };
const NUM_ITEMS = 60;

async function model(): Promise<TwoTowerModel> {
  const itemIds = Array.from({ length: NUM_ITEMS }, (_, i) => `item${i}`);
  const examples = Array.from({ length: 300 }, (_, e) => {
    const b = (e * 7) % NUM_ITEMS;
    return { history: [b, (b + 1) % NUM_ITEMS], target: (b + 2) % NUM_ITEMS };
  });
  return trainTwoTower(
    { itemIds, itemFeatures: new Float32Array(0), examples },
    // A constant step and no weight decay: two epochs must separate the items' scores (the tuned
    // defaults' cosine decay over two epochs leaves near-ties that any rounding reorders).
    resolveConfig({
      dim: 16,
      hidden: 16,
      historyLength: 10,
      batchSize: 32,
      epochs: 2,
      temperature: 0.2,
      seed: 3,
      learningRateSchedule: "constant",
      weightDecay: 0,
    }),
  );
}

test("a version published with itemMatrix int8 is served by serving-int8.onnx from an int8 matrix: the float version's top items, dequantized vectors", async () => {
  const ns = uniqueName("int8");
  const registry = createModelRegistry(redis, ns);
  const m = await model();
  const items = itemVectors(m);
  for (const format of ["float32", "int8"] as const)
    await publishModelVersion(registry, {
      version: format,
      dim: m.config.dim,
      shardSize: 16,
      artefacts: exportModelArtefacts(m, { modelVersion: format }, { itemMatrix: format }),
      itemMatrix: items,
    });
  const float = await loadServingModel(registry, "float32", options);
  const int8 = await loadServingModel(registry, "int8", options);
  assert.equal(float.itemMatrixFormat, "float32");
  assert.equal(int8.itemMatrixFormat, "int8");
  const histories = Array.from({ length: 12 }, (_, u) => [(u * 5) % NUM_ITEMS, (u * 5 + 1) % NUM_ITEMS]);
  const k = 10;
  const a = await float.retrieve(histories, k);
  const b = await int8.retrieve(histories, k);
  let overlap = 0;
  for (let u = 0; u < histories.length; u++) {
    const top = new Set(a.rows.subarray(u * k, (u + 1) * k));
    for (const row of b.rows.subarray(u * k, (u + 1) * k)) overlap += Number(top.has(row));
    for (let r = 0; r < k; r++) assert.ok(Math.abs(a.scores[u * k + r]! - b.scores[u * k + r]!) < 0.05);
  }
  assert.ok(overlap >= 0.9 * histories.length * k, `int8 top-${k} shares ${overlap} of ${histories.length * k} items`);
  for (const row of [0, 17, NUM_ITEMS - 1]) {
    const exact = float.itemVector(row);
    const back = int8.itemVector(row);
    for (let j = 0; j < m.config.dim; j++) assert.ok(Math.abs(exact[j]! - back[j]!) < 1 / INT8_CODE_MAX);
  }
  // New catalog items join an int8 version quantized, and are retrievable.
  const extra = int8.withExtraItems(["new1"], items.slice(0, m.config.dim));
  const withNew = await extra.retrieve([[0, 1]], NUM_ITEMS + 1);
  assert.ok(withNew.rows.includes(NUM_ITEMS));
  assert.deepEqual(extra.itemVector(NUM_ITEMS), int8.itemVector(0));
  await float.release();
  await int8.release();
});

test("serving.json naming an unknown item-matrix format is a corrupt artefact, not a crash", async () => {
  const ns = uniqueName("int8");
  const registry = createModelRegistry(redis, ns);
  const m = await model();
  // A valid checksum over a serving.json whose format no scorer knows (a newer trainer's, say).
  const artefacts = exportModelArtefacts(m, { modelVersion: "v1" });
  const json = JSON.parse(new TextDecoder().decode(artefacts["serving.json"]));
  artefacts["serving.json"] = new TextEncoder().encode(JSON.stringify({ ...json, itemMatrix: "int4" }));
  await publishModelVersion(registry, {
    version: "v1",
    dim: m.config.dim,
    shardSize: 16,
    artefacts,
    itemMatrix: itemVectors(m),
  });
  await assert.rejects(
    loadServingModel(registry, "v1", options),
    (err) => err instanceof CorruptArtefactError && /int4/.test(String(err)),
  );
});

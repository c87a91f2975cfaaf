import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import {
  exportContentTowerOnnx,
  exportItemTowerOnnx,
  exportModelArtefacts,
  exportRetrievalOnnx,
  exportServingOnnx,
  exportUserTowerOnnx,
  SERVING_GRAPHS,
} from "./export.js";
import { quantizeItemMatrix } from "./quantize.js";
import { contentItemVectors, encodeHistories, itemVectors, userVectors } from "./model.js";
import { createInferenceSession, type SessionLogger } from "./session.js";
import { randomModel, tinyConfig, tinyData } from "./test-fixtures.js";

const meta = { modelVersion: "v-test", trainingDataRange: "2026-01-01/2026-02-01", metrics: { "recall@20": 0.25 } };
const data = tinyData();
// Recency decay on, so the parity covers encodeHistories' weighting too.
const model = randomModel({ ...tinyConfig, recencyDecay: 0.8 }, data);
// Histories longer than historyLength, empty, and weighted.
const histories = [[0, 1, 2], [5], [], [3, 3, 4, 7, 8, 9, 10, 11], [11, 2]];
const weights = [[1, 2, 0.5], undefined, undefined, [1, 1, 1, 1, 1, 1, 2, 3], undefined];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function cpuSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return (await createInferenceSession(bytes, { executionProviders: ["cpu"] })).session;
}

function historyFeeds(): Record<string, ort.Tensor> {
  const L = tinyConfig.historyLength;
  const { history, historyMask } = encodeHistories(model, histories, weights);
  return {
    history: new ort.Tensor("int64", history, [histories.length, L]),
    history_mask: new ort.Tensor("float32", historyMask, [histories.length, L]),
  };
}

describe("ONNX export parity with the TypeScript forward pass", () => {
  it("user tower", async () => {
    const session = await cpuSession(exportUserTowerOnnx(model, meta));
    assert.deepEqual(session.inputNames, ["history", "history_mask"]);
    assert.deepEqual(session.outputNames, ["user_vector"]);
    const out = await session.run(historyFeeds());
    assert.ok(maxAbsDiff(out["user_vector"]!.data as Float32Array, userVectors(model, histories, weights)) < 1e-4);
    await session.release();
  });

  it("item tower", async () => {
    const session = await cpuSession(exportItemTowerOnnx(model, meta));
    // The vocabulary's content features are part of the graph: rows are the only input (embed-items feeds rows).
    assert.deepEqual(session.inputNames, ["item_row"]);
    const rows = [0, 4, 11, 4];
    const out = await session.run({
      item_row: new ort.Tensor("int64", BigInt64Array.from(rows.map(BigInt)), [rows.length]),
    });
    assert.ok(maxAbsDiff(out["item_vector"]!.data as Float32Array, itemVectors(model, rows)) < 1e-4);
    await session.release();
  });

  it("retrieval graph: scores and indices of the top k, k clamped to the catalog", async () => {
    const items = itemVectors(model);
    const n = model.itemIds.length;
    const d = tinyConfig.dim;
    const users = userVectors(model, histories, weights);
    for (const k of [5, 100]) {
      const session = await cpuSession(exportRetrievalOnnx(model, items, n, k, meta));
      const out = await session.run(historyFeeds());
      const kk = Math.min(k, n);
      assert.deepEqual(out["scores"]!.dims, [histories.length, kk]);
      const scores = out["scores"]!.data as Float32Array;
      const indices = out["indices"]!.data as BigInt64Array;
      for (let b = 0; b < histories.length; b++) {
        const expected = Array.from({ length: n }, (_, i) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += users[b * d + j]! * items[i * d + j]!;
          return s;
        }).sort((x, y) => y - x);
        for (let r = 0; r < kk; r++) {
          assert.ok(Math.abs(scores[b * kk + r]! - expected[r]!) < 1e-4, `user ${b} rank ${r}`);
          const i = Number(indices[b * kk + r]!);
          let s = 0;
          for (let j = 0; j < d; j++) s += users[b * d + j]! * items[i * d + j]!;
          assert.ok(Math.abs(s - scores[b * kk + r]!) < 1e-4, "index points at its score");
        }
      }
      await session.release();
    }
  });

  it("serving graph (item matrix as input): user vectors and top-k equal the retrieval graph's", async () => {
    const items = itemVectors(model);
    const n = model.itemIds.length;
    const d = tinyConfig.dim;
    const k = 5;
    const serving = await cpuSession(exportServingOnnx(model, meta));
    const retrieval = await cpuSession(exportRetrievalOnnx(model, items, n, k, meta));
    const out = await serving.run({
      ...historyFeeds(),
      item_matrix: new ort.Tensor("float32", items, [n, d]),
      item_bias: new ort.Tensor("float32", new Float32Array(n), [1, n]),
      k: new ort.Tensor("int64", BigInt64Array.from([BigInt(k)]), [1]),
    });
    const expected = await retrieval.run(historyFeeds());
    assert.ok(maxAbsDiff(out["user_vector"]!.data as Float32Array, userVectors(model, histories, weights)) < 1e-4);
    assert.ok(maxAbsDiff(out["scores"]!.data as Float32Array, expected["scores"]!.data as Float32Array) < 1e-4);
    assert.deepEqual(out["indices"]!.data, expected["indices"]!.data);

    // A per-request bias: −∞ masks the request's best item out, +1 lifts its worst to the top.
    const B = histories.length;
    const best = Array.from({ length: B }, (_, b) => Number((expected["indices"]!.data as BigInt64Array)[b * k]));
    const bias = new Float32Array(B * n);
    for (let b = 0; b < B; b++) bias[b * n + best[b]!] = -Infinity;
    bias[0 * n + 11] = 3;
    const masked = await serving.run({
      ...historyFeeds(),
      item_matrix: new ort.Tensor("float32", items, [n, d]),
      item_bias: new ort.Tensor("float32", bias, [B, n]),
      k: new ort.Tensor("int64", BigInt64Array.from([BigInt(k)]), [1]),
    });
    const rows = masked["indices"]!.data as BigInt64Array;
    for (let b = 0; b < B; b++)
      for (let r = 0; r < k; r++) assert.notEqual(Number(rows[b * k + r]), best[b], `request ${b} got a masked item`);
    assert.equal(Number(rows[0]), 11, "the boosted item leads request 0");
    await serving.release();
    await retrieval.release();
  });

  it("int8 serving graph: the float graph's user vectors, its top items within quantisation error, and the bias", async () => {
    const items = itemVectors(model);
    const n = model.itemIds.length;
    const d = tinyConfig.dim;
    const q = quantizeItemMatrix(items, d);
    const serving = await cpuSession(exportServingOnnx(model, meta, { itemMatrix: "int8" }));
    assert.deepEqual([...serving.inputNames].sort(), [
      "history",
      "history_mask",
      "item_bias",
      "item_codes",
      "item_scales",
      "k",
    ]);
    const B = histories.length;
    const feeds = (bias: Float32Array, rows: number) => ({
      ...historyFeeds(),
      item_codes: new ort.Tensor("int8", q.codes, [d, n]),
      item_scales: new ort.Tensor("float32", q.scales, [n]),
      item_bias: new ort.Tensor("float32", bias, [rows, n]),
      k: new ort.Tensor("int64", BigInt64Array.of(BigInt(n)), [1]),
    });
    const out = await serving.run(feeds(new Float32Array(n), 1));
    const users = userVectors(model, histories, weights);
    assert.ok(maxAbsDiff(out["user_vector"]!.data as Float32Array, users) < 1e-4);
    const scores = out["scores"]!.data as Float32Array;
    const rows = out["indices"]!.data as BigInt64Array;
    for (let b = 0; b < B; b++)
      for (let r = 0; r < n; r++) {
        const i = Number(rows[b * n + r]);
        let exact = 0;
        for (let j = 0; j < d; j++) exact += users[b * d + j]! * items[i * d + j]!;
        // unit vectors, d = 4: items off by ≤ 1/254 per value, the user vector by ≤ 1/255
        assert.ok(Math.abs(scores[b * n + r]! - exact) < 0.02, `user ${b} rank ${r}`);
      }
    const masked = new Float32Array(B * n);
    for (let b = 0; b < B; b++) masked[b * n + Number(rows[b * n])] = -Infinity;
    const out2 = await serving.run(feeds(masked, B));
    const rows2 = out2["indices"]!.data as BigInt64Array;
    const scores2 = out2["scores"]!.data as Float32Array;
    for (let b = 0; b < B; b++) {
      assert.equal(scores2[b * n + n - 1], -Infinity, "the masked item ranks last");
      assert.equal(rows2[b * n + n - 1], rows[b * n]);
    }
    const props = Object.fromEntries(
      onnxProto.onnx.ModelProto.decode(exportServingOnnx(model, meta, { itemMatrix: "int8" })).metadataProps.map(
        (p) => [p.key, p.value],
      ),
    );
    assert.equal(props["item_matrix"], "int8");
    await serving.release();
  });

  it("exportModelArtefacts stores both serving graphs and the chosen one in serving.json", () => {
    for (const itemMatrix of ["float32", "int8"] as const) {
      const artefacts = exportModelArtefacts(model, meta, { itemMatrix });
      assert.ok(artefacts[SERVING_GRAPHS.float32] && artefacts[SERVING_GRAPHS.int8]);
      assert.equal(JSON.parse(new TextDecoder().decode(artefacts["serving.json"])).itemMatrix, itemMatrix);
    }
  });

  it("content tower equals the item tower with a zero id embedding", async () => {
    const F = model.featureWidth;
    assert.ok(F > 0, "the fixture has content features");
    const session = await cpuSession(exportContentTowerOnnx(model, meta));
    const out = await session.run({ item_features: new ort.Tensor("float32", model.itemFeatures, [12, F]) });
    const zeroId = {
      ...model,
      weights: { ...model.weights, itemEmbedding: new Float32Array(model.weights.itemEmbedding.length) },
    };
    const expected = itemVectors(zeroId);
    assert.ok(maxAbsDiff(out["item_vector"]!.data as Float32Array, expected) < 1e-4);
    assert.ok(maxAbsDiff(contentItemVectors(model, model.itemFeatures), expected) < 1e-6);
    await session.release();
  });

  it("states opset, names and metadata", () => {
    const decoded = onnxProto.onnx.ModelProto.decode(exportRetrievalOnnx(model, itemVectors(model), 12, 3, meta));
    assert.equal(Number(decoded.opsetImport[0]!.version), 17);
    const props = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(props["model_version"], "v-test");
    assert.equal(props["d"], "4");
    assert.equal(props["training_data_range"], "2026-01-01/2026-02-01");
    assert.deepEqual(JSON.parse(props["metrics"]!), { "recall@20": 0.25 });
    assert.equal(props["k"], "3");
    assert.ok((decoded.graph?.initializer ?? []).some((t) => t.name === "item_matrix"));
  });

  it("refuses an item matrix of the wrong size", () => {
    assert.throws(() => exportRetrievalOnnx(model, new Float32Array(5), 12, 3, meta), RangeError);
  });
});

describe("createInferenceSession", () => {
  it("falls back to CPU with a logged reason when CUDA is requested but unavailable", async (t) => {
    const warnings: string[] = [];
    const logger: SessionLogger = { warn: (m) => warnings.push(m) };
    const { session, provider, fallbackReasons } = await createInferenceSession(exportUserTowerOnnx(model, meta), {
      executionProviders: ["cuda", "cpu"],
      logger,
    });
    if (provider === "cuda") {
      t.diagnostic("CUDA is available on this host; fallback not exercised");
    } else {
      assert.equal(provider, "cpu");
      assert.equal(fallbackReasons.length, 1);
      assert.equal(warnings.length, 1);
    }
    const out = await session.run(historyFeeds());
    assert.ok(maxAbsDiff(out["user_vector"]!.data as Float32Array, userVectors(model, histories, weights)) < 1e-4);
    await session.release();
  });
});

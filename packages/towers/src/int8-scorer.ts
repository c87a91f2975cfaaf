// Every item's score the way an int8 serving graph computes it (item-scores.ts' "integer"
// kernel: items quantized per item, the user vectors quantized per run, onnxruntime's integer
// MatMul), for offline evaluation of int8 versions (recfleet eval --int8).
import * as ort from "onnxruntime-node";
import { quantizeItemMatrix } from "./quantize.js";
import { createInferenceSession } from "./session.js";
import { exportTopKOnnx } from "./topk.js";

export interface Int8ItemScorer {
  /** users: B × d user vectors → B × N scores, item order. */
  scoreAll(users: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function createInt8ItemScorer(itemMatrix: Float32Array, dim: number): Promise<Int8ItemScorer> {
  const q = quantizeItemMatrix(itemMatrix, dim);
  const n = q.numItems;
  const { session } = await createInferenceSession(exportTopKOnnx(dim, { itemMatrix: "int8" }), {
    executionProviders: ["cpu"],
  });
  const codes = new ort.Tensor("int8", q.codes, [dim, n]);
  const scales = new ort.Tensor("float32", q.scales, [n]);
  const k = new ort.Tensor("int64", BigInt64Array.of(BigInt(n)), [1]);
  return {
    async scoreAll(users) {
      const B = users.length / dim;
      const out = await session.run({
        user_vector: new ort.Tensor("float32", users, [B, dim]),
        item_codes: codes,
        item_scales: scales,
        k,
      });
      // TopK over every item: put each score back at its item's column.
      const sorted = out["scores"]!.data as Float32Array;
      const rows = out["indices"]!.data as BigInt64Array;
      const scores = new Float32Array(B * n);
      for (let b = 0; b < B; b++)
        for (let r = 0; r < n; r++) scores[b * n + Number(rows[b * n + r])] = sorted[b * n + r]!;
      return scores;
    },
    release: () => session.release(),
  };
}

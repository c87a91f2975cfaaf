import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { INT8_CODE_MAX, concatQuantized, dequantizeItem, quantizeItemMatrix } from "./quantize.js";
import { exportTopKOnnx } from "./topk.js";
import { createInferenceSession } from "./session.js";

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1);
}

describe("quantizeItemMatrix", () => {
  const d = 8;
  const m = values(5 * d, 3);
  m.fill(0, 2 * d, 3 * d); // row 2 all zero
  m[4 * d + 1] = -2.5; // row 4's largest value is negative
  const q = quantizeItemMatrix(m, d);

  it("keeps every value within half a step of its row's scale, codes in [-INT8_CODE_MAX, INT8_CODE_MAX]", () => {
    assert.equal(q.numItems, 5);
    for (const c of q.codes) assert.ok(c >= -INT8_CODE_MAX && c <= INT8_CODE_MAX);
    for (let i = 0; i < 5; i++) {
      const back = dequantizeItem(q, i);
      for (let j = 0; j < d; j++)
        assert.ok(Math.abs(back[j]! - m[i * d + j]!) <= q.scales[i]! / 2 + 1e-7, `row ${i} value ${j}`);
    }
    assert.equal(q.scales[4], Math.fround(2.5 / INT8_CODE_MAX));
    assert.ok(Math.abs(dequantizeItem(q, 4)[1]! + 2.5) < 1e-6, "the largest magnitude comes back");
  });

  it("stores codes transposed (d × N) and an all-zero row as scale 0", () => {
    assert.equal(q.codes[1 * 5 + 4], -INT8_CODE_MAX, "value 1 of item 4 sits at column 4 of row 1");
    assert.equal(q.scales[2], 0);
    assert.deepEqual([...dequantizeItem(q, 2)], new Array(d).fill(0));
  });

  it("concatenates rows", () => {
    const extra = quantizeItemMatrix(values(3 * d, 9), d);
    const all = concatQuantized(q, extra);
    assert.equal(all.numItems, 8);
    assert.deepEqual(dequantizeItem(all, 1), dequantizeItem(q, 1));
    assert.deepEqual(dequantizeItem(all, 6), dequantizeItem(extra, 1));
  });

  it("refuses non-finite values, a wrong width and rows out of range", () => {
    assert.throws(() => quantizeItemMatrix(Float32Array.of(1, NaN), 2), /non-finite/);
    assert.throws(() => quantizeItemMatrix(new Float32Array(7), 2), RangeError);
    assert.throws(() => dequantizeItem(q, 5), RangeError);
  });
});

describe("int8 scores in onnxruntime (exportTopKOnnx with an int8 item matrix)", () => {
  const d = 16;
  const n = 300;
  const items = values(n * d, 5);
  const users = values(3 * d, 7);
  const q = quantizeItemMatrix(items, d);
  const exact = (b: number, i: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += users[b * d + j]! * items[i * d + j]!;
    return s;
  };

  for (const kernel of ["integer", "dequantize"] as const) {
    it(`${kernel}: top-k scores within the quantisation error of the exact inner products`, async () => {
      const { session } = await createInferenceSession(exportTopKOnnx(d, { itemMatrix: "int8", kernel }), {
        executionProviders: ["cpu"],
      });
      const k = 10;
      const out = await session.run({
        user_vector: new ort.Tensor("float32", users, [3, d]),
        item_codes: new ort.Tensor("int8", q.codes, [d, n]),
        item_scales: new ort.Tensor("float32", q.scales, [n]),
        k: new ort.Tensor("int64", BigInt64Array.of(BigInt(k)), [1]),
      });
      const scores = out["scores"]!.data as Float32Array;
      const rows = out["indices"]!.data as BigInt64Array;
      // integer: items off by ≤ scale/2 per value and the user vector by ≤ its own half step
      // (uint8 over [min, max]); |u|,|x| ≤ 1, so d · (1/INT8_CODE_MAX + 2/255) bounds the score error.
      const bound = d * (1 / INT8_CODE_MAX + 2 / 255);
      for (let b = 0; b < 3; b++) {
        const best = Array.from({ length: n }, (_, i) => exact(b, i)).sort((x, y) => y - x);
        for (let r = 0; r < k; r++) {
          const row = Number(rows[b * k + r]);
          assert.ok(Math.abs(scores[b * k + r]! - exact(b, row)) < bound, `user ${b} rank ${r}`);
          assert.ok(Math.abs(scores[b * k + r]! - best[r]!) < 2 * bound, `user ${b} rank ${r} vs the exact ranking`);
        }
        if (kernel === "dequantize") {
          // Dequantize-then-Gemm is float arithmetic on the dequantized items: exact up to rounding.
          const back = dequantizeItem(q, Number(rows[b * k]));
          const dot = back.reduce((s, x, j) => s + x * users[b * d + j]!, 0);
          assert.ok(Math.abs(scores[b * k]! - dot) < 1e-5);
        }
      }
      await session.release();
    });
  }
});

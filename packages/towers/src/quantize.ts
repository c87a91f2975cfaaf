// Symmetric int8 item matrices: one float scale per item (row), codes in [-63, 63].
//
// Why 7 bits of an int8: onnxruntime's MatMulInteger multiplies the uint8 user vector by the
// codes with AVX2's pmaddubsw on CPUs without VNNI (AMD EPYC, older Xeons), which adds two
// products into a saturating int16: 2 · 255 · 127 overflows it and scores silently clip (our
// parity test failed on such a machine), while 2 · 255 · 63 = 32,130 fits. VNNI CPUs would not
// need it; one format for every CPU keeps a version's scores the same wherever it is served.
//
// Layout: the codes are stored TRANSPOSED, d × N (column i = item i), because that is the B
// operand onnxruntime's MatMulInteger takes for scores = user · itemsᵀ (its kernels want B as
// [K, N]); a per-run transpose of an N × d input would cost a pass over the whole matrix.
// Item i's vector is approximately codes[j·N + i] · scales[i] for j < d. 1 byte per value plus
// 4 per item, against 4 per value for float: at d = 64 about 0.27 of the float matrix.

/** How a version's serving graph holds the item matrix (serving.json's `itemMatrix`). */
export type ItemMatrixFormat = "float32" | "int8";
export const ITEM_MATRIX_FORMATS: readonly ItemMatrixFormat[] = ["float32", "int8"];

export interface QuantizedItemMatrix {
  /** d × N int8 codes (column i = item i). */
  readonly codes: Int8Array;
  /** N scales: item i ≈ codes[:, i] · scales[i]. 0 for an all-zero row. */
  readonly scales: Float32Array;
  readonly numItems: number;
  readonly dim: number;
}

/** Largest code magnitude (7 bits: see above). */
export const INT8_CODE_MAX = 63;

/** Quantizes an N × d float matrix (row i = item i) per row: scale = max |x| / INT8_CODE_MAX, code = round(x / scale). */
export function quantizeItemMatrix(matrix: Float32Array, dim: number): QuantizedItemMatrix {
  if (!Number.isInteger(dim) || dim < 1 || matrix.length % dim !== 0)
    throw new RangeError(`an item matrix of ${matrix.length} values is not N × d for d = ${dim}`);
  const n = matrix.length / dim;
  const codes = new Int8Array(n * dim);
  const scales = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = i * dim;
    let max = 0;
    for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(matrix[row + j]!));
    if (!Number.isFinite(max)) throw new RangeError(`item row ${i} has a non-finite value: it cannot be quantized`);
    if (max === 0) continue; // codes 0, scale 0: the row is exactly zero
    const scale = max / INT8_CODE_MAX;
    scales[i] = scale;
    for (let j = 0; j < dim; j++) codes[j * n + i] = Math.round(matrix[row + j]! / scale);
  }
  return { codes, scales, numItems: n, dim };
}

/** Item `row`'s dequantized vector (d floats), into `out` when given. */
export function dequantizeItem(q: QuantizedItemMatrix, row: number, out = new Float32Array(q.dim)): Float32Array {
  if (!Number.isInteger(row) || row < 0 || row >= q.numItems)
    throw new RangeError(`item row ${row} is outside 0…${q.numItems - 1}`);
  const s = q.scales[row]!;
  for (let j = 0; j < q.dim; j++) out[j] = q.codes[j * q.numItems + row]! * s;
  return out;
}

/** The rows of `a` then those of `b` (the same d), as one quantized matrix. */
export function concatQuantized(a: QuantizedItemMatrix, b: QuantizedItemMatrix): QuantizedItemMatrix {
  if (a.dim !== b.dim) throw new RangeError(`cannot join item matrices of d = ${a.dim} and d = ${b.dim}`);
  const n = a.numItems + b.numItems;
  const codes = new Int8Array(n * a.dim);
  for (let j = 0; j < a.dim; j++) {
    codes.set(a.codes.subarray(j * a.numItems, (j + 1) * a.numItems), j * n);
    codes.set(b.codes.subarray(j * b.numItems, (j + 1) * b.numItems), j * n + a.numItems);
  }
  const scales = new Float32Array(n);
  scales.set(a.scales);
  scales.set(b.scales, a.numItems);
  return { codes, scales, numItems: n, dim: a.dim };
}

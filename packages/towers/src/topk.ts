// Serving-time retrieval over an item matrix passed as an input (not an initializer), so the
// caller holds the matrix once and a hot swap needs only the incoming version's copy.
//
// Inputs : user_vector  float [B, d]   (the user tower's output)
//          item_matrix  float [N, d]   (row i = item vector of vocabulary row i)
//          k            int64 [1]      (how many to return; ≤ N)
// Outputs: scores       float [B, k]   inner products, best first
//          indices      int64 [B, k]   rows of item_matrix
// The same graph is the SCORE-COMPUTE baseline ("bare MatMul + TopK").
// With { itemMatrix: "int8" } the matrix inputs are item_codes/item_scales (item-scores.ts) and
// the kernel is either onnxruntime's integer MatMul or dequantize-then-Gemm: the int8 baselines.
import { GraphBuilder } from "./onnx-graph.js";
import { itemScores, type ItemScoresOptions } from "./item-scores.js";

export function exportTopKOnnx(dim: number, options: ItemScoresOptions = {}): Uint8Array {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  const g = new GraphBuilder("retrieval_topk");
  const user = g.input("user_vector", "float", ["B", dim]);
  const k = g.input("k", "int64", [1]);
  const all = itemScores(g, user, dim, options);
  g.node2("TopK", [all, k], ["scores", "indices"], { axis: 1, largest: 1, sorted: 1 });
  g.output("scores", "float", ["B", "K"]);
  g.output("indices", "int64", ["B", "K"]);
  return g.encode(
    { kind: "retrieval_topk", d: String(dim), item_matrix: options.itemMatrix ?? "float32" },
    "recfleet: user vectors × item matrix → TopK",
  );
}

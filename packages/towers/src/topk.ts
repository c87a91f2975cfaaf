// Serving-time retrieval over an item matrix passed as an input (not an initializer), so the
// caller holds the matrix once and a hot swap needs only the incoming version's copy.
//
// Inputs : user_vector  float [B, d]   (the user tower's output)
//          item_matrix  float [N, d]   (row i = item vector of vocabulary row i)
//          k            int64 [1]      (how many to return; ≤ N)
// Outputs: scores       float [B, k]   inner products, best first
//          indices      int64 [B, k]   rows of item_matrix
// The same graph is the SCORE-COMPUTE baseline ("bare MatMul + TopK").
import { GraphBuilder } from "./onnx-graph.js";

export function exportTopKOnnx(dim: number): Uint8Array {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  const g = new GraphBuilder("retrieval_topk");
  const user = g.input("user_vector", "float", ["B", dim]);
  const items = g.input("item_matrix", "float", ["N", dim]);
  const k = g.input("k", "int64", [1]);
  const all = g.op("Gemm", [user, items], { transB: 1 });
  g.node2("TopK", [all, k], ["scores", "indices"], { axis: 1, largest: 1, sorted: 1 });
  g.output("scores", "float", ["B", "K"]);
  g.output("indices", "int64", ["B", "K"]);
  return g.encode({ kind: "retrieval_topk", d: String(dim) }, "recfleet: user vectors × item matrix → TopK");
}

// The scores of user vectors against a version's item matrix, as graph nodes shared by the
// serving graph (export.ts) and the bare SCORE-COMPUTE baseline (topk.ts).
//
// float32: item_matrix float [N, d]            → Gemm(user, item_matrix, bias, transB)
// int8   : item_codes int8 [d, N], item_scales float [N] (quantize.ts's layout), two kernels:
//   "integer"    DynamicQuantizeLinear(user) → MatMulInteger → Cast → × (item_scales · user scale)
//                (onnxruntime's integer GEMM: reads 1 byte per value, no float matrix made)
//   "dequantize" DequantizeLinear(item_codes, item_scales, axis 1) → Gemm (a float d × N made every run)
// SCORE-COMPUTE measures both; "integer" is what the serving graph uses (docs/benchmarks.md).
import type { ItemMatrixFormat } from "./quantize.js";
import { elemTypeOf, type GraphBuilder } from "./onnx-graph.js";

export type Int8Kernel = "integer" | "dequantize";

export interface ItemScoresOptions {
  itemMatrix?: ItemMatrixFormat;
  /** Only for int8; default "integer". */
  kernel?: Int8Kernel;
}

/** Declares the item-matrix inputs and returns the [B, N] scores of `user` [B, d] (plus `bias` [1 or B, N] when given). */
export function itemScores(
  g: GraphBuilder,
  user: string,
  dim: number,
  options: ItemScoresOptions,
  bias?: string,
): string {
  const format = options.itemMatrix ?? "float32";
  if (format === "float32") {
    const items = g.input("item_matrix", "float", ["N", dim]);
    // Gemm's C adds the bias inside the GEMM (one pass over the scores fewer than a separate Add).
    return g.op("Gemm", bias ? [user, items, bias] : [user, items], { transB: 1 });
  }
  const codes = g.input("item_codes", "int8", [dim, "N"]);
  const scales = g.input("item_scales", "float", ["N"]);
  if ((options.kernel ?? "integer") === "dequantize") {
    const items = g.op("DequantizeLinear", [codes, scales], { axis: 1 }); // float [d, N]
    return g.op("Gemm", bias ? [user, items, bias] : [user, items]);
  }
  const [q, userScale, zeroPoint] = [0, 1, 2].map((i) => `user_q_${i}`) as [string, string, string];
  g.node2("DynamicQuantizeLinear", [user], [q, userScale, zeroPoint]);
  const dots = g.op("Cast", [g.op("MatMulInteger", [q, codes, zeroPoint])], { to: elemTypeOf("float") });
  const scores = g.op("Mul", [dots, g.op("Mul", [scales, userScale])]);
  return bias ? g.op("Add", [scores, bias]) : scores;
}
